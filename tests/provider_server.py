"""A local stand-in for the HTTP providers, served by uvicorn on 127.0.0.1 in the test's loop.

It imitates Twilio's Messages endpoint (and sends Twilio-style signed status callbacks),
FCM's HTTP v1 send endpoint, web push endpoints (it decrypts the aes128gcm payload with the
subscription's private key and checks the VAPID token, as a browser's push service would)
and webhook receivers (which check the X-Reach-Signature). It records every request, parsed,
and can be scripted to fail the next requests with a chosen status.

Signatures are checked here with code written apart from channels/, so a bug in the
providers' signing is caught by the receiving side instead of agreeing with itself.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import http_ece
import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TWILIO_API = "2010-04-01"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def twilio_signature(auth_token: str, url: str, form: dict[str, str]) -> str:
    """X-Twilio-Signature as Twilio's docs describe it (URL + name/value pairs by name)."""
    data = url + "".join(f"{name}{form[name]}" for name in sorted(form))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), "sha1").digest()).decode()


async def post_status(url: str, form: dict[str, str], auth_token: str) -> httpx.Response:
    """POST a Twilio-style status callback (or inbound message) form, signed, to `url`."""
    headers = {"X-Twilio-Signature": twilio_signature(auth_token, url, form)}
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, data=form, headers=headers)


def twilio_error(status: int, code: int | None = None, message: str | None = None) -> dict:
    """A Twilio REST error body."""
    defaults = {
        400: (21211, "The 'To' number +15005550001 is not a valid phone number."),
        401: (20003, "Authenticate"),
        404: (20404, "The requested resource was not found"),
        429: (20429, "Too Many Requests"),
    }
    default_code, default_message = defaults.get(status, (20500, "Internal Server Error"))
    code = code or default_code
    return {
        "code": code,
        "message": message or default_message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


FCM_STATUS = {
    400: ("INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    401: ("UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"),
    403: ("PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
    404: ("NOT_FOUND", "UNREGISTERED"),
    429: ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
    500: ("INTERNAL", "INTERNAL"),
    503: ("UNAVAILABLE", "UNAVAILABLE"),
}


def fcm_error(status: int, error_code: str | None = None, message: str = "") -> dict:
    """A google.rpc error body with the FCM error code in its details."""
    rpc_status, default_code = FCM_STATUS.get(status, ("UNKNOWN", "UNSPECIFIED_ERROR"))
    return {
        "error": {
            "code": status,
            "message": message or f"FCM error {error_code or default_code}",
            "status": rpc_status,
            "details": [
                {
                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                    "errorCode": error_code or default_code,
                }
            ],
        }
    }


@dataclass
class Recorded:
    kind: str  # twilio | fcm | webpush | webhook | status | redirect
    method: str
    url: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    answered: int = 0
    form: dict[str, str] | None = None
    json: Any = None
    basic_auth: tuple[str, str] | None = None
    plaintext: bytes | None = None  # web push payload, decrypted
    vapid_claims: dict[str, Any] | None = None
    signature_ok: bool | None = None


@dataclass
class Failure:
    status: int
    retry_after: str | None
    body: Any
    kind: str | None
    path: str | None = None  # only requests to this path (one partner endpoint's)


@dataclass
class _Subscription:
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    application_server_key: str | None
    expired: bool = False


@dataclass
class ProviderServer:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    twilio_accounts: dict[str, str] = field(default_factory=dict)  # account sid -> token
    # Statuses posted to a message's StatusCallback after it is accepted, in order.
    twilio_callbacks: tuple[str, ...] = ()
    callbacks: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    fcm_access_tokens: set[str] = field(default_factory=set)
    fcm_unregistered: set[str] = field(default_factory=set)  # device tokens that are gone
    webhook_secrets: dict[str, str] = field(default_factory=dict)  # receiver -> secret
    status_tokens: dict[str, str] = field(default_factory=dict)  # /status/{name} -> token
    # /partner/{name} -> whsec_ secrets it accepts (Standard Webhooks receivers)
    partner_secrets: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._failures: deque[Failure] = deque()
        self._subscriptions: dict[str, _Subscription] = {}
        self._tasks: set[asyncio.Task] = set()
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task | None = None

    # --- scripting -------------------------------------------------------------------

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self._failures.clear()
        self._subscriptions.clear()
        self.requests.clear()
        self.callbacks.clear()
        self.twilio_accounts.clear()
        self.twilio_callbacks = ()
        self.fcm_access_tokens.clear()
        self.fcm_unregistered.clear()
        self.webhook_secrets.clear()
        self.status_tokens.clear()
        self.partner_secrets.clear()

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        *,
        retry_after: str | float | None = None,
        body: Any = None,
        kind: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next `count` requests (of `kind`, or any; to `path`, or any) get `status`;
        `body` (JSON-able or text) defaults to that provider's own error shape."""
        text = None if retry_after is None else str(retry_after)
        self._failures.extend(Failure(status, text, body, kind, path) for _ in range(count))

    def of(self, kind: str) -> list[Recorded]:
        return [r for r in self.requests if r.kind == kind]

    async def settle(self) -> None:
        """Wait for the status callbacks in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- configs for the providers under test ------------------------------------------

    def twilio_account(self) -> tuple[str, str]:
        sid, token = "AC" + uuid.uuid4().hex, secrets.token_hex(16)
        self.twilio_accounts[sid] = token
        return sid, token

    def twilio_config(self, sender: str = "+15005550006") -> dict[str, str]:
        sid, token = self.twilio_account()
        return {
            "provider": "twilio",
            "base_url": self.url,
            "account_sid": sid,
            "auth_token": token,
            "from": sender,
        }

    def fcm_config(self, project_id: str = "reach-test") -> dict[str, str]:
        token = "ya29." + secrets.token_urlsafe(24)
        self.fcm_access_tokens.add(token)
        return {
            "provider": "fcm",
            "base_url": self.url,
            "project_id": project_id,
            "access_token": token,
        }

    def webhook_url(self, name: str = "default") -> str:
        return f"{self.url}/webhook/{name}"

    def webhook_config(self, name: str = "default") -> dict[str, str]:
        secret = secrets.token_urlsafe(24)
        self.webhook_secrets[name] = secret
        return {"provider": "webhook", "url": self.webhook_url(name), "secret": secret}

    def status_url(self, name: str = "default") -> str:
        return f"{self.url}/status/{name}"

    def new_subscription(self, application_server_key: str | None = None) -> dict[str, Any]:
        """A browser's PushSubscription.toJSON(): an endpoint here and fresh keys. With
        `application_server_key`, pushes signed by another VAPID key are refused (403)."""
        private_key = ec.generate_private_key(ec.SECP256R1())
        public = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        auth = os.urandom(16)
        name = uuid.uuid4().hex
        self._subscriptions[name] = _Subscription(private_key, auth, application_server_key)
        return {
            "endpoint": f"{self.url}/push/{name}",
            "keys": {"p256dh": _b64url(public), "auth": _b64url(auth)},
        }

    def expire(self, subscription: dict[str, Any]) -> None:
        """The browser unsubscribed: the endpoint answers 410 Gone from now on."""
        self._subscriptions[subscription["endpoint"].rsplit("/", 1)[1]].expired = True

    # --- serving -----------------------------------------------------------------------

    async def start(self) -> None:
        app = Starlette(
            routes=[
                Route(
                    f"/{TWILIO_API}/Accounts/{{sid}}/Messages.json", self._twilio, methods=["POST"]
                ),
                Route("/v1/projects/{project}/messages:send", self._fcm, methods=["POST"]),
                Route("/push/{name}", self._push, methods=["POST"]),
                Route("/webhook/{name}", self._webhook, methods=["POST"]),
                Route("/partner/{name}", self._partner, methods=["POST"]),
                Route("/status/{name}", self._status, methods=["POST"]),
                Route("/redirect/{name}", self._redirect, methods=["POST", "GET"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._serving = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
            await asyncio.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.reset()
        if self._server and self._serving:
            self._server.should_exit = True
            await self._serving

    # --- handlers ----------------------------------------------------------------------

    async def _record(self, request: Request, kind: str) -> Recorded:
        body = await request.body()
        recorded = Recorded(
            kind=kind,
            method=request.method,
            url=str(request.url),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        content_type = recorded.headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            recorded.form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        elif content_type.startswith("application/json"):
            try:
                recorded.json = json.loads(body)
            except ValueError:
                recorded.json = None
        authorization = recorded.headers.get("authorization", "")
        if authorization.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
                recorded.basic_auth = (user, password)
            except (ValueError, binascii.Error):
                pass
        self.requests.append(recorded)
        return recorded

    def _scripted(self, recorded: Recorded) -> Response | None:
        failure = next(
            (
                f
                for f in self._failures
                if f.kind in (None, recorded.kind)
                and (f.path is None or httpx.URL(recorded.url).path == f.path)
            ),
            None,
        )
        if failure is None:
            return None
        self._failures.remove(failure)
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        body = failure.body
        if body is None:
            body = {
                "twilio": lambda: twilio_error(failure.status),
                "fcm": lambda: fcm_error(failure.status),
            }.get(recorded.kind, lambda: f"scripted failure {failure.status}")()
        if isinstance(body, str):
            return self._answer(recorded, Response(body, failure.status, headers))
        return self._answer(recorded, JSONResponse(body, failure.status, headers))

    @staticmethod
    def _answer(recorded: Recorded, response: Response) -> Response:
        recorded.answered = response.status_code
        return response

    async def _twilio(self, request: Request) -> Response:
        recorded = await self._record(request, "twilio")
        if scripted := self._scripted(recorded):
            return scripted
        sid = request.path_params["sid"]
        token = self.twilio_accounts.get(sid)
        if token is None or recorded.basic_auth != (sid, token):
            return self._answer(recorded, JSONResponse(twilio_error(401), 401))
        form = recorded.form or {}
        problem = None
        if not form.get("To"):
            problem = (21604, "A 'To' phone number is required.")
        elif not form.get("From") and not form.get("MessagingServiceSid"):
            problem = (21603, "A 'From' phone number is required.")
        elif not form.get("Body"):
            problem = (21602, "Message body is required.")
        if problem:
            return self._answer(recorded, JSONResponse(twilio_error(400, *problem), 400))
        message_sid = "SM" + uuid.uuid4().hex
        answer = {
            "sid": message_sid,
            "account_sid": sid,
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "to": form["To"],
            "from": form.get("From"),
            "body": form["Body"],
            "api_version": TWILIO_API,
            "error_code": None,
            "error_message": None,
        }
        if form.get("StatusCallback") and self.twilio_callbacks:
            task = asyncio.create_task(self._call_back(form, sid, token, message_sid))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return self._answer(recorded, JSONResponse(answer, 201))

    async def _call_back(self, form: dict[str, str], sid: str, token: str, message: str) -> None:
        for status in self.twilio_callbacks:
            callback = {
                "AccountSid": sid,
                "ApiVersion": TWILIO_API,
                "From": form.get("From", ""),
                "To": form["To"],
                "MessageSid": message,
                "SmsSid": message,
                "MessageStatus": status,
                "SmsStatus": status,
            }
            if status in ("failed", "undelivered"):
                callback["ErrorCode"] = "30003"
            try:
                response = await post_status(form["StatusCallback"], callback, token)
                answered = response.status_code
            except httpx.HTTPError:
                answered = 0
            self.callbacks.append((form["StatusCallback"], callback, answered))

    async def _fcm(self, request: Request) -> Response:
        recorded = await self._record(request, "fcm")
        if scripted := self._scripted(recorded):
            return scripted
        bearer = recorded.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.fcm_access_tokens:
            return self._answer(recorded, JSONResponse(fcm_error(401), 401))
        message = recorded.json.get("message") if isinstance(recorded.json, dict) else None
        token = message.get("token") if isinstance(message, dict) else None
        data = message.get("data", {}) if isinstance(message, dict) else None
        if not isinstance(token, str) or not token:
            return self._answer(recorded, JSONResponse(fcm_error(400), 400))
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            error = fcm_error(400, message="data values must be strings")
            return self._answer(recorded, JSONResponse(error, 400))
        if token in self.fcm_unregistered:
            return self._answer(recorded, JSONResponse(fcm_error(404), 404))
        name = f"projects/{request.path_params['project']}/messages/0:{uuid.uuid4().hex}"
        return self._answer(recorded, JSONResponse({"name": name}))

    async def _push(self, request: Request) -> Response:
        recorded = await self._record(request, "webpush")
        if scripted := self._scripted(recorded):
            return scripted
        subscription = self._subscriptions.get(request.path_params["name"])
        if subscription is None or subscription.expired:
            return self._answer(recorded, Response("push subscription has expired", 410))
        headers = recorded.headers
        if headers.get("content-encoding") != "aes128gcm" or "ttl" not in headers:
            return self._answer(recorded, Response("aes128gcm and TTL are required", 400))
        claims, key = self._vapid(headers.get("authorization", ""))
        if claims is None or claims.get("aud") != self.url or claims.get("exp", 0) < time.time():
            return self._answer(recorded, Response("invalid VAPID token", 401))
        recorded.vapid_claims = claims
        if subscription.application_server_key not in (None, key):
            return self._answer(recorded, Response("VAPID key does not match", 403))
        try:
            recorded.plaintext = http_ece.decrypt(
                recorded.body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth,
                version="aes128gcm",
            )
        except Exception:
            return self._answer(recorded, Response("cannot decrypt", 400))
        location = f"{self.url}/messages/{uuid.uuid4().hex}"
        return self._answer(recorded, Response(status_code=201, headers={"Location": location}))

    @staticmethod
    def _vapid(authorization: str) -> tuple[dict[str, Any] | None, str | None]:
        """(claims, public key) of a valid `vapid t=<jwt>,k=<key>` header, else (None, None)."""
        try:
            if not Vapid02.verify(authorization):
                return None, None
            parts = dict(p.split("=", 1) for p in authorization.split(" ", 1)[1].split(","))
            claims = json.loads(_unb64url(parts["t"].split(".")[1]))
        except Exception:
            return None, None
        return claims, parts["k"]

    async def _webhook(self, request: Request) -> Response:
        recorded = await self._record(request, "webhook")
        if scripted := self._scripted(recorded):
            return scripted
        secret = self.webhook_secrets.get(request.path_params["name"])
        if secret is not None:
            stamp = recorded.headers.get("x-reach-timestamp", "")
            mac = hmac.new(secret.encode(), stamp.encode() + b"." + recorded.body, hashlib.sha256)
            provided = recorded.headers.get("x-reach-signature", "")
            recorded.signature_ok = hmac.compare_digest(f"sha256={mac.hexdigest()}", provided)
            if not recorded.signature_ok:
                return self._answer(recorded, JSONResponse({"error": "bad signature"}, 401))
        return self._answer(recorded, JSONResponse({"ok": True}))

    def partner_url(self, name: str = "default") -> str:
        return f"{self.url}/partner/{name}"

    async def _partner(self, request: Request) -> Response:
        """A Standard Webhooks receiver: any v1 signature by one of its secrets will do."""
        recorded = await self._record(request, "partner")
        if scripted := self._scripted(recorded):
            return scripted
        secrets_ = self.partner_secrets.get(request.path_params["name"], [])
        signed = (
            f"{recorded.headers.get('webhook-id', '')}."
            f"{recorded.headers.get('webhook-timestamp', '')}.".encode()
            + recorded.body
        )
        wanted = {
            base64.b64encode(
                hmac.new(base64.b64decode(s.split("_", 1)[1]), signed, hashlib.sha256).digest()
            ).decode()
            for s in secrets_
        }
        given = {
            part.split(",", 1)[1]
            for part in recorded.headers.get("webhook-signature", "").split()
            if part.startswith("v1,")
        }
        recorded.signature_ok = bool(wanted & given)
        if not recorded.signature_ok:
            return self._answer(recorded, JSONResponse({"error": "bad signature"}, 401))
        return self._answer(recorded, JSONResponse({"ok": True}))

    async def _status(self, request: Request) -> Response:
        """A receiver of Twilio callbacks, as our app would be: it checks the signature."""
        recorded = await self._record(request, "status")
        token = self.status_tokens.get(request.path_params["name"])
        if token is not None:
            expected = twilio_signature(token, recorded.url, recorded.form or {})
            provided = recorded.headers.get("x-twilio-signature", "")
            recorded.signature_ok = hmac.compare_digest(expected, provided)
            if not recorded.signature_ok:
                return self._answer(recorded, Response("bad signature", 403))
        return self._answer(recorded, Response("<Response/>", 200))

    async def _redirect(self, request: Request) -> Response:
        recorded = await self._record(request, "redirect")
        target = self.webhook_url(request.path_params["name"])
        return self._answer(recorded, Response(status_code=307, headers={"Location": target}))
