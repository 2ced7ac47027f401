"""A batch in ingestion: each message parsed, the problems found, the result returned."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.identity import Identity
from engine.messages import Message


@dataclass
class Problem:
    index: int
    message_id: str | None
    reason: str
    field: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "messageId": self.message_id,
            "reason": self.reason,
            "field": self.field,
        }


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # Per input index: the contact the message was attributed to (None if rejected).
    contact_ids: dict[int, str] = field(default_factory=dict)


@dataclass
class Parsed:
    index: int
    message: Message
    identity: Identity
    key: str = ""  # contact key after resolution


class RaceLost(Exception):
    """A concurrent ingest created one of our new contacts first: resolve again."""
