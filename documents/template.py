"""Message templates: reusable per-channel content picked by campaigns and journeys."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from pymongo import ASCENDING, IndexModel

from documents.base import TenantDocument, utcnow


class Template(TenantDocument):
    name: str
    channel: str
    fields: dict[str, str]  # e.g. {"subject": ..., "text": ..., "html": ...}
    description: str = ""
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "templates"
        indexes = [IndexModel([("workspace_id", ASCENDING), ("name", ASCENDING)], unique=True)]
