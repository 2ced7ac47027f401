"""Signed URLs that come back to us: open pixel, click redirect, unsubscribe, provider
status callbacks. The token names the workspace and message; its signature means a
caller cannot forge engagement for other messages or turn the click URL into an open
redirect (the target is inside the signed token).
"""

from __future__ import annotations

from dataclasses import dataclass

from beanie import PydanticObjectId
from bson.errors import InvalidId
from itsdangerous import BadSignature, URLSafeSerializer

from engine.errors import InvalidInput
from resolvers.core import runtime


@dataclass(frozen=True)
class LinkTarget:
    workspace_id: PydanticObjectId
    message_id: PydanticObjectId
    url: str = ""


def _serializer(kind: str) -> URLSafeSerializer:
    return URLSafeSerializer(runtime.get().session_secret, salt=f"reach-link-{kind}")


def token(
    kind: str, workspace_id: PydanticObjectId, message_id: PydanticObjectId, url: str = ""
) -> str:
    payload = [str(workspace_id), str(message_id)] + ([url] if url else [])
    return _serializer(kind).dumps(payload)


def url(
    kind: str, workspace_id: PydanticObjectId, message_id: PydanticObjectId, target: str = ""
) -> str:
    base = runtime.get().public_url.rstrip("/")
    path = {
        "open": "/t/o/{}.gif",
        "click": "/t/c/{}",
        "unsubscribe": "/t/u/{}",
        "status": "/v1/providers/status/{}",
        "inbound": "/v1/providers/inbound/{}",
    }[kind]
    return base + path.format(token(kind, workspace_id, message_id, target))


def parse(kind: str, value: str) -> LinkTarget:
    try:
        payload = _serializer(kind).loads(value)
        workspace_id, message_id = PydanticObjectId(payload[0]), PydanticObjectId(payload[1])
        target = payload[2] if len(payload) > 2 else ""
    except (BadSignature, InvalidId, IndexError, TypeError, ValueError) as error:
        raise InvalidInput("This link is not valid.", code="BAD_LINK") from error
    return LinkTarget(workspace_id, message_id, target)
