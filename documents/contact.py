"""Contacts, their merge aliases and the workspace's custom-field definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import TenantDocument, utcnow

_STRING = {"$type": "string"}


class Contact(TenantDocument):
    user_id: str | None = None
    anonymous_ids: list[str] = []
    email: str | None = None
    phone: str | None = None  # E.164
    properties: dict[str, Any] = {}
    # When each property was last written (latest write wins, also across merges).
    property_times: dict[str, datetime] = {}
    tags: list[str] = []
    segments: list[str] = []
    # channel -> {"status": subscribed|unsubscribed, "at": datetime, "source": str}
    consent: dict[str, dict[str, Any]] = {}
    # event name (escaped) -> {count, first_at, last_at, days: {YYYYMMDD: n}}
    event_stats: dict[str, dict[str, Any]] = {}
    location_id: PydanticObjectId | None = None
    # Push targets: {"kind": "fcm", "token": ...} or {"kind": "web", "subscription": {...}}
    devices: list[dict[str, Any]] = []
    last_active_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "contacts"
        # Identifiers are unique per workspace: two first sightings of one person racing
        # each other cannot both insert; the loser retries and finds the winner.
        indexes = [
            IndexModel(
                [("workspace_id", ASCENDING), ("user_id", ASCENDING)],
                unique=True,
                partialFilterExpression={"user_id": _STRING},
                name="identity_user_id",
            ),
            IndexModel(
                [("workspace_id", ASCENDING), ("email", ASCENDING)],
                unique=True,
                partialFilterExpression={"email": _STRING},
                name="identity_email",
            ),
            IndexModel(
                [("workspace_id", ASCENDING), ("phone", ASCENDING)],
                unique=True,
                partialFilterExpression={"phone": _STRING},
                name="identity_phone",
            ),
            IndexModel(
                [("workspace_id", ASCENDING), ("anonymous_ids", ASCENDING)],
                unique=True,
                partialFilterExpression={"anonymous_ids": _STRING},
                name="identity_anonymous_ids",
            ),
            IndexModel([("workspace_id", ASCENDING), ("tags", ASCENDING)]),
            IndexModel([("workspace_id", ASCENDING), ("segments", ASCENDING)]),
            IndexModel([("workspace_id", ASCENDING), ("location_id", ASCENDING)]),
            IndexModel(
                [("workspace_id", ASCENDING), ("last_active_at", DESCENDING), ("_id", DESCENDING)]
            ),
        ]


class ContactAlias(TenantDocument):
    """A merged-away contact id and the contact it lives on in."""

    merged_id: PydanticObjectId
    contact_id: PydanticObjectId

    class Settings:
        name = "contact_aliases"
        indexes = [
            IndexModel([("workspace_id", ASCENDING), ("merged_id", ASCENDING)], unique=True),
            IndexModel([("workspace_id", ASCENDING), ("contact_id", ASCENDING)]),
        ]


class CustomField(TenantDocument):
    key: str
    type: str  # string | number | boolean | date | list
    label: str = ""

    class Settings:
        name = "custom_fields"
        indexes = [IndexModel([("workspace_id", ASCENDING), ("key", ASCENDING)], unique=True)]
