"""Segment-spec messages: validate one, normalise it into what ingestion needs.

https://segment.com/docs/connections/spec/ — camelCase fields: type, userId,
anonymousId, messageId, event, name, traits, properties, context, timestamp, sentAt,
previousId, groupId.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.errors import InvalidInput
from engine.event_names import name_key
from engine.identifiers import normalize_id
from engine.payload_limits import EARLIEST, LATEST, check_time, check_value
from engine.traits import parse_datetime

TYPES = ("track", "identify", "page", "screen", "group", "alias")
MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500
MAX_NAME_LENGTH = 200
# Segment fields Reach reads nothing from and never stores: their keys may be anything the
# spec allows, such as integrations' "Segment.io", which the stored fields' rules refuse.
UNSTORED = ("integrations", "_metadata", "writeKey")
# Client clocks drift; anything further ahead than this is clamped to receipt time.
MAX_FUTURE = timedelta(minutes=5)


@dataclass
class Message:
    type: str
    message_id: str
    received_at: datetime
    timestamp: datetime
    user_id: str | None = None
    anonymous_id: str | None = None
    previous_id: str | None = None
    event: str | None = None  # track: event name; page/screen: name
    group_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    sent_at: datetime | None = None
    location_id: str | None = None
    # Identifiers named in traits (identify) or context.traits (other calls), raw.
    email: Any = None
    phone: Any = None

    def document(self) -> dict[str, Any]:
        """The event as stored (without workspace/contact, which ingestion adds)."""
        return {
            "type": self.type,
            "message_id": self.message_id,
            "event": self.event,
            # What every comparison of event names reads (engine.event_names).
            "name_key": name_key(self.event) if self.event else None,
            "user_id": self.user_id,
            "anonymous_id": self.anonymous_id,
            "previous_id": self.previous_id,
            "group_id": self.group_id,
            "properties": self.properties,
            "traits": self.traits,
            "context": self.context,
            "timestamp": self.timestamp,
            "sent_at": self.sent_at,
            "received_at": self.received_at,
            "location_id": self.location_id,
        }


def _object(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{key} must be an object.", field=key)
    return value


def _time(raw: dict[str, Any], key: str) -> datetime | None:
    value = raw.get(key)
    if value is None:
        return None
    try:
        parsed = parse_datetime(value)
    except (ValueError, TypeError, OverflowError, OSError) as error:
        raise InvalidInput(f"{key} is not an ISO 8601 date-time.", field=key) from error
    return check_time(parsed, key)


def message_size(raw: Any) -> int:
    return len(json.dumps(raw, default=str, separators=(",", ":")).encode())


def parse_message(
    raw: Any,
    received_at: datetime,
    default_type: str | None = None,
    *,
    trait_identity: bool = False,
) -> Message:
    """Validate one message; raise InvalidInput naming the field that is wrong.

    Segment requires userId or anonymousId. With `trait_identity` (imports, server-side
    sources) an identify message may instead be identified by its email or phone trait.
    Every value is checked first (engine.payload_limits), so that nothing a message holds
    can fail its write: a message is stored whole or rejected before anything is written.
    """
    if not isinstance(raw, dict):
        raise InvalidInput("A message must be a JSON object.")
    check_value({k: v for k, v in raw.items() if k not in UNSTORED})
    if message_size(raw) > MAX_MESSAGE_BYTES:
        raise InvalidInput(f"Message is larger than {MAX_MESSAGE_BYTES // 1024} KB.")
    kind = raw.get("type", default_type)
    if default_type and kind != default_type:
        raise InvalidInput(f"type must be {default_type!r} on this endpoint.", field="type")
    if kind not in TYPES:
        raise InvalidInput(f"type must be one of {', '.join(TYPES)}.", field="type")

    user_id = normalize_id(raw["userId"], "userId") if raw.get("userId") is not None else None
    anonymous_id = (
        normalize_id(raw["anonymousId"], "anonymousId")
        if raw.get("anonymousId") is not None
        else None
    )
    previous_id = None
    if kind == "alias":
        if raw.get("previousId") is None or user_id is None:
            raise InvalidInput("alias needs previousId and userId.", field="previousId")
        previous_id = normalize_id(raw["previousId"], "previousId")
    elif user_id is None and anonymous_id is None:
        traits_ = raw.get("traits") if isinstance(raw.get("traits"), dict) else {}
        by_traits = (
            trait_identity
            and kind == "identify"
            and (traits_.get("email") is not None or traits_.get("phone") is not None)
        )
        if not by_traits:
            raise InvalidInput("Either userId or anonymousId is required.", field="userId")

    message_id = raw.get("messageId")
    if message_id is None:
        message_id = f"reach-{uuid.uuid4()}"
    message_id = normalize_id(message_id, "messageId")

    properties, traits, context = (
        _object(raw, "properties"),
        _object(raw, "traits"),
        _object(raw, "context"),
    )
    event = None
    if kind == "track":
        event = raw.get("event")
        if not isinstance(event, str) or not event.strip():
            raise InvalidInput("track needs an event name.", field="event")
        event = event.strip()
    elif kind in ("page", "screen") and raw.get("name") is not None:
        if not isinstance(raw["name"], str):
            raise InvalidInput("name must be a string.", field="name")
        event = raw["name"].strip() or None
    if kind == "page" and isinstance(raw.get("category"), str):
        properties = {"category": raw["category"], **properties}
    if event and len(event) > MAX_NAME_LENGTH:
        raise InvalidInput(f"Names may be at most {MAX_NAME_LENGTH} characters.", field="event")
    group_id = None
    if kind == "group":
        if raw.get("groupId") is None:
            raise InvalidInput("group needs a groupId.", field="groupId")
        group_id = normalize_id(raw["groupId"], "groupId")

    sent_at = _time(raw, "sentAt")
    timestamp = _time(raw, "timestamp") or _time(raw, "originalTimestamp") or received_at
    if sent_at is not None:
        # Segment's clock-skew correction: shift by the difference between our clock and
        # the client's at send time.
        try:
            timestamp = timestamp + (received_at - sent_at)
        except OverflowError:
            timestamp = None
        if timestamp is None or not EARLIEST <= timestamp <= LATEST:
            raise InvalidInput(
                "timestamp corrected by sentAt falls outside 1970..9999: check both.",
                field="sentAt",
            )
    if timestamp > received_at + MAX_FUTURE:
        timestamp = received_at

    identity_traits = traits if kind == "identify" else _object(context, "traits")
    location = raw.get("locationId") or context.get("locationId")
    return Message(
        type=kind,
        message_id=message_id,
        received_at=received_at,
        timestamp=timestamp,
        user_id=user_id,
        anonymous_id=anonymous_id,
        previous_id=previous_id,
        event=event,
        group_id=group_id,
        properties=properties,
        traits=traits,
        context=context,
        sent_at=sent_at,
        location_id=location if isinstance(location, str) else None,
        email=identity_traits.get("email"),
        phone=identity_traits.get("phone"),
    )


def profile_traits(message: Message) -> dict[str, Any]:
    """Traits that update the contact's properties (identifiers and nested address unpacked)."""
    if message.type != "identify":
        return {}
    traits = {
        k: v for k, v in message.traits.items() if k not in ("email", "phone", "userId", "id")
    }
    address = traits.pop("address", None)
    if isinstance(address, dict):
        for key in ("city", "country"):
            if isinstance(address.get(key), str):
                traits.setdefault(key, address[key])
    return traits


def push_device(context: dict[str, Any]) -> dict[str, str] | None:
    """The push target a mobile SDK reports in `context.device.token` (Segment's spec), as
    a contact device: Firebase registration tokens serve Android and iOS alike."""
    device = context.get("device") if isinstance(context, dict) else None
    token = device.get("token") if isinstance(device, dict) else None
    if not isinstance(token, str) or not 10 <= len(token) <= 4096:
        return None
    if not token.isprintable() or any(c.isspace() for c in token):
        return None
    return {"kind": "fcm", "token": token}
