"""Merging two stored contacts: one transaction of work, the merged-away id kept as an alias."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import OperationFailure

from documents.contact import Contact, ContactAlias
from documents.event import Event
from engine.identity import merge_documents
from resolvers.core import runtime
from resolvers.partners import outbox

log = logging.getLogger("reach.identity")


async def in_transaction(work: Callable[[Any], Awaitable[None]]) -> None:
    """Run `work(session)` in a transaction where the server supports them (replica sets,
    mongoeco); a standalone mongod gets the same steps in a crash-tolerant order."""
    client = runtime.get().mongo
    async with client.start_session() as session:
        try:
            async with await session.start_transaction():
                await work(session)
            return
        except OperationFailure as error:
            if error.code not in (20, 263):  # IllegalOperation: no transactions here
                raise
            log.warning("transactions unsupported; merging without one")
    await work(None)


async def merge_contacts(
    workspace_id: PydanticObjectId, survivor_id: PydanticObjectId, loser_id: PydanticObjectId
) -> None:
    """Fold `loser` into `survivor`: fields merged, events re-pointed, loser's id aliased."""
    contacts = Contact.get_pymongo_collection()
    events = Event.get_pymongo_collection()
    aliases = ContactAlias.get_pymongo_collection()

    merged_now: list[bool] = []  # set by the transaction that really merged

    async def work(session) -> None:
        merged_now.clear()
        survivor = await contacts.find_one(
            {"_id": survivor_id, "workspace_id": workspace_id}, session=session
        )
        loser = await contacts.find_one(
            {"_id": loser_id, "workspace_id": workspace_id}, session=session
        )
        if survivor is None or loser is None:
            return  # merged already (a retried batch)
        merged_now.append(True)
        merged = merge_documents(survivor, loser)
        merged["updated_at"] = datetime.now(UTC)
        # Alias first, so the loser's id resolves whatever happens next.
        await aliases.update_one(
            {"workspace_id": workspace_id, "merged_id": loser_id},
            {
                "$set": {"contact_id": survivor_id},
                "$setOnInsert": {"created_at": datetime.now(UTC)},
            },
            upsert=True,
            session=session,
        )
        await aliases.update_many(
            {"workspace_id": workspace_id, "contact_id": loser_id},
            {"$set": {"contact_id": survivor_id}},
            session=session,
        )
        await events.update_many(
            {"workspace_id": workspace_id, "contact_id": loser_id},
            {"$set": {"contact_id": survivor_id}},
            session=session,
        )
        # The loser goes before the survivor takes its identifiers (unique indexes).
        await contacts.delete_one({"_id": loser_id, "workspace_id": workspace_id}, session=session)
        await contacts.update_one(
            {"_id": survivor_id, "workspace_id": workspace_id}, {"$set": merged}, session=session
        )

    await in_transaction(work)
    if merged_now:
        await outbox.emit(
            workspace_id,
            "contact.merged",
            {"contact_id": str(survivor_id), "merged_contact_id": str(loser_id)},
        )


async def resolve_contact_id(
    workspace_id: PydanticObjectId, contact_id: PydanticObjectId
) -> PydanticObjectId:
    """A contact id, following the alias of a merged-away contact."""
    alias = await ContactAlias.find_one({"workspace_id": workspace_id, "merged_id": contact_id})
    return alias.contact_id if alias else contact_id
