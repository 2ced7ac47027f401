"""The contact side of ingestion: load the contacts a batch names, insert new ones, apply trait
updates.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from documents.contact import Contact
from engine import contact_search
from engine.activity import activity_field
from engine.identity import ContactRef, IdentityIndex, identity_key, identity_keys
from engine.messages import profile_traits, push_device
from engine.payload_limits import chunks
from engine.segments.evaluate import where_matches
from engine.stats import display_names, stats_name, stats_update
from engine.traits import FieldDef, normalize_properties
from resolvers.events.batch import IngestResult, Parsed, Problem, RaceLost
from resolvers.partners import outbox

DUPLICATE_KEY = 11000


NEVER = datetime(1970, 1, 1, tzinfo=UTC)


async def load_contacts(workspace_id: PydanticObjectId, parsed: list[Parsed]) -> list[dict]:
    """The stored contacts known by any identifier in the batch: one query on the
    identity_keys index per IN_CHUNK keys (a batch of 2,500 users names up to 10,000)."""
    wanted: set[str] = set()
    for item in parsed:
        wanted.update(identity_key(kind, value) for kind, value in item.identity.pairs())
        if item.message.type == "alias":
            wanted.add(identity_key("user_id", item.message.previous_id))
    found: dict[Any, dict] = {}
    collection = Contact.get_pymongo_collection()
    for keys in chunks(sorted(wanted)):
        query = {"workspace_id": workspace_id, "identity_keys": {"$in": list(keys)}}
        for doc in await collection.find(query).to_list(None):
            found[doc["_id"]] = doc  # a contact named by keys of two chunks comes once
    return list(found.values())


async def insert_new_contacts(
    workspace_id: PydanticObjectId, refs: list[ContactRef]
) -> dict[str, str]:
    if not refs:
        return {}
    now = datetime.now(UTC)
    documents = []
    for ref in refs:
        contact_id = PydanticObjectId()
        documents.append(
            {
                "_id": contact_id,
                "workspace_id": workspace_id,
                "user_id": ref.user_id,
                "email": ref.email,
                "phone": ref.phone,
                "anonymous_ids": sorted(ref.anonymous_ids),
                "properties": {},
                "property_times": {},
                "tags": [],
                "segments": [],
                "consent": {},
                "event_stats": {},
                "location_id": None,
                "created_at": now,
                # Raised to the latest event's time by the update that follows ($max).
                "last_active_at": NEVER,
                "updated_at": now,
            }
        )
        documents[-1]["identity_keys"] = identity_keys(documents[-1])
        documents[-1]["search_keys"] = contact_search.search_keys(documents[-1])
    try:
        await Contact.get_pymongo_collection().insert_many(documents, ordered=False)
    except BulkWriteError as error:
        if any(e["code"] == DUPLICATE_KEY for e in error.details["writeErrors"]):
            raise RaceLost from error
        raise
    await outbox.emit_many(
        workspace_id,
        [("contact.created", _partner_view(doc)) for doc in documents],
    )
    return {ref.key: str(doc["_id"]) for ref, doc in zip(refs, documents, strict=True)}


def _partner_view(contact: dict[str, Any]) -> dict[str, Any]:
    return {
        "contact_id": str(contact["_id"]),
        "user_id": contact["user_id"],
        "email": contact["email"],
        "phone": contact["phone"],
    }


async def update_contacts(
    workspace_id: PydanticObjectId,
    parsed: list[Parsed],
    inserted: dict[int, dict[str, Any]],
    docs: dict[str, dict],
    index: IdentityIndex,
    fields: dict[str, FieldDef],
    result: IngestResult,
    event_filters: dict[str, list[tuple[str, list]]] | None = None,
) -> dict[str, set[tuple[str, str]]]:
    """One bulk write: properties (latest write wins), identifiers, activity, aggregates.

    Returns what changed on each contact, as segment references, so that only the
    segments reading those are re-evaluated."""
    event_filters = event_filters or {}
    changed: dict[str, set[tuple[str, str]]] = defaultdict(set)
    by_contact: dict[str, list[tuple[int, Parsed]]] = defaultdict(list)
    for position, item in enumerate(parsed):
        if position in inserted:
            by_contact[item.key].append((position, item))
    now = datetime.now(UTC)
    operations = []
    replaced: list[tuple[str, str, str]] = []  # (contact, kind, old value) to unindex
    failed: set[str] = set()
    for contact_id, items in by_contact.items():
        stored = docs.get(contact_id, {})
        times = dict(stored.get("property_times") or {})
        sets: dict[str, Any] = {"updated_at": now}
        unsets: dict[str, str] = {}
        occurrences = []
        devices: list[dict[str, str]] = []
        # The contact's own activity and Reach's sends move different dates (engine.activity).
        latest: dict[str, datetime] = {}
        for _, item in items:
            field = activity_field(item.message.type, item.message.event)
            if field and item.message.timestamp > latest.get(field, NEVER):
                latest[field] = item.message.timestamp
                changed[contact_id].add(("field", field))
        for _, item in sorted(items, key=lambda pair: pair[1].message.timestamp):
            message = item.message
            name = stats_name(message.type, message.event)
            if name:
                occurrences.append((name, message.timestamp))
                if message.type == "track":  # the aggregate keeps the name as sent
                    sets.update(display_names([(name, message.event)]))
                changed[contact_id].add(("event", name))
                # Aggregates of behaviour conditions with `where` (see engine.segments).
                for key, where in event_filters.get(name, []):
                    if where_matches(where, message.properties, now):
                        occurrences.append((key, message.timestamp))
            device = push_device(message.context)
            if device and device not in devices and device not in stored.get("devices", []):
                devices.append(device)
            traits = profile_traits(message)
            if not traits:
                continue
            props, errors = normalize_properties(traits, fields, "traits")
            for error in errors:
                result.warnings.append(
                    Problem(item.index, message.message_id, error.message, error.field)
                )
            for key, value in props.items():
                known = times.get(key)
                if known is not None and known.tzinfo is None:
                    known = known.replace(tzinfo=UTC)
                if known is not None and message.timestamp < known:
                    continue  # an older write than the one stored
                times[key] = message.timestamp
                changed[contact_id].add(("property", key))
                sets[f"property_times.{key}"] = message.timestamp
                if value is None:
                    unsets[f"properties.{key}"] = ""
                    sets.pop(f"properties.{key}", None)
                else:
                    sets[f"properties.{key}"] = value
                    unsets.pop(f"properties.{key}", None)
        # Identifiers as resolved (dropped ones excluded); new contacts were inserted with them.
        ref = index.contacts.get(contact_id)
        anonymous: set[str] = set()
        new_keys: list[str] = []
        if ref is not None and stored:
            for kind in ("user_id", "email", "phone"):
                if getattr(ref, kind) and getattr(ref, kind) != stored.get(kind):
                    sets[kind] = getattr(ref, kind)
                    changed[contact_id].add(("field", kind))
                    new_keys.append(identity_key(kind, getattr(ref, kind)))
                    if stored.get(kind):
                        replaced.append((contact_id, kind, stored[kind]))
            anonymous = ref.anonymous_ids - set(stored.get("anonymous_ids") or [])
            if anonymous:
                changed[contact_id].add(("field", "anonymous_ids"))
                new_keys += [identity_key("anonymous_id", a) for a in sorted(anonymous)]
        update: dict[str, Any] = {"$set": sets, "$max": dict(latest)}
        if unsets:
            update["$unset"] = unsets
        if new_keys:
            update["$addToSet"] = {
                "anonymous_ids": {"$each": sorted(anonymous)},
                "identity_keys": {"$each": new_keys},
            }
        # Search keys of the values written (stale ones stay; search re-checks the fields).
        written = [sets.get(kind) for kind in contact_search.FIELDS]
        written += [sets.get(f"properties.{p}") for p in contact_search.PROPERTIES]
        found = sorted({k for k in map(contact_search.key, written) if k})
        if found:
            update.setdefault("$addToSet", {})["search_keys"] = {"$each": found}
        if devices:  # newest first, at most MAX_DEVICES (registerDevice keeps the same rule)
            update["$push"] = {"devices": {"$each": devices, "$position": 0, "$slice": 10}}
            changed[contact_id].add(("field", "devices"))
        stats = stats_update(occurrences)
        if stats:
            update["$inc"] = stats["$inc"]
            update["$min"] = stats["$min"]
            update["$max"].update(stats["$max"])
        if not update["$max"]:
            del update["$max"]
        operations.append(
            ({"_id": PydanticObjectId(contact_id), "workspace_id": workspace_id}, update)
        )
    if not operations:
        return changed
    collection = Contact.get_pymongo_collection()
    try:
        await collection.bulk_write([UpdateOne(f, u) for f, u in operations], ordered=False)
    except BulkWriteError as error:
        # An identifier taken meanwhile by a concurrent ingest: apply the rest without it.
        retry = []
        for problem in error.details["writeErrors"]:
            if problem["code"] != DUPLICATE_KEY:
                raise
            selector, update = operations[problem["index"]]
            for kind in ("user_id", "email", "phone"):
                update["$set"].pop(kind, None)
            adds = update.get("$addToSet", {})
            adds.pop("anonymous_ids", None)
            adds.pop("identity_keys", None)
            if not adds:
                update.pop("$addToSet", None)
            retry.append(UpdateOne(selector, update))
            failed.add(str(selector["_id"]))
        await collection.bulk_write(retry, ordered=False)
    await _drop_replaced_keys(workspace_id, [r for r in replaced if r[0] not in failed])
    return changed


async def _drop_replaced_keys(
    workspace_id: PydanticObjectId, replaced: list[tuple[str, str, str]]
) -> None:
    """Pull the key of an identifier the batch replaced (an email changed), unless a
    concurrent write put the old value back meanwhile."""
    if not replaced:
        return
    await Contact.get_pymongo_collection().bulk_write(
        [
            UpdateOne(
                {"_id": PydanticObjectId(cid), "workspace_id": workspace_id, kind: {"$ne": old}},
                {"$pull": {"identity_keys": identity_key(kind, old)}},
            )
            for cid, kind, old in replaced
        ],
        ordered=False,
    )
