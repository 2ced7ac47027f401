"""API credentials: secret keys per workspace and write keys per property, stored hashed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import PydanticObjectId
from pymongo import ASCENDING, IndexModel

from documents.base import TenantDocument

KeyKind = Literal["secret", "write"]


class ApiKey(TenantDocument):
    kind: KeyKind
    # Copied from the workspace so that authenticating a key is one round trip.
    organization_id: PydanticObjectId
    name: str
    # The first characters of the key, enough to recognise it in a list.
    prefix: str
    key_hash: str
    scopes: list[str] = []
    property_id: PydanticObjectId | None = None
    created_by: str = ""
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    class Settings:
        name = "api_keys"
        indexes = [
            IndexModel([("key_hash", ASCENDING)], unique=True),
            IndexModel([("workspace_id", ASCENDING), ("kind", ASCENDING), ("_id", ASCENDING)]),
        ]
