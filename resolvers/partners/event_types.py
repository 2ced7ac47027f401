"""The closed set of event types a partner endpoint may subscribe to."""

from __future__ import annotations

EVENT_TYPES = (
    "contact.created",
    "contact.merged",
    "segment.entered",
    "segment.exited",
    "message.sent",
    "message.delivered",
    "message.opened",
    "message.clicked",
    "message.bounced",
    "campaign.status_changed",
    "journey.run_ended",
)
