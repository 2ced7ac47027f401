"""Outbound messages: one row per send, keyed for exactly-once effects.

The row is written before any provider is called, under a unique idempotency key, and
holds everything the send needs (address, channel, the template fields to render), so a
retried or duplicated job finds it and never sends twice. Engagement that comes back
(delivered, opened, clicked, ...) is stamped on the row as well as recorded as events,
so analytics count rows and segments read events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import TenantDocument

# scheduled: waits for due_at (quiet hours, send-time optimisation, A/B remainder)
# queued: due, a send job is on its way; sending: claimed by a worker
# paused: its campaign was paused before it went out; skipped: decided not to send
LIVE_STATUSES = ("scheduled", "queued", "sending", "paused")
DONE_STATUSES = ("sent", "delivered", "failed", "bounced", "skipped")
SENT_STATUSES = ("sent", "delivered", "bounced")  # handed to a provider
# Engagement kind -> the row's field stamped the first time it happens.
ENGAGEMENT_STAMPS = {
    "delivered": "delivered_at",
    "opened": "opened_at",
    "clicked": "clicked_at",
    "replied": "replied_at",
    "bounced": "bounced_at",
    "unsubscribed": "unsubscribed_at",
    "failed": "failed_at",
}


class OutboundMessage(TenantDocument):
    idempotency_key: str
    channel: str
    provider: str = ""
    to: Any = None  # email address, E.164 phone, device token, push subscription, url
    contact_id: PydanticObjectId | None = None  # None for system mail (invitations)
    source: str = "system"  # system | campaign | journey
    source_id: str | None = None  # campaign or journey id
    step: str = ""  # journey node id
    run: int = 0  # campaign run (recurring campaigns run many times)
    variant: str | None = None
    location_id: PydanticObjectId | None = None
    # The channel's template fields, rendered at send time against the contact then.
    template: dict[str, str] = {}
    event: dict[str, Any] | None = None  # trigger event, for templates
    subject: str = ""
    text: str = ""
    html: str = ""
    status: str = "queued"
    reason: str | None = None  # why skipped, held, failed or bounced
    error: str | None = None
    attempts: int = 0
    due_at: datetime | None = None
    claimed_at: datetime | None = None
    claim: PydanticObjectId | None = None  # the delivery batch that claimed it (its token)
    provider_message_id: str | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    replied_at: datetime | None = None
    bounced_at: datetime | None = None
    failed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    converted_at: datetime | None = None
    revenue: float = 0.0
    conversion_event_ids: list[str] = []  # goal events counted (each once)

    class Settings:
        name = "outbound_messages"
        indexes = [
            IndexModel([("workspace_id", ASCENDING), ("idempotency_key", ASCENDING)], unique=True),
            # The message log {workspace_id[, _id: {$lt}]} newest first.
            IndexModel([("workspace_id", ASCENDING), ("_id", DESCENDING)]),
            # A source's rows by status {workspace_id, source_id, status[: {$in}]}: hold,
            # cancel, completion; release's {..., status: "paused", due_at: {$gt}}.
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("source_id", ASCENDING),
                    ("status", ASCENDING),
                    ("due_at", ASCENDING),
                ]
            ),
            # Campaign analytics {workspace_id, source_id[, run][, status: {$in}]}.
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("source_id", ASCENDING),
                    ("run", ASCENDING),
                    ("status", ASCENDING),
                ]
            ),
            # The message log of one source or one contact, newest first
            # {workspace_id, source_id | contact_id[, _id: {$lt}]}.
            IndexModel(
                [("workspace_id", ASCENDING), ("source_id", ASCENDING), ("_id", DESCENDING)]
            ),
            IndexModel(
                [("workspace_id", ASCENDING), ("contact_id", ASCENDING), ("_id", DESCENDING)]
            ),
            # A contact's sends by time {workspace_id, contact_id[: {$in}][, sent_at: range]}:
            # frequency caps, conversion attribution, the message an inbound reply answers.
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("contact_id", ASCENDING),
                    ("sent_at", DESCENDING),
                ]
            ),
            IndexModel([("workspace_id", ASCENDING), ("provider_message_id", ASCENDING)]),
            # The dispatcher's sweeps {status, due_at | claimed_at: {$lte}} span workspaces.
            IndexModel([("status", ASCENDING), ("due_at", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("claimed_at", ASCENDING)]),
        ]
