"""Workspaces (brand tenants), their locations (outlets) and properties (SDK installs)."""

from __future__ import annotations

from beanie import PydanticObjectId
from pymongo import ASCENDING, IndexModel

from documents.base import TenantDocument, TimestampedDocument


class Workspace(TimestampedDocument):
    organization_id: PydanticObjectId
    name: str
    timezone: str = "UTC"
    # ISO 3166 country assumed for phone numbers written without a country code.
    default_country: str | None = None
    # Sending rules (issue 5): campaigns need an approver's sign-off before scheduling;
    # frequency caps [{"channel": str | None, "limit": int, "days": int}]; quiet hours
    # {"start": "21:00", "end": "08:00"} in the contact's timezone.
    approval_required: bool = False
    frequency_caps: list[dict] = []
    quiet_hours: dict | None = None

    class Settings:
        name = "workspaces"
        indexes = [IndexModel([("organization_id", ASCENDING), ("_id", ASCENDING)])]


class Location(TenantDocument):
    """An outlet of the brand; per-outlet overrides live here."""

    name: str
    code: str
    timezone: str | None = None

    class Settings:
        name = "locations"
        indexes = [
            IndexModel([("workspace_id", ASCENDING), ("code", ASCENDING)], unique=True),
            # A campaign's outlet branches {workspace_id} sorted by _id.
            IndexModel([("workspace_id", ASCENDING), ("_id", ASCENDING)]),
        ]


class Property(TenantDocument):
    """An SDK install (web app, mobile app, kiosk, server); owns its write keys."""

    name: str
    platform: str = "web"
    location_id: PydanticObjectId | None = None

    class Settings:
        name = "properties"
        indexes = [IndexModel([("workspace_id", ASCENDING), ("_id", ASCENDING)])]
