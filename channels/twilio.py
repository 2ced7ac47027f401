"""SMS, WhatsApp and RCS through a Twilio-style Messages API, its status callbacks and replies.

Sending: POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json (form fields To, From or
MessagingServiceSid, Body, StatusCallback) with basic auth sid:token. Callbacks come back
as forms signed with X-Twilio-Signature: HMAC-SHA1 keyed with the auth token over the full
URL followed by every POST parameter's name and value in name order, base64 encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from channels import config as check
from channels import transport
from channels.base import DEFAULT_CONCURRENCY, Outgoing, SendError, SendResult

API_VERSION = "2010-04-01"
DEFAULT_BASE_URL = "https://api.twilio.com"
PREFIXES = {"sms": "", "whatsapp": "whatsapp:", "rcs": "rcs:"}
MAX_BODY = 1600  # Twilio's limit for one message body, in characters
MAX_INBOUND_BODY = 5000
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ACCOUNT_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# An alphanumeric sender id (SMS) or an RCS agent id.
SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 _.-]{1,64}$")
MESSAGE_SID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")

# Twilio MessageStatus -> our delivery status. Queued/sending mean the provider has it,
# which is what "sent" means for us; undelivered is the carrier refusing it, a bounce.
STATUSES = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "bounced",
    "failed": "failed",
    "canceled": "failed",
}
INBOUND_STATUSES = {"receiving", "received"}


@dataclass(frozen=True)
class StatusUpdate:
    provider_message_id: str
    status: str  # sent | delivered | failed | bounced | read
    error: str | None = None


@dataclass(frozen=True)
class Inbound:
    from_: str  # E.164, without the channel prefix
    to: str  # our number or sender id, without the channel prefix
    body: str
    channel: str  # sms | whatsapp | rcs
    provider_message_id: str = ""


def split_prefix(address: str) -> tuple[str, str]:
    """("whatsapp", "+1555...") for "whatsapp:+1555..."; plain addresses are SMS."""
    for channel, prefix in PREFIXES.items():
        if prefix and address.startswith(prefix):
            return channel, address[len(prefix) :]
    return "sms", address


class TwilioMessages:
    name = "twilio"
    concurrency = DEFAULT_CONCURRENCY

    def __init__(self, base_url: str, account_sid: str, auth_token: str, sender: str) -> None:
        self.url = f"{base_url.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        self.auth = (account_sid, auth_token)
        self.sender = sender

    def form(self, message: Outgoing) -> dict[str, str]:
        prefix = PREFIXES.get(message.channel)
        if prefix is None:
            raise SendError(f"twilio cannot send {message.channel}", permanent=True)
        if not isinstance(message.to, str):
            raise SendError("twilio needs a phone number to send to", permanent=True)
        _, to = split_prefix(message.to)
        if not E164.match(to):
            raise SendError(f"{to!r} is not an E.164 phone number", permanent=True)
        body = message.text or message.body
        if not body.strip():
            raise SendError("the message is empty", permanent=True)
        if len(body) > MAX_BODY:
            raise SendError(
                f"the message has {len(body)} characters (at most {MAX_BODY})", permanent=True
            )
        form = {"To": prefix + to, "Body": body}
        sender = message.sender or self.sender
        if MESSAGING_SERVICE_SID.match(sender):
            form["MessagingServiceSid"] = sender
        else:
            form["From"] = prefix + split_prefix(sender)[1]
        if message.status_callback:
            form["StatusCallback"] = message.status_callback
        return form

    async def send(self, message: Outgoing) -> SendResult:
        form = self.form(message)
        try:
            response = await transport.client().post(self.url, data=form, auth=self.auth)
        except httpx.HTTPError as error:
            raise transport.transport_error(self.name, error) from error
        try:
            answer = response.json()
        except ValueError:
            answer = None
        answer = answer if isinstance(answer, dict) else {}
        if not response.is_success:
            code = answer.get("code")
            detail = str(answer.get("message") or transport.short(response.text, 200))
            if code is not None:
                detail = f"{detail} (code {code})"
            raise transport.error_for(
                response, self.name, detail, str(code) if code is not None else None
            )
        sid = answer.get("sid")
        if not isinstance(sid, str) or not sid:
            # It was accepted (2xx): sending again could deliver twice, so do not retry.
            raise SendError("twilio accepted the message but returned no sid", permanent=True)
        return SendResult(self.name, sid)


def _value(form: Mapping[str, Any], *names: str, limit: int = 200) -> str | None:
    """The first present field of `names` as text; hostile shapes are refused clearly."""
    for name in names:
        value = form.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a plain form field")
        if len(value) > limit:
            raise ValueError(f"{name} is longer than {limit} characters")
        return value
    return None


def _sid(form: Mapping[str, Any]) -> str:
    sid = _value(form, "MessageSid", "SmsSid")
    if not sid:
        raise ValueError("MessageSid is missing")
    if not MESSAGE_SID.match(sid):
        raise ValueError("MessageSid is not a message id")
    return sid


def parse_status(form: Mapping[str, Any]) -> StatusUpdate:
    """A status callback's form -> StatusUpdate; ValueError says what is wrong with it."""
    sid = _sid(form)
    raw = _value(form, "MessageStatus", "SmsStatus")
    if not raw:
        raise ValueError("MessageStatus is missing")
    status = raw.strip().lower()
    if status in INBOUND_STATUSES:
        raise ValueError(f"MessageStatus {raw!r} is an inbound message, not a delivery status")
    if status not in STATUSES:
        raise ValueError(f"MessageStatus {raw[:40]!r} is not a known status")
    error = None
    if status in ("failed", "undelivered", "canceled"):
        code = _value(form, "ErrorCode", limit=20)
        text = _value(form, "ErrorMessage", limit=500)
        parts = [f"error {code}" if code else "", text or ""]
        error = ": ".join(p for p in parts if p) or status
    return StatusUpdate(sid, STATUSES[status], error)


def parse_inbound(form: Mapping[str, Any]) -> Inbound:
    """An incoming reply's form -> Inbound (channel read from the whatsapp:/rcs: prefix)."""
    sender = _value(form, "From")
    if not sender:
        raise ValueError("From is missing")
    recipient = _value(form, "To")
    if not recipient:
        raise ValueError("To is missing")
    channel, from_ = split_prefix(sender.strip())
    if not E164.match(from_):
        raise ValueError("From is not an E.164 phone number")
    to_channel, to = split_prefix(recipient.strip())
    if to_channel != channel:
        raise ValueError("From and To are on different channels")
    body = _value(form, "Body", limit=MAX_INBOUND_BODY) or ""
    sid = _value(form, "MessageSid", "SmsSid") or ""
    if sid and not MESSAGE_SID.match(sid):
        raise ValueError("MessageSid is not a message id")
    return Inbound(from_=from_, to=to, body=body, channel=channel, provider_message_id=sid)


def _pairs(params: Mapping[str, Any] | Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Every (name, value) of a form, repeated names included (Starlette's FormData too)."""
    if hasattr(params, "multi_items"):
        items: Iterable[tuple[str, Any]] = params.multi_items()
    elif isinstance(params, Mapping):
        items = params.items()
    else:
        items = params
    grouped: dict[str, set[str]] = {}
    for name, value in items:
        values = value if isinstance(value, list | tuple) else [value]
        grouped.setdefault(name, set()).update(str(v) for v in values)
    return grouped


def signature(
    auth_token: str, url: str, params: Mapping[str, Any] | Iterable[tuple[str, str]]
) -> str:
    """X-Twilio-Signature for a POST of `params` to `url` (repeated names: values sorted)."""
    grouped = _pairs(params)
    data = url + "".join(
        name + value for name in sorted(grouped) for value in sorted(grouped[name])
    )
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    """The URL as given, and with its default port added or removed: proxies differ on it,
    so Twilio's own validators accept either form."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is not None:
        other = prefix + host
    else:
        other = f"{prefix}{host}:{443 if parts.scheme == 'https' else 80}"
    return [url, urlunsplit(parts._replace(netloc=other))]


def verify_signature(
    auth_token: str,
    url: str,
    params: Mapping[str, Any] | Iterable[tuple[str, str]],
    provided: str | None,
) -> bool:
    """Whether `provided` (the X-Twilio-Signature header) signs this URL and form."""
    if not provided or not auth_token:
        return False
    try:
        candidates = _port_variants(url)
    except ValueError:
        return False
    expected = [signature(auth_token, candidate, params) for candidate in candidates]
    return any(hmac.compare_digest(e.encode(), provided.encode()) for e in expected)


def problems(config: dict[str, Any]) -> list[str]:
    found: list[str] = []
    check.only(config, {"base_url", "account_sid", "auth_token", "from"}, found)
    check.url(config, "base_url", found, required=False)
    sid = check.text(config, "account_sid", found, max_length=64)
    if sid and not ACCOUNT_SID.match(sid):
        found.append("account_sid must be letters and digits, like AC0123…")
    check.text(config, "auth_token", found, max_length=256)
    sender = check.text(config, "from", found, max_length=80)
    if sender:
        bare = split_prefix(sender)[1]
        if not (E164.match(bare) or MESSAGING_SERVICE_SID.match(bare) or SENDER_ID.match(bare)):
            found.append(
                "from must be an E.164 number (+14155550100), a messaging service id (MG…) "
                "or an alphanumeric sender id"
            )
    return found


def from_config(config: dict[str, Any]) -> TwilioMessages:
    check.fail("twilio", problems(config))
    return TwilioMessages(
        config.get("base_url") or DEFAULT_BASE_URL,
        config["account_sid"],
        config["auth_token"],
        config["from"],
    )
