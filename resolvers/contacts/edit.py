"""Edit contacts of the caller's workspace: create, update, tag, consent, erase."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from documents.contact import Contact, ContactAlias
from documents.event import Event
from engine import contact_search
from engine.access import Permission
from engine.errors import Conflict, InvalidInput, NotFound
from engine.identifiers import normalize_email, normalize_id, normalize_phone
from engine.identity import KEY_PREFIX, identity_keys
from engine.names import clean_name
from engine.traits import normalize_properties
from resolvers.accounts.custom_fields import custom_fields
from resolvers.accounts.locations import get_location
from resolvers.accounts.workspaces import phone_region
from resolvers.contacts.read import clean_tag, get_contact
from resolvers.core import audit
from resolvers.core.context import RequestContext
from resolvers.segments import membership

# "all" is a decision about every channel at once (a global opt-out).
CHANNELS = ("email", "sms", "whatsapp", "rcs", "push", "web_push", "in_app", "all")


CONSENT = ("subscribed", "unsubscribed", "unknown")


MAX_TAGS = 100


async def _reload(ctx: RequestContext, contact_id: PydanticObjectId) -> Contact:
    """The contact as stored after a change (scoped, like every query)."""
    return await Contact.find_one({"_id": contact_id, "workspace_id": ctx.workspace_id})


async def _existing(ctx: RequestContext, contact_id: str) -> Contact:
    contact = await get_contact(ctx, contact_id)
    if contact is None:
        raise NotFound("Contact not found.", field="id")
    return contact


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
