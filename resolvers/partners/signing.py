"""Standard Webhooks signing (https://www.standardwebhooks.com/).

signature = base64(HMAC-SHA256(secret bytes, f"{id}.{timestamp}.{body}")), sent as
`webhook-signature: v1,<b64>`; secrets are `whsec_<base64 of the bytes>`. Several
space-separated signatures are allowed: during a rotation's grace we sign with both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
SECRET_BYTES = 24


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_problem(secret: str) -> str | None:
    """Why a partner-chosen secret cannot be used, if so."""
    if not secret.startswith(PREFIX):
        return "secret must look like whsec_<base64>"
    try:
        raw = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except ValueError:
        return "secret must look like whsec_<base64>"
    if not 24 <= len(raw) <= 64:
        return "secret must hold 24 to 64 bytes"
    return None


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(keys: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(k, message_id, timestamp, body) for k in keys),
    }
