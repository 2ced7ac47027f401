"""Schema upgrades applied on start, before Beanie creates the declared indexes.

Contacts before identity_keys had one unique partial index per identifier, filtered by
`$type: "string"`, which MongoDB's planner never uses for an equality or `$in` (its
`isSubsetOf` has no `$type` rule), and were searched by `$or` of regexes. Such a
database gets `identity_keys` and `search_keys` written on every contact and the old
indexes dropped; the new indexes are then built over the keys.
"""

from __future__ import annotations

import logging

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from engine import contact_search
from engine.identity import identity_keys

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
    written = 0
    batch: list[UpdateOne] = []
    async for doc in contacts.find({}, projection).sort("_id", 1):
        keys = {"identity_keys": identity_keys(doc), "search_keys": contact_search.search_keys(doc)}
        batch.append(UpdateOne({"_id": doc["_id"]}, {"$set": keys}))
        if len(batch) >= BATCH:
            written += (await contacts.bulk_write(batch, ordered=False)).modified_count
            batch = []
    if batch:
        written += (await contacts.bulk_write(batch, ordered=False)).modified_count
    return written


async def _drop(collection, legacy: tuple[str, ...]) -> None:
    names = {index["name"] async for index in await collection.list_indexes()}
    for name in legacy:
        if name in names:
            await collection.drop_index(name)
            log.info("upgrade: dropped index %s.%s", collection.name, name)
