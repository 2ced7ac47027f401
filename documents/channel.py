"""Channel configuration: which provider sends a channel for a workspace or one outlet.

A row with location_id None is the brand's default; a row for a location overrides it for
that outlet ("per-outlet channel sender mapping"). Secrets are stored encrypted
(resolvers/vault.py); `settings` holds only what is safe to show.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from documents.base import TenantDocument, utcnow


class ChannelConfig(TenantDocument):
    channel: str
    provider: str
    location_id: PydanticObjectId | None = None
    settings: dict[str, Any] = {}
    secrets: str = ""  # Fernet token of a JSON object of the provider's secret fields
    enabled: bool = True
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "channel_configs"
        indexes = [
            IndexModel(
                [("workspace_id", ASCENDING), ("channel", ASCENDING), ("location_id", ASCENDING)],
                unique=True,
            )
        ]
