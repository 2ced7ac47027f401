"""Closed value sets of messaging and partner webhooks as GraphQL enums.

Each member's value is the lower-case string stored in MongoDB, so a resolver argument passes
`member.value` down and an output wraps the stored string with `stored()`; storage is unchanged.
"""

from __future__ import annotations

import logging
from enum import Enum

import strawberry

log = logging.getLogger(__name__)


@strawberry.enum(description="A channel a message is sent on (engine.delivery.CHANNELS).")
class SendChannel(Enum):
    EMAIL = strawberry.enum_value("email", description="Email to the contact's address.")
    SMS = strawberry.enum_value("sms", description="Text message to the contact's phone.")
    WHATSAPP = strawberry.enum_value("whatsapp", description="WhatsApp to the contact's phone.")
    RCS = strawberry.enum_value("rcs", description="RCS business message to the phone.")
    PUSH = strawberry.enum_value("push", description="Mobile push to the contact's FCM token.")
    WEB_PUSH = strawberry.enum_value(
        "web_push", description="Browser push to the contact's web subscription."
    )
    IN_APP = strawberry.enum_value("in_app", description="An item in the contact's in-app inbox.")
    WEBHOOK = strawberry.enum_value(
        "webhook", description="A POST about the contact to the brand's own system."
    )


@strawberry.enum(description="Where a message is in its life.")
class MessageStatus(Enum):
    SCHEDULED = strawberry.enum_value(
        "scheduled", description="Waits for its due time (quiet hours, send-time, A/B rest)."
    )
    QUEUED = strawberry.enum_value("queued", description="Due; a send job is on its way.")
    SENDING = strawberry.enum_value("sending", description="Claimed by a worker.")
    PAUSED = strawberry.enum_value("paused", description="Its campaign was paused before it went.")
    SENT = strawberry.enum_value("sent", description="Handed to the provider.")
    DELIVERED = strawberry.enum_value("delivered", description="The provider reported delivery.")
    FAILED = strawberry.enum_value("failed", description="Sending failed (see reason).")
    BOUNCED = strawberry.enum_value("bounced", description="The provider reported a bounce.")
    SKIPPED = strawberry.enum_value("skipped", description="Decided not to send (see reason).")


@strawberry.enum(description="Where one webhook delivery is.")
class WebhookDeliveryStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Waiting for its (next) attempt.")
    SUCCEEDED = strawberry.enum_value("succeeded", description="The endpoint answered 2xx.")
    FAILED = strawberry.enum_value("failed", description="Gave up after the last retry.")
    DEAD = strawberry.enum_value("dead", description="Dropped: the endpoint was disabled.")


@strawberry.enum(description="Whether a webhook endpoint receives deliveries.")
class WebhookEndpointStatus(Enum):
    ACTIVE = strawberry.enum_value("active", description="Receives deliveries.")
    DISABLED = strawberry.enum_value("disabled", description="Receives none (see disabledReason).")


def stored[E: Enum](enum: type[E], value: str | None) -> E | None:
    """The member for a stored string. Every write checks the value against the same set, so
    an unknown one can only be old data: it reads as null (logged) instead of failing the query."""
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        log.warning("stored %s value %r is not in the enum", enum.__name__, value)
        return None


def value_of(member: Enum | None) -> str | None:
    """The stored string of an argument's member (None stays None)."""
    return member.value if member is not None else None
