"""Contacts of the caller's workspace as read: one contact, pages of them (by search,
segment, tag or outlet), a segment's members, and a contact's events."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.event import Event
from documents.segment import Segment
from engine import contact_search
from engine.access import Permission
from engine.event_names import name_key
from engine.names import clean_name
from resolvers.core import lookup
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page, paginate
from resolvers.events.merge import resolve_contact_id

ORDERS = {
    "NEWEST": (None, True),
    "OLDEST": (None, False),
    "RECENTLY_ACTIVE": ("last_active_at", True),
    "LEAST_RECENTLY_ACTIVE": ("last_active_at", False),
}


def clean_tag(value: str, field: str) -> str:
    return clean_name(value, field, max_length=64)


async def contact_filter(
    ctx: RequestContext,
    search: str | None = None,
    segment_id: str | None = None,
    tag: str | None = None,
    location_id: str | None = None,
) -> dict[str, Any]:
    """The MongoDB filter of a contact query (also used by exports): flat equalities,
    or, for a search, the matching ids (`_id` first, a point lookup)."""
    ctx.require(Permission.READ)
    query: dict[str, Any] = {"workspace_id": ctx.workspace_id}
    if segment_id is not None:
        query["segments"] = segment_id
    if tag is not None:
        query["tags"] = tag
    if location_id is not None:
        query["location_id"] = parse_id(location_id, "Location") or "no-such-location"
    if search and search.strip():
        ids = await _search(query, search.strip()[:100])
        return {"_id": {"$in": ids}, **query}
    return query


async def _search(query: dict[str, Any], term: str) -> list[PydanticObjectId]:
    """Ids of the contacts a search term finds: one range on (workspace_id, search_keys),
    the other filters and the prefix itself re-checked on each match. Costs the matches,
    not the workspace."""
    checks = {k: v for k, v in query.items() if k != "workspace_id"}
    projection = {f: 1 for f in (*contact_search.FIELDS, *checks)}
    projection.update({f"properties.{p}": 1 for p in contact_search.PROPERTIES})
    cursor = Contact.get_pymongo_collection().find(
        {"workspace_id": query["workspace_id"], "search_keys": contact_search.key_range(term)},
        projection,
    )
    found = []
    async for doc in cursor:
        if not contact_search.matches(doc, term):
            continue
        if all(_holds(doc.get(field), value) for field, value in checks.items()):
            found.append(doc["_id"])
    return found


def _holds(stored: Any, value: Any) -> bool:
    """A stored field against an equality of the query (arrays hold their elements)."""
    return value in stored if isinstance(stored, list) else stored == value


async def list_contacts(
    ctx: RequestContext,
    first: int | None,
    after: str | None,
    *,
    order_by: str = "NEWEST",
    **filters: Any,
) -> Page:
    query = await contact_filter(ctx, **filters)
    sort_field, newest_first = ORDERS[order_by]
    return await paginate(
        Contact, query, first, after, newest_first=newest_first, sort_field=sort_field
    )


async def get_contact(ctx: RequestContext, contact_id: str) -> Contact | None:
    """A contact by id; the id of a contact merged into another finds the survivor."""
    ctx.require(Permission.READ)
    oid = parse_id(contact_id, "Contact")
    if oid is None:
        return None
    contact = await Contact.find_one({"_id": oid, "workspace_id": ctx.workspace_id})
    if contact is None:
        survivor = await resolve_contact_id(ctx.workspace_id, oid)
        if survivor != oid:
            contact = await Contact.find_one({"_id": survivor, "workspace_id": ctx.workspace_id})
    return contact


async def list_events(
    ctx: RequestContext, contact: Contact, first: int | None, after: str | None, name: str | None
) -> Page:
    ctx.require(Permission.READ)
    query: dict[str, Any] = {"workspace_id": ctx.workspace_id, "contact_id": contact.id}
    if name:
        query["name_key"] = name_key(name)  # "Order Completed" lists order_completed too
    return await paginate(Event, query, first, after, newest_first=True, sort_field="timestamp")


async def list_segment_members(
    ctx: RequestContext, segment: Segment, first: int | None, after: str | None
) -> Page:
    return await list_contacts(ctx, first, after, segment_id=str(segment.id))


async def contacts_by_ids(ctx: RequestContext, ids: list[str]) -> dict[PydanticObjectId, Contact]:
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, Contact, ids)


async def events_by_ids(ctx: RequestContext, ids: list[str]) -> dict[PydanticObjectId, Event]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, Event, ids)
