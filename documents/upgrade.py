"""Schema upgrades applied on start, before Beanie creates the declared indexes.

Contacts before identity_keys had one unique partial index per identifier, filtered by
`$type: "string"`, which MongoDB's planner never uses for an equality or `$in` (its
`isSubsetOf` has no `$type` rule), and were searched by `$or` of regexes. Such a
database gets `identity_keys` and `search_keys` written on every contact and the old
indexes dropped; the new indexes are then built over the keys.

Events before name keys were compared by their name as sent, so "Order Completed" never
met a rule, goal or trigger on order_completed. Such a database gets `name_key` written
on every event (one update per workspace and name, on the old (workspace_id, event)
index, before it is dropped), the contacts' event_stats re-keyed by name key (aggregates
of one key combined), and the listener rows and segment references that name events
re-keyed too; init_beanie then builds the name_key indexes.
"""

from __future__ import annotations

import logging

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from engine import contact_search
from engine.event_names import name_key
from engine.identity import identity_keys
from engine.stats import rekey_stats

log = logging.getLogger(__name__)

# Replaced by the identity_keys index and by the `..., _id` list indexes.
LEGACY_CONTACT_INDEXES = (
    "identity_user_id",
    "identity_email",
    "identity_phone",
    "identity_anonymous_ids",
    "workspace_id_1_tags_1",
    "workspace_id_1_segments_1",
    "workspace_id_1_location_id_1",
)
SEARCH_INDEX = "workspace_id_1_search_keys_1"  # built by init_beanie after the backfill
BATCH = 1000

# Events were indexed by name as sent; the indexes on name_key replace them.
LEGACY_EVENT_INDEXES = (
    "workspace_id_1_contact_id_1_event_1_timestamp_-1__id_-1",
    "workspace_id_1_event_1_timestamp_-1",
)
NAME_KEY_INDEX = "workspace_id_1_name_key_1_timestamp_-1"  # built by init_beanie after


# Indexes of other collections replaced by longer ones (Beanie never drops an index).
LEGACY_INDEXES = {
    "journeys": ("workspace_id_1_status_1",),
    "enrollments": (
        "workspace_id_1_journey_id_1_status_1_node_id_1",
        "workspace_id_1_contact_id_1_status_1",
    ),
    "segments": ("workspace_id_1_time_dependent_1",),
    "memberships": ("user_id_1",),
    "outbound_messages": ("workspace_id_1_source_id_1_status_1",),
    "campaigns": ("workspace_id_1_status_1",),
}


async def upgrade(database: AsyncDatabase) -> None:
    collections = set(await database.list_collection_names())
    for name, legacy in LEGACY_INDEXES.items():
        if name in collections:
            await _drop(database[name], legacy)
    if "events" in collections:
        await _key_event_names(database, collections)
    if "contacts" not in collections:
        return
    contacts = database["contacts"]
    names = {index["name"] async for index in await contacts.list_indexes()}
    legacy = [name for name in LEGACY_CONTACT_INDEXES if name in names]
    if "identity_user_id" in legacy or SEARCH_INDEX not in names:
        written = await _backfill_keys(contacts)
        log.info("upgrade: identity and search keys written on %d contacts", written)
    for name in legacy:
        await contacts.drop_index(name)
    if legacy:
        log.info("upgrade: dropped contact indexes %s", ", ".join(legacy))


async def _backfill_keys(contacts) -> int:
    """One pass in _id order (a one-off scan, run once per database)."""
    projection = {"user_id": 1, "email": 1, "phone": 1, "anonymous_ids": 1}
    projection.update({f"properties.{p}": 1 for p in contact_search.PROPERTIES})

    async def updates():
        async for doc in contacts.find({}, projection).sort("_id", 1):
            keys = {
                "identity_keys": identity_keys(doc),
                "search_keys": contact_search.search_keys(doc),
            }
            yield UpdateOne({"_id": doc["_id"]}, {"$set": keys})

    return await _write_in_batches(contacts, updates())


async def _write_in_batches(collection, updates) -> int:
    """Bulk-write an async stream of updates BATCH at a time; the documents modified."""
    written = 0
    batch: list[UpdateOne] = []
    async for update in updates:
        batch.append(update)
        if len(batch) >= BATCH:
            written += (await collection.bulk_write(batch, ordered=False)).modified_count
            batch = []
    if batch:
        written += (await collection.bulk_write(batch, ordered=False)).modified_count
    return written


async def _drop(collection, legacy: tuple[str, ...]) -> None:
    names = {index["name"] async for index in await collection.list_indexes()}
    for name in legacy:
        if name in names:
            await collection.drop_index(name)
            log.info("upgrade: dropped index %s.%s", collection.name, name)


async def _key_event_names(database: AsyncDatabase, collections: set[str]) -> None:
    """Name keys on events, contact aggregates, listeners and segment references, once:
    a database whose events have the name_key index has them (every step is idempotent,
    so an upgrade interrupted half-way is finished by the next start)."""
    events = database["events"]
    names = {index["name"] async for index in await events.list_indexes()}
    if NAME_KEY_INDEX in names:
        return
    pairs = await (
        await events.aggregate(
            [
                {"$match": {"event": {"$type": "string"}}},
                {"$group": {"_id": {"w": "$workspace_id", "e": "$event"}}},
            ]
        )
    ).to_list(None)
    for pair in pairs:
        workspace_id, name = pair["_id"]["w"], pair["_id"]["e"]
        await events.update_many(
            {"workspace_id": workspace_id, "event": name},
            {"$set": {"name_key": name_key(name)}},
        )
    log.info("upgrade: name keys written on events of %d names", len(pairs))
    if "contacts" in collections:
        written = await _rekey_stats(database["contacts"])
        log.info("upgrade: event aggregates re-keyed on %d contacts", written)
    if "listeners" in collections:
        await _rekey_listeners(database["listeners"])
    if "segments" in collections:
        await _rekey_references(database["segments"])
    await _drop(events, LEGACY_EVENT_INDEXES)


async def _rekey_stats(contacts) -> int:
    """One pass in _id order over contacts with aggregates (a one-off scan)."""
    cursor = contacts.find({"event_stats": {"$gt": {}}}, {"event_stats": 1}).sort("_id", 1)

    async def updates():
        async for doc in cursor:
            stats = doc.get("event_stats") or {}
            keyed = rekey_stats(stats)
            if keyed != stats:
                yield UpdateOne({"_id": doc["_id"]}, {"$set": {"event_stats": keyed}})

    return await _write_in_batches(contacts, updates())


async def _rekey_listeners(listeners) -> None:
    async for row in listeners.find({}, {"event": 1}):
        key = name_key(row["event"])
        if key == row["event"]:
            continue
        try:
            await listeners.update_one({"_id": row["_id"]}, {"$set": {"event": key}})
        except DuplicateKeyError:  # the owner listens to the key already, for that purpose
            await listeners.delete_one({"_id": row["_id"]})


async def _rekey_references(segments) -> None:
    async for row in segments.find({"references": {"$regex": "^event:"}}, {"references": 1}):
        refs = [
            f"event:{name_key(r[len('event:') :])}" if r.startswith("event:") else r
            for r in row["references"]
        ]
        if refs != row["references"]:
            await segments.update_one(
                {"_id": row["_id"]}, {"$set": {"references": sorted(set(refs))}}
            )
