"""Schema upgrades applied on start, before Beanie creates the declared indexes.

Contacts before identity_keys had one unique partial index per identifier, filtered by
`$type: "string"`, which MongoDB's planner never uses for an equality or `$in` (its
`isSubsetOf` has no `$type` rule). Such a database gets `identity_keys` written on every
contact and those indexes dropped; the new unique index is then built over the keys.
"""

from __future__ import annotations

import logging

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

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
BATCH = 1000


async def upgrade(database: AsyncDatabase) -> None:
    if "contacts" not in await database.list_collection_names():
        return
    contacts = database["contacts"]
    names = {index["name"] async for index in await contacts.list_indexes()}
    legacy = [name for name in LEGACY_CONTACT_INDEXES if name in names]
    if not legacy:
        return
    if "identity_user_id" in legacy:
        written = await _backfill_identity_keys(contacts)
        log.info("upgrade: identity_keys written on %d contacts", written)
    for name in legacy:
        await contacts.drop_index(name)
    log.info("upgrade: dropped contact indexes %s", ", ".join(legacy))


async def _backfill_identity_keys(contacts) -> int:
    """One pass in _id order (a one-off scan, run once per database)."""
    projection = {"user_id": 1, "email": 1, "phone": 1, "anonymous_ids": 1}
    written = 0
    batch: list[UpdateOne] = []
    async for doc in contacts.find({}, projection).sort("_id", 1):
        batch.append(
            UpdateOne({"_id": doc["_id"]}, {"$set": {"identity_keys": identity_keys(doc)}})
        )
        if len(batch) >= BATCH:
            written += (await contacts.bulk_write(batch, ordered=False)).modified_count
            batch = []
    if batch:
        written += (await contacts.bulk_write(batch, ordered=False)).modified_count
    return written
