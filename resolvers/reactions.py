"""Reactions to stored events: journey triggers, waits and exits, triggered campaigns and
conversion goals all start here.

Whoever stores events (ingest, segment transitions, engagement) calls `events_stored`.
It costs one indexed query when nobody listens to those event names; otherwise it hands
the matching event ids to the `react_to_events` actor, so reacting never slows the
request that stored them and a failed reaction is retried by the queue.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from beanie import PydanticObjectId
from pymongo import ReplaceOne

from documents.event import Event
from documents.listener import Listener
from resolvers import jobs

log = logging.getLogger("reach.reactions")

PURPOSES = ("trigger", "wait", "exit", "goal")
CHUNK = 500


async def listen(
    workspace_id: PydanticObjectId, owner: str, wanted: dict[str, Iterable[str]]
) -> None:
    """Make `owner`'s listeners exactly `wanted` (purpose -> event names)."""
    rows = {
        (purpose, name)
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


async def events_stored(workspace_id: PydanticObjectId, events: Iterable[dict[str, Any]]) -> None:
    """Called with the event documents just inserted (new ones only, never duplicates)."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for event in events:
        name = event.get("event")
        if name:
            by_name[name].append(str(event["_id"]))
    if not by_name:
        return
    names = await Listener.get_pymongo_collection().distinct(
        "event", {"workspace_id": workspace_id, "event": {"$in": sorted(by_name)}}
    )
    ids = [event_id for name in names for event_id in by_name[name]]
    for start in range(0, len(ids), CHUNK):
        await jobs.enqueue("react_to_events", str(workspace_id), ids[start : start + CHUNK])


async def react(workspace_id: str, event_ids: list[str]) -> None:
    """The actor's body: load the events and their listeners, hand each owner kind its share."""
    # Imported here: those modules register listeners through this one.
    from resolvers import campaign_triggers, journey_runner

    wid = PydanticObjectId(workspace_id)
    ids = [PydanticObjectId(i) for i in event_ids]
    events = (
        await Event.get_pymongo_collection()
        .find({"_id": {"$in": ids}, "workspace_id": wid})
        .sort("timestamp", 1)
        .to_list(None)
    )
    if not events:
        return
    names = sorted({e["event"] for e in events if e.get("event")})
    listeners = await Listener.find({"workspace_id": wid, "event": {"$in": names}}).to_list()
    by_kind: dict[str, list[Listener]] = defaultdict(list)
    for listener in listeners:
        by_kind[listener.owner.split(":", 1)[0]].append(listener)
    if by_kind.get("journey"):
        await journey_runner.on_events(wid, events, by_kind["journey"])
    if by_kind.get("campaign"):
        await campaign_triggers.on_events(wid, events, by_kind["campaign"])
