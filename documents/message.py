"""Outbound messages: one row per send, keyed for exactly-once effects."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import TenantDocument


class OutboundMessage(TenantDocument):
    idempotency_key: str
    channel: str
    provider: str = ""
    to: str
    subject: str = ""
    text: str = ""
    html: str = ""
    status: str = "queued"  # queued | sending | sent | failed
    error: str | None = None
    sent_at: datetime | None = None

    class Settings:
        name = "outbound_messages"
        indexes = [
            IndexModel([("workspace_id", ASCENDING), ("idempotency_key", ASCENDING)], unique=True),
            IndexModel([("workspace_id", ASCENDING), ("_id", DESCENDING)]),
        ]
