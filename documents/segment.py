"""Segments: dynamic (rules) or static (a fixed list) groups of contacts.

Membership lives on the contacts (`contact.segments` holds segment ids) for both
kinds; `member_count` is kept up to date with $inc as contacts enter and exit.
`references` is the index from what a rule reads to the segments that read it:
"kind:value" strings ("property:city", "event:order_completed", "tag:vip",
"field:email", "segment:<id>", "consent:whatsapp"), so a change to a contact re-evaluates
only the segments that can be affected. `time_dependent` segments are re-evaluated on
a schedule, because their membership can change with the clock alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import TenantDocument, utcnow


class Segment(TenantDocument):
    name: str
    description: str = ""
    tags: list[str] = []
    kind: str = "dynamic"  # dynamic | static
    rules: dict[str, Any] | None = None  # None for static segments
    member_count: int = 0
    location_id: PydanticObjectId | None = None  # outlet scope; None = brand-wide
    references: list[str] = []
    time_dependent: bool = False
    created_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "segments"
        indexes = [
            # Segment list pages {workspace_id, _id: {$lt}}.
            IndexModel([("workspace_id", ASCENDING), ("_id", DESCENDING)]),
            # Segments to re-evaluate for what changed {workspace_id, kind, references: {$in}}
            # (every ingested batch and contact edit), and all dynamic ones {workspace_id, kind}.
            IndexModel(
                [("workspace_id", ASCENDING), ("kind", ASCENDING), ("references", ASCENDING)]
            ),
            # Segments built on a segment {workspace_id, references: "segment:<id>"}.
            IndexModel([("workspace_id", ASCENDING), ("references", ASCENDING)]),
            # The time-window sweep {time_dependent, kind[, workspace_id]}, every 30 s.
            IndexModel(
                [("time_dependent", ASCENDING), ("kind", ASCENDING), ("workspace_id", ASCENDING)]
            ),
        ]
