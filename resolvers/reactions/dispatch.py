"""Reactions to stored events: journey triggers, waits and exits, triggered campaigns and
conversion goals all start here.

This module sits low in the stack and knows no domain above it: each reacting domain
registers a handler for its listener kind (its own `listeners.py`), and `reach.wiring`
does that once at start-up. Events with listeners of an unregistered kind raise
`Unwired`, so a handler nobody wired fails loudly instead of never running.

Whoever stores events (ingest, segment transitions, engagement) calls `events_stored`.
It costs one indexed query when nobody listens to those event names; otherwise it hands
the matching event ids to the `react_to_events` actor, so reacting never slows the
request that stored them and a failed reaction is retried by the queue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from beanie import PydanticObjectId

from documents.event import Event
from documents.listener import Listener
from engine.event_names import name_key
from resolvers.core import jobs
from resolvers.reactions import table

CHUNK = 500

# A handler gets the stored events (oldest first) and the listeners of its kind among them.
Handler = Callable[[PydanticObjectId, list[dict[str, Any]], list[Listener]], Awaitable[None]]

_handlers: dict[str, Handler] = {}


class Unwired(RuntimeError):
    """Stored events have listeners of a kind that no domain registered a handler for."""


def register(kind: str, handler: Handler) -> None:
    """Say which function handles listeners of `kind` (owners named "<kind>:<id>").

    Called once per kind from the composition root (reach.wiring); registering a
    different handler for a kind that has one is a wiring mistake and raises."""
    current = _handlers.get(kind)
    if current is not None and current is not handler:
        raise ValueError(f"listener kind {kind!r} already has a handler: {current.__qualname__}")
    _handlers[kind] = handler


def handled_kinds() -> list[str]:
    return list(_handlers)


def key_of(event: dict[str, Any]) -> str | None:
    """The name key listeners are stored under (engine.event_names)."""
    name = event.get("event")
    return event.get("name_key") or (name_key(name) if name else None)


async def events_stored(workspace_id: PydanticObjectId, events: Iterable[dict[str, Any]]) -> None:
    """Called with the event documents just inserted (new ones only, never duplicates)."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for event in events:
        name = key_of(event)
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
    """The actor's body: load the events and their listeners, hand each kind its share."""
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
    names = sorted({key for key in map(key_of, events) if key})
    listeners = await Listener.find({"workspace_id": wid, "event": {"$in": names}}).to_list()
    by_kind: dict[str, list[Listener]] = defaultdict(list)
    for listener in listeners:
        by_kind[table.kind_of(listener.owner)].append(listener)
    for kind, handler in _handlers.items():  # registration order: journeys, then campaigns
        if by_kind.get(kind):
            await handler(wid, events, by_kind[kind])
    unhandled = sorted(set(by_kind) - set(_handlers))
    if unhandled:
        # Raised after the wired kinds ran (handlers are idempotent, so the retry that
        # follows repeats nothing): the actor fails, and its log names what was never wired.
        raise Unwired(
            f"listeners of kind {', '.join(unhandled)} have no handler; "
            "register one with resolvers.reactions.dispatch.register at start-up"
        )
