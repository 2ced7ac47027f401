"""Shared document bases: timestamps and the workspace scope every tenant row carries."""

from __future__ import annotations

from datetime import UTC, datetime

from beanie import Document, PydanticObjectId
from pydantic import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class TimestampedDocument(Document):
    created_at: datetime = Field(default_factory=utcnow)


class TenantDocument(TimestampedDocument):
    """A document owned by one workspace. Every query on it must filter by workspace_id."""

    workspace_id: PydanticObjectId
