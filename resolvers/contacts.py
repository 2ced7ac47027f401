"""Contacts of the caller's workspace: find, create, update, tag, consent, erase."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from documents.contact import Contact, ContactAlias, CustomField
from documents.event import Event
from engine import contact_search
from engine.access import Permission
from engine.errors import Conflict, InvalidInput, NotFound
from engine.identifiers import normalize_email, normalize_id, normalize_phone
from engine.identity import KEY_PREFIX, identity_keys
from engine.names import clean_name
from engine.traits import FIELD_TYPES, check_key, normalize_properties
from resolvers import audit, membership
from resolvers.context import RequestContext, parse_id
from resolvers.identity import resolve_contact_id
from resolvers.ingest import custom_fields
from resolvers.locations import get_location
from resolvers.pagination import Page, paginate
from resolvers.workspaces import phone_region

# "all" is a decision about every channel at once (a global opt-out).
CHANNELS = ("email", "sms", "whatsapp", "rcs", "push", "web_push", "in_app", "all")
CONSENT = ("subscribed", "unsubscribed", "unknown")
ORDERS = {
    "NEWEST": (None, True),
    "OLDEST": (None, False),
    "RECENTLY_ACTIVE": ("last_active_at", True),
    "LEAST_RECENTLY_ACTIVE": ("last_active_at", False),
}
MAX_TAGS = 100


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
        query["location_id"] = parse_id(location_id) or "no-such-location"
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
    oid = parse_id(contact_id)
    if oid is None:
        return None
    contact = await Contact.find_one({"_id": oid, "workspace_id": ctx.workspace_id})
    if contact is None:
        survivor = await resolve_contact_id(ctx.workspace_id, oid)
        if survivor != oid:
            contact = await Contact.find_one({"_id": survivor, "workspace_id": ctx.workspace_id})
    return contact


async def _reload(ctx: RequestContext, contact_id: PydanticObjectId) -> Contact:
    """The contact as stored after a change (scoped, like every query)."""
    return await Contact.find_one({"_id": contact_id, "workspace_id": ctx.workspace_id})


async def _existing(ctx: RequestContext, contact_id: str) -> Contact:
    contact = await get_contact(ctx, contact_id)
    if contact is None:
        raise NotFound("Contact not found.", field="id")
    return contact


async def list_events(
    ctx: RequestContext, contact: Contact, first: int | None, after: str | None, name: str | None
) -> Page:
    ctx.require(Permission.READ)
    query: dict[str, Any] = {"workspace_id": ctx.workspace_id, "contact_id": contact.id}
    if name:
        query["event"] = name
    return await paginate(Event, query, first, after, newest_first=True, sort_field="timestamp")


async def _identifiers(ctx: RequestContext, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if data.get("email") is not None:
        out["email"] = normalize_email(data["email"])
    if data.get("phone") is not None:
        region = await phone_region(ctx.workspace_id)
        try:
            out["phone"] = normalize_phone(data["phone"], region)
        except InvalidInput as error:
            raise InvalidInput(error.message, field="phone") from error
    if data.get("user_id") is not None:
        out["user_id"] = normalize_id(data["user_id"], "userId")
    return out


async def _properties(ctx: RequestContext, raw: dict[str, Any] | None) -> dict[str, Any]:
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput("properties must be an object.", field="properties")
    props, errors = normalize_properties(raw, await custom_fields(ctx.workspace_id), "properties")
    if errors:
        raise errors[0]
    return props


def _conflict(error: DuplicateKeyError) -> Conflict:
    taken = str((error.details or {}).get("keyValue", {}).get("identity_keys") or error)
    for kind in ("user_id", "email", "phone"):
        if f"{KEY_PREFIX[kind]}:" in taken:
            field = "userId" if kind == "user_id" else kind
            return Conflict(f"Another contact has this {kind.replace('_', ' ')}.", field=field)
    return Conflict("Another contact has one of these identifiers.")


async def create_contact(ctx: RequestContext, data: dict[str, Any]) -> Contact:
    ctx.require(Permission.WRITE)
    identifiers = await _identifiers(ctx, data)
    anonymous = data.get("anonymous_id")
    if not identifiers and not anonymous:
        raise InvalidInput("A contact needs a userId, email, phone or anonymousId.", field="email")
    props = await _properties(ctx, data.get("properties"))
    location = None
    if data.get("location_id") is not None:
        location = await get_location(ctx, data["location_id"])
        if location is None:
            raise NotFound("Location not found.", field="locationId")
    now = datetime.now(UTC)
    contact = Contact(
        workspace_id=ctx.workspace_id,
        anonymous_ids=[normalize_id(anonymous, "anonymousId")] if anonymous else [],
        properties={k: v for k, v in props.items() if v is not None},
        property_times={k: now for k, v in props.items() if v is not None},
        tags=sorted({clean_tag(t, "tags") for t in data.get("tags") or []}),
        location_id=location.id if location else None,
        **identifiers,
    )
    try:
        await contact.insert()
    except DuplicateKeyError as error:
        raise _conflict(error) from error
    await membership.reevaluate(ctx.workspace_id, {str(contact.id): {membership.ALL}})
    return await _reload(ctx, contact.id)


async def update_contact(ctx: RequestContext, contact_id: str, data: dict[str, Any]) -> Contact:
    """Identifiers are replaced; properties are a merge-patch (a null value removes a key)."""
    ctx.require(Permission.WRITE)
    contact = await _existing(ctx, contact_id)
    identifiers = await _identifiers(ctx, data)
    props = await _properties(ctx, data.get("properties"))
    now = datetime.now(UTC)
    sets: dict[str, Any] = {"updated_at": now, **identifiers}
    current = {"_id": contact.id, **contact.model_dump(), **identifiers}
    if identifiers:
        sets["identity_keys"] = identity_keys(current)
    current["properties"] = {
        **contact.properties,
        **{k: v for k, v in props.items() if v is not None},
    }
    for key in (k for k, v in props.items() if v is None):
        current["properties"].pop(key, None)
    sets["search_keys"] = contact_search.search_keys(current)
    unsets: dict[str, str] = {}
    for key, value in props.items():
        sets[f"property_times.{key}"] = now
        if value is None:
            unsets[f"properties.{key}"] = ""
        else:
            sets[f"properties.{key}"] = value
    if "location_id" in data:
        if data["location_id"] is None:
            sets["location_id"] = None
        else:
            location = await get_location(ctx, data["location_id"])
            if location is None:
                raise NotFound("Location not found.", field="locationId")
            sets["location_id"] = location.id
    update: dict[str, Any] = {"$set": sets}
    if unsets:
        update["$unset"] = unsets
    try:
        await Contact.get_pymongo_collection().update_one(
            {"_id": contact.id, "workspace_id": ctx.workspace_id}, update
        )
    except DuplicateKeyError as error:
        raise _conflict(error) from error
    refs = {("field", kind) for kind in identifiers} | {("property", key) for key in props}
    if "location_id" in sets:
        refs.add(("field", "location_id"))
    await membership.reevaluate(ctx.workspace_id, {str(contact.id): refs})
    return await _reload(ctx, contact.id)


async def tag_contact(ctx: RequestContext, contact_id: str, tags: list[str], add: bool) -> Contact:
    ctx.require(Permission.WRITE)
    contact = await _existing(ctx, contact_id)
    cleaned = sorted({clean_tag(t, "tags") for t in tags})
    if add and len(set(contact.tags) | set(cleaned)) > MAX_TAGS:
        raise InvalidInput(f"A contact may have at most {MAX_TAGS} tags.", field="tags")
    operator = (
        {"$addToSet": {"tags": {"$each": cleaned}}}
        if add
        else {"$pull": {"tags": {"$in": cleaned}}}
    )
    await Contact.get_pymongo_collection().update_one(
        {"_id": contact.id, "workspace_id": ctx.workspace_id},
        {**operator, "$set": {"updated_at": datetime.now(UTC)}},
    )
    refs = {("tag", t) for t in cleaned}
    await membership.reevaluate(ctx.workspace_id, {str(contact.id): refs})
    return await _reload(ctx, contact.id)


async def set_consent(
    ctx: RequestContext, contact_id: str, channel: str, status: str, source: str
) -> Contact:
    ctx.require(Permission.WRITE)
    if channel not in CHANNELS:
        raise InvalidInput(f"Channel must be one of {', '.join(CHANNELS)}.", field="channel")
    if status not in CONSENT:
        raise InvalidInput(f"Status must be one of {', '.join(CONSENT)}.", field="status")
    contact = await _existing(ctx, contact_id)
    now = datetime.now(UTC)
    decision = {"status": status, "at": now, "source": clean_name(source, "source", 64)}
    await Contact.get_pymongo_collection().update_one(
        {"_id": contact.id, "workspace_id": ctx.workspace_id},
        {"$set": {f"consent.{channel}": decision, "updated_at": now}},
    )
    await membership.reevaluate(ctx.workspace_id, {str(contact.id): {("consent", channel)}})
    return await _reload(ctx, contact.id)


async def delete_contact(ctx: RequestContext, contact_id: str) -> str:
    """GDPR erasure: the contact, its events and aliases go; an audit entry without
    personal data stays."""
    ctx.require(Permission.ADMIN)
    contact = await _existing(ctx, contact_id)
    scope = {"workspace_id": ctx.workspace_id}
    erased = await Event.get_pymongo_collection().delete_many({**scope, "contact_id": contact.id})
    await ContactAlias.get_pymongo_collection().delete_many({**scope, "contact_id": contact.id})
    await Contact.get_pymongo_collection().delete_one({**scope, "_id": contact.id})
    await membership.contact_deleted(ctx.workspace_id, contact.segments)
    await audit.record(
        ctx.principal,
        "contact.erased",
        "contact",
        contact.id,
        {"events_erased": erased.deleted_count},
    )
    return str(contact.id)


async def list_custom_fields(ctx: RequestContext) -> list[CustomField]:
    ctx.require(Permission.READ)
    return await CustomField.find({"workspace_id": ctx.workspace_id}).sort("key").to_list()


async def define_custom_field(
    ctx: RequestContext, key: str, field_type: str, label: str
) -> CustomField:
    """Declare (or re-label / re-type) a custom property; values are coerced from then on."""
    ctx.require(Permission.ADMIN)
    check_key(key, "key")
    if field_type not in FIELD_TYPES:
        raise InvalidInput(f"Type must be one of {', '.join(FIELD_TYPES)}.", field="type")
    label = clean_name(label, "label") if label else key
    await CustomField.get_pymongo_collection().update_one(
        {"workspace_id": ctx.workspace_id, "key": key},
        {
            "$set": {"type": field_type, "label": label},
            "$setOnInsert": {"created_at": datetime.now(UTC)},
        },
        upsert=True,
    )
    await audit.record(
        ctx.principal, "custom_field.defined", "custom_field", key, {"type": field_type}
    )
    return await CustomField.find_one({"workspace_id": ctx.workspace_id, "key": key})


async def delete_custom_field(ctx: RequestContext, key: str) -> None:
    ctx.require(Permission.ADMIN)
    result = await CustomField.get_pymongo_collection().delete_one(
        {"workspace_id": ctx.workspace_id, "key": key}
    )
    if not result.deleted_count:
        raise NotFound("No such custom field.", field="key")
    await audit.record(ctx.principal, "custom_field.deleted", "custom_field", key)
