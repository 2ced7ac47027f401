"""Contacts, their merge aliases and the workspace's custom-field definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Insert, PydanticObjectId, Replace, Save, before_event
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import TenantDocument, utcnow
from engine.contact_search import search_keys
from engine.identity import identity_keys


class Contact(TenantDocument):
    user_id: str | None = None
    anonymous_ids: list[str] = []
    # engine.identity.identity_keys of the identifiers above, kept in step on every write.
    identity_keys: list[str] = []
    # engine.contact_search.search_keys: lowercased identifiers and names, for search.
    search_keys: list[str] = []
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
    # The contact's own last activity, and the last send to them (engine.activity).
    last_active_at: datetime = Field(default_factory=utcnow)
    last_messaged_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)

    @before_event(Insert, Replace, Save)
    def _keep_identity_keys(self) -> None:
        """Beanie writes of a whole contact derive identity_keys here; partial updates
        (ingest, merges, edits) maintain them themselves."""
        if self.id is None:
            self.id = PydanticObjectId()
        fields = {"user_id": self.user_id, "email": self.email, "phone": self.phone}
        self.identity_keys = identity_keys(
            {"_id": self.id, "anonymous_ids": self.anonymous_ids, **fields}
        )
        self.search_keys = search_keys({"properties": self.properties, **fields})

    class Settings:
        name = "contacts"
        indexes = [
            # Identity lookup {workspace_id, identity_keys: {$in: [...]}} (ingest, inbound
            # replies): one plain index every planner uses for $in. Unique, so two first
            # sightings of one person racing each other cannot both insert.
            IndexModel(
                [("workspace_id", ASCENDING), ("identity_keys", ASCENDING)],
                unique=True,
                name="identity_keys",
            ),
            # Search {workspace_id, search_keys: {$gte: term, $lt: term + U+10FFFF}}.
            IndexModel([("workspace_id", ASCENDING), ("search_keys", ASCENDING)]),
            # Contact list pages {workspace_id[, tags|segments|location_id], _id: {$lt}}
            # sorted by _id; the segment one also serves campaign audience pages.
            IndexModel([("workspace_id", ASCENDING), ("_id", ASCENDING)]),
            IndexModel([("workspace_id", ASCENDING), ("tags", ASCENDING), ("_id", ASCENDING)]),
            IndexModel([("workspace_id", ASCENDING), ("segments", ASCENDING), ("_id", ASCENDING)]),
            IndexModel(
                [("workspace_id", ASCENDING), ("location_id", ASCENDING), ("_id", ASCENDING)]
            ),
            # Contact list by activity {workspace_id, last_active_at[: {$lt}]} (and _id).
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
