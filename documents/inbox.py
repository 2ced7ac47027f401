"""In-app inbox: messages delivered to a contact, read through GraphQL and the SDK."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import TenantDocument


class InboxMessage(TenantDocument):
    contact_id: PydanticObjectId
    message_id: PydanticObjectId  # the OutboundMessage it delivers (unique: sent once)
    title: str
    body: str
    url: str = ""
    data: dict[str, Any] = {}
    read_at: datetime | None = None
    dismissed_at: datetime | None = None

    class Settings:
        name = "inbox_messages"
        indexes = [
            # One inbox row per message {workspace_id, message_id}.
            IndexModel([("workspace_id", ASCENDING), ("message_id", ASCENDING)], unique=True),
            # A contact's inbox pages {workspace_id, contact_id, _id: {$lt}}.
            IndexModel(
                [("workspace_id", ASCENDING), ("contact_id", ASCENDING), ("_id", DESCENDING)]
            ),
            # The undismissed ones {workspace_id, contact_id, dismissed_at: null, _id: {$lt}}
            # (what an SDK shows).
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("contact_id", ASCENDING),
                    ("dismissed_at", ASCENDING),
                    ("_id", DESCENDING),
                ]
            ),
            # ... and unread {..., read_at: null, _id: {$lt}}.
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("contact_id", ASCENDING),
                    ("dismissed_at", ASCENDING),
                    ("read_at", ASCENDING),
                    ("_id", DESCENDING),
                ]
            ),
        ]
