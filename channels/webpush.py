"""Web push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291).

pywebpush encrypts the payload for the browser's subscription keys and py_vapid signs the
VAPID token; the POST itself goes through the shared async httpx client (pywebpush's own
sender is blocking `requests`, which follows redirects and would need a thread per send).
The subscription's endpoint comes from a browser, so it gets the same URL rules as any
provider URL, and redirects are never followed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid, VapidException
from pywebpush import WebPusher, WebPushException

from channels import config as check
from channels import transport
from channels.base import DEFAULT_CONCURRENCY, Outgoing, SendError, SendResult

TTL_SECONDS = 24 * 3600  # how long the push service keeps it for an offline browser
TOKEN_LIFETIME = 12 * 3600
# One aes128gcm record of 4096 bytes holds 4096 - 86 (header) - 16 (tag) - 1 (padding).
MAX_PLAINTEXT = 3993
SUBJECT = re.compile(r"^(mailto:[^@\s]+@[^@\s]+\.[^@\s]+|https://[^\s/]+\.[^\s]+)$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_key_of(vapid: Vapid) -> str:
    """The application server key browsers subscribe with (uncompressed P-256 point)."""
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64(raw)


def generate_vapid_keys() -> dict[str, str]:
    """A new VAPID key pair for setup: the private key is a secret, the public key goes to
    the browser's pushManager.subscribe({applicationServerKey})."""
    vapid = Vapid()
    vapid.generate_keys()
    private = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    return {"vapid_private_key": _b64(private), "vapid_public_key": public_key_of(vapid)}


def _key_problem(p256dh: str, auth: str) -> str | None:
    """Checked here because pywebpush trips over some malformed keys (IndexError)."""
    try:
        point = base64.urlsafe_b64decode(p256dh + "=" * (-len(p256dh) % 4))
        secret = base64.urlsafe_b64decode(auth + "=" * (-len(auth) % 4))
    except (ValueError, binascii.Error):
        return "not base64url"
    if len(point) != 65 or point[0] != 4:
        return "p256dh is not an uncompressed P-256 point"
    if len(secret) != 16:
        return "auth is not 16 bytes"
    return None


def _origin(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


class VapidPush:
    name = "vapid"
    concurrency = DEFAULT_CONCURRENCY

    def __init__(self, private_key: str, subject: str) -> None:
        self.vapid = Vapid.from_string(private_key)
        self.subject = subject

    def payload(self, message: Outgoing) -> bytes:
        if not (message.title or message.body):
            raise SendError("the push has neither title nor body", permanent=True)
        content: dict[str, Any] = {"title": message.title, "body": message.body}
        if message.url:
            content["url"] = message.url
        if message.data:
            content["data"] = message.data
        plaintext = json.dumps(content, default=str, separators=(",", ":")).encode()
        if len(plaintext) > MAX_PLAINTEXT:
            raise SendError(
                f"the push is {len(plaintext)} bytes (at most {MAX_PLAINTEXT})", permanent=True
            )
        return plaintext

    def request(self, message: Outgoing) -> tuple[str, bytes, dict[str, str]]:
        """(endpoint, encrypted body, headers) for one subscription."""
        subscription = message.to
        if not isinstance(subscription, dict):
            raise SendError("web push needs a subscription to send to", permanent=True)
        endpoint = subscription.get("endpoint")
        if problem := transport.url_problem(endpoint, "the subscription endpoint"):
            raise SendError(problem, permanent=True)
        keys = subscription.get("keys")
        if not isinstance(keys, dict) or not all(
            isinstance(keys.get(k), str) and keys.get(k) for k in ("p256dh", "auth")
        ):
            raise SendError("the subscription has no p256dh/auth keys", permanent=True)
        if problem := _key_problem(keys["p256dh"], keys["auth"]):
            raise SendError(f"the subscription keys are invalid: {problem}", permanent=True)
        plaintext = self.payload(message)
        try:
            pusher = WebPusher({"endpoint": endpoint, "keys": dict(keys)})
            encrypted = pusher.encode(plaintext, content_encoding="aes128gcm")["body"]
        except (WebPushException, ValueError, TypeError, IndexError, binascii.Error) as error:
            raise SendError(
                f"the subscription keys are invalid: {error}", permanent=True
            ) from error
        claims = {
            "sub": self.subject,
            "aud": _origin(endpoint),
            "exp": int(time.time()) + TOKEN_LIFETIME,
        }
        try:
            headers = dict(self.vapid.sign(claims))
        except VapidException as error:
            raise SendError(f"VAPID signing failed: {error}", permanent=True) from error
        headers.update(
            {
                "TTL": str(TTL_SECONDS),
                "Urgency": "normal",
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
            }
        )
        return endpoint, encrypted, headers

    async def send(self, message: Outgoing) -> SendResult:
        endpoint, body, headers = self.request(message)
        try:
            response = await transport.client().post(endpoint, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise transport.transport_error(self.name, error) from error
        if not response.is_success:
            detail = transport.short(response.text, 200)
            if response.status_code in (404, 410):
                raise SendError(
                    f"the push subscription has expired ({response.status_code})",
                    permanent=True,
                    code="GONE",
                )
            raise transport.error_for(response, self.name, detail)
        location = response.headers.get("location", "")
        return SendResult(self.name, location[:500] or f"webpush-{uuid.uuid4()}")


def problems(config: dict[str, Any]) -> list[str]:
    found: list[str] = []
    check.only(config, {"vapid_private_key", "vapid_public_key", "subject"}, found)
    private = check.text(config, "vapid_private_key", found, max_length=1024)
    public = check.text(config, "vapid_public_key", found, max_length=200)
    subject = check.text(config, "subject", found, max_length=320)
    if subject and not SUBJECT.match(subject):
        found.append("subject must be a mailto: address or an https:// URL")
    if private:
        try:
            derived = public_key_of(Vapid.from_string(private))
        except (ValueError, TypeError, binascii.Error, VapidException):
            found.append("vapid_private_key is not a VAPID private key (use generate_vapid_keys)")
        else:
            if public and public.rstrip("=") != derived:
                found.append("vapid_public_key does not belong to vapid_private_key")
    return found


def from_config(config: dict[str, Any]) -> VapidPush:
    check.fail("vapid", problems(config))
    return VapidPush(config["vapid_private_key"], config["subject"])
