"""Events: immutable, as received, deduplicated on message_id per workspace."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import TenantDocument


class Event(TenantDocument):
    contact_id: PydanticObjectId
    type: str
    message_id: str
    event: str | None = None  # as sent
    # engine.event_names.name_key(event): what rules, goals, triggers and waits compare.
    name_key: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    previous_id: str | None = None
    group_id: str | None = None
    properties: dict[str, Any] = {}
    traits: dict[str, Any] = {}
    context: dict[str, Any] = {}
    timestamp: datetime
    sent_at: datetime | None = None
    received_at: datetime
    location_id: str | None = None
    source: str = "api"

    class Settings:
        name = "events"
        indexes = [
            # Dedupe: {workspace_id, message_id: {$in}} per ingested batch.
            IndexModel([("workspace_id", ASCENDING), ("message_id", ASCENDING)], unique=True),
            # A contact's activity pages {workspace_id, contact_id[, timestamp: {$lt}]} sorted
            # by (timestamp, _id), and re-pointing events on a merge.
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("contact_id", ASCENDING),
                    ("timestamp", DESCENDING),
                    ("_id", DESCENDING),
                ]
            ),
            # One event name of one contact {workspace_id, contact_id, name_key, timestamp:
            # range}: journey facts and goals, the activity list filtered by event.
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("contact_id", ASCENDING),
                    ("name_key", ASCENDING),
                    ("timestamp", DESCENDING),
                    ("_id", DESCENDING),
                ]
            ),
            # One event name across the workspace {workspace_id, name_key, timestamp: range}:
            # segment aggregate backfills, send-time statistics, trigger samples.
            IndexModel(
                [("workspace_id", ASCENDING), ("name_key", ASCENDING), ("timestamp", DESCENDING)]
            ),
        ]
