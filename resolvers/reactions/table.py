"""The listener table: which owner (a journey or a campaign) waits for which event names,
and for what purpose (trigger, wait, exit, goal).
"""

from __future__ import annotations

from collections.abc import Iterable

from beanie import PydanticObjectId
from pymongo import ReplaceOne

from documents.listener import Listener
from engine.event_names import name_key

PURPOSES = ("trigger", "wait", "exit", "goal")


def owner(kind: str, owner_id: object) -> str:
    """The owner name of a listener row: "<kind>:<id>", e.g. "journey:65f…"."""
    return f"{kind}:{owner_id}"


def kind_of(owner_name: str) -> str:
    return owner_name.split(":", 1)[0]


def owner_id(owner_name: str) -> str:
    return owner_name.split(":", 1)[1]


async def listen(
    workspace_id: PydanticObjectId, owner: str, wanted: dict[str, Iterable[str]]
) -> None:
    """Make `owner`'s listeners exactly `wanted` (purpose -> event names), stored as
    name keys so that an event matches however its name is written."""
    rows = {
        (purpose, name_key(name))
        for purpose, names in wanted.items()
        for name in names
        if purpose in PURPOSES and name
    }
    collection = Listener.get_pymongo_collection()
    # Read the owner's listeners and delete the unwanted ones by _id: a `$nor` of the
    # wanted pairs would be served by no index.
    stored = collection.find({"workspace_id": workspace_id, "owner": owner})
    stale = [r["_id"] async for r in stored if (r["purpose"], r["event"]) not in rows]
    if stale:
        await collection.delete_many({"_id": {"$in": stale}, "workspace_id": workspace_id})
    if rows:
        await collection.bulk_write(
            [
                ReplaceOne(
                    {"workspace_id": workspace_id, "owner": owner, "purpose": p, "event": e},
                    {"workspace_id": workspace_id, "owner": owner, "purpose": p, "event": e},
                    upsert=True,
                )
                for p, e in sorted(rows)
            ],
            ordered=False,
        )


async def stop_listening(workspace_id: PydanticObjectId, owner: str) -> None:
    await Listener.get_pymongo_collection().delete_many(
        {"workspace_id": workspace_id, "owner": owner}
    )
