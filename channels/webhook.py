"""Webhook: POST JSON to a partner's URL, signed so the partner can trust and date it.

Headers: X-Reach-Timestamp (unix seconds) and X-Reach-Signature:
"sha256=" + hex HMAC-SHA256(secret, f"{timestamp}.{body}"). Partners check both with
`verify` (the timestamp bounds replays). Idempotency-Key lets them drop our retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from typing import Any

import httpx

from channels import config as check
from channels import transport
from channels.base import DEFAULT_CONCURRENCY, Outgoing, SendError, SendResult

TIMESTAMP_HEADER = "X-Reach-Timestamp"
SIGNATURE_HEADER = "X-Reach-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE = 300  # seconds a signed request stays acceptable
MAX_BODY = 256_000
MIN_SECRET = 16
HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
OWN_HEADERS = {
    "content-type",
    "content-length",
    "host",
    TIMESTAMP_HEADER.lower(),
    SIGNATURE_HEADER.lower(),
    IDEMPOTENCY_HEADER.lower(),
}


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + raw, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(
    secret: str,
    timestamp: str | int | None,
    body: bytes | str,
    signature: str | None,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether `signature` signs `body` at `timestamp` with `secret`, and the timestamp is
    within `tolerance` seconds of now (either side: clocks differ)."""
    if not secret or not signature or timestamp is None:
        return False
    stamp = str(timestamp)
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, stamp, body).encode(), signature.encode())


def default_payload(message: Outgoing) -> dict[str, Any]:
    return {
        "id": message.idempotency_key or None,
        "channel": message.channel,
        "to": message.to,
        "title": message.title,
        "text": message.text or message.body,
        "url": message.url,
        "data": message.data,
    }


class WebhookPost:
    name = "webhook"
    concurrency = DEFAULT_CONCURRENCY

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret

    def body(self, message: Outgoing) -> bytes:
        """The rendered body when there is one (it must be JSON), else a default payload."""
        if message.body.strip():
            try:
                json.loads(message.body)
            except ValueError as error:
                raise SendError(f"the webhook body is not JSON: {error}", permanent=True) from error
            raw = message.body.encode()
        else:
            raw = json.dumps(default_payload(message), default=str).encode()
        if len(raw) > MAX_BODY:
            raise SendError(f"the webhook body is over {MAX_BODY} bytes", permanent=True)
        return raw

    def headers(self, message: Outgoing, body: bytes, timestamp: int) -> dict[str, str]:
        headers = {}
        for name, value in message.headers.items():
            if not HEADER_NAME.match(name) or name.lower() in OWN_HEADERS:
                raise SendError(f"header {name!r} cannot be set", permanent=True)
            if (
                not isinstance(value, str)
                or not value.isascii()
                or any(c in value for c in "\r\n\0")
            ):
                raise SendError(f"header {name!r} has an invalid value", permanent=True)
            headers[name] = value
        headers.update(
            {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(self.secret, timestamp, body),
            }
        )
        if message.idempotency_key:
            headers[IDEMPOTENCY_HEADER] = message.idempotency_key
        return headers

    async def send(self, message: Outgoing) -> SendResult:
        body = self.body(message)
        headers = self.headers(message, body, int(time.time()))
        try:
            response = await transport.client().post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            # Partners deduplicate on our Idempotency-Key header: retrying is safe.
            raise transport.transport_error(self.name, error, idempotent=True) from error
        if not response.is_success:
            raise transport.error_for(response, self.name, transport.short(response.text, 200))
        return SendResult(self.name, f"webhook-{uuid.uuid4()}")


def problems(config: dict[str, Any]) -> list[str]:
    found: list[str] = []
    check.only(config, {"url", "secret"}, found)
    check.url(config, "url", found)
    secret = check.text(config, "secret", found, max_length=512)
    if secret and len(secret) < MIN_SECRET:
        found.append(f"secret must be at least {MIN_SECRET} characters")
    return found


def from_config(config: dict[str, Any]) -> WebhookPost:
    check.fail("webhook", problems(config))
    return WebhookPost(config["url"], config["secret"])
