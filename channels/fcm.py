"""Mobile push through an FCM HTTP v1 style API.

POST {base_url}/v1/projects/{project_id}/messages:send with a Bearer token and
{"message": {"token", "notification": {"title", "body"}, "data": {str: str}}};
the answer's "name" is the message id. A token the service no longer knows (404 or
UNREGISTERED) fails permanently, so the caller can forget that device.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from channels import config as check
from channels import transport
from channels.base import DEFAULT_CONCURRENCY, Outgoing, SendError, SendResult

DEFAULT_BASE_URL = "https://fcm.googleapis.com"
PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
MAX_TOKEN = 4096
MAX_PAYLOAD = 4096  # FCM refuses notification + data over 4 KB
# Keys FCM rejects in "data" (reserved words and prefixes).
RESERVED_KEYS = {"from", "notification", "message_type"}
RESERVED_PREFIXES = ("google", "gcm")
GONE = {"UNREGISTERED"}  # the app was uninstalled or the token expired


def data_strings(data: dict[str, Any]) -> dict[str, str]:
    """FCM data values must be strings: text stays, anything else becomes JSON."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise SendError("data keys must be non-empty text", permanent=True)
        lowered = key.lower()
        if lowered in RESERVED_KEYS or lowered.startswith(RESERVED_PREFIXES):
            raise SendError(f"data key {key!r} is reserved by FCM", permanent=True)
        out[key] = value if isinstance(value, str) else json.dumps(value, default=str)
    return out


def _error_details(response: httpx.Response) -> tuple[str, str | None]:
    """(message, FCM error code) from a google.rpc error body, as far as it goes."""
    try:
        body = response.json()
    except ValueError:
        return transport.short(response.text, 200), None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return transport.short(response.text, 200), None
    code = error.get("status") if isinstance(error.get("status"), str) else None
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and isinstance(detail.get("errorCode"), str):
            code = detail["errorCode"]  # the FCM-specific code is the precise one
    message = str(error.get("message") or "")
    return transport.short(f"{message} ({code})" if code else message, 300), code


class FcmPush:
    name = "fcm"
    concurrency = DEFAULT_CONCURRENCY

    def __init__(self, base_url: str, project_id: str, access_token: str) -> None:
        self.url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self.headers = {"Authorization": f"Bearer {access_token}"}

    def payload(self, message: Outgoing) -> dict[str, Any]:
        token = message.to
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            raise SendError("push needs a device token to send to", permanent=True)
        if not (message.title or message.body):
            raise SendError("the push has neither title nor body", permanent=True)
        data = data_strings(message.data)
        if message.url:
            data.setdefault("url", message.url)
        body: dict[str, Any] = {
            "token": token,
            "notification": {"title": message.title, "body": message.body},
        }
        if data:
            body["data"] = data
        content = {key: value for key, value in body.items() if key != "token"}
        if len(json.dumps(content).encode()) > MAX_PAYLOAD:
            raise SendError("the push is larger than FCM's 4 KB limit", permanent=True)
        return {"message": body}

    async def send(self, message: Outgoing) -> SendResult:
        payload = self.payload(message)
        try:
            response = await transport.client().post(self.url, json=payload, headers=self.headers)
        except httpx.HTTPError as error:
            raise transport.transport_error(self.name, error) from error
        if not response.is_success:
            detail, code = _error_details(response)
            error = transport.error_for(response, self.name, detail, code)
            if code in GONE or response.status_code == 404:
                error.permanent = True  # the token is gone: retrying cannot help
            raise error
        try:
            name = response.json().get("name")
        except (ValueError, AttributeError):
            name = None
        if not isinstance(name, str) or not name:
            raise SendError("fcm accepted the message but returned no name", permanent=True)
        return SendResult(self.name, name)


def problems(config: dict[str, Any]) -> list[str]:
    found: list[str] = []
    check.only(config, {"base_url", "project_id", "access_token"}, found)
    check.url(config, "base_url", found, required=False)
    project = check.text(config, "project_id", found, max_length=63)
    if project and not PROJECT_ID.match(project):
        found.append("project_id must be lowercase letters, digits and dashes")
    check.text(config, "access_token", found, max_length=4096)
    return found


def from_config(config: dict[str, Any]) -> FcmPush:
    check.fail("fcm", problems(config))
    return FcmPush(
        config.get("base_url") or DEFAULT_BASE_URL, config["project_id"], config["access_token"]
    )
