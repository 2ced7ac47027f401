"""Segment transitions: a contact entering or exiting, recorded as membership, an event and a
live count.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo import UpdateOne

from documents.contact import Contact
from documents.event import Event
from documents.segment import Segment
from engine.messages import parse_message
from engine.stats import stats_update
from resolvers.core import live, runtime
from resolvers.partners import outbox
from resolvers.reactions import dispatch

ENTERED = "segment_entered"


EXITED = "segment_exited"


LOCK_SECONDS = 120  # a segment's transition lock lives this long after its last renewal


def count_topic(segment_id: Any) -> str:
    return f"segment:{segment_id}:count"


def changes_topic(segment_id: Any) -> str:
    return f"segment:{segment_id}:changes"


@dataclass
class Transitions:
    """What one call changed: segment id -> contact ids."""

    entered: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    exited: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, other: Transitions) -> None:
        for sid, ids in other.entered.items():
            self.entered[sid].extend(ids)
        for sid, ids in other.exited.items():
            self.exited[sid].extend(ids)

    def __bool__(self) -> bool:
        return any(self.entered.values()) or any(self.exited.values())


@dataclass
class Move:
    """Contacts to move in and out of one segment."""

    segment: Segment
    entered: list[PydanticObjectId]
    exited: list[PydanticObjectId]


async def apply(
    workspace_id: PydanticObjectId,
    segment: Segment,
    entered: Iterable[PydanticObjectId],
    exited: Iterable[PydanticObjectId],
    now: datetime | None = None,
) -> tuple[list[PydanticObjectId], list[PydanticObjectId]]:
    """Move contacts in and out of one segment (see apply_many)."""
    moved = await apply_many(workspace_id, [Move(segment, list(entered), list(exited))], now)
    return moved.get(str(segment.id), ([], []))


async def apply_many(
    workspace_id: PydanticObjectId, moves: list[Move], now: datetime | None = None
) -> dict[str, tuple[list[PydanticObjectId], list[PydanticObjectId]]]:
    """Move contacts in and out of several segments at once: contact.segments, the
    aggregates of segment_entered/exited, member_count, the events, live count and
    changes. Returns, per segment id, the contacts that really moved (those already in,
    or already out, are left alone).

    A contact costs one write however many segments it enters (two when it also exits
    some: $addToSet and $pull of one array cannot share an update), because on an engine
    whose cost is per document written (SecantusDB rewrites every index entry of the
    document) the writes per contact, not per segment, are what a transition costs.

    Transitions of one segment are serialised across processes by a Redis lock, taken in
    segment-id order so two processes moving overlapping sets cannot deadlock; a contact
    that two processes move at once therefore enters once: one event, one count."""
    now = now or datetime.now(UTC)
    moves = [
        Move(m.segment, list(dict.fromkeys(m.entered)), list(dict.fromkeys(m.exited)))
        for m in sorted(moves, key=lambda m: str(m.segment.id))
    ]
    moves = [m for m in moves if m.entered or m.exited]
    if not moves:
        return {}
    redis = runtime.get().redis
    locks = [
        redis.lock(
            live.channel(workspace_id, f"segment-lock:{m.segment.id}"),
            timeout=LOCK_SECONDS,
            blocking_timeout=LOCK_SECONDS,
        )
        for m in moves
    ]
    async with AsyncExitStack() as stack:
        for lock in locks:
            await stack.enter_async_context(lock)

        async def renew() -> None:
            # A big move on a slow database outlasts any fixed timeout: each chunk renews
            # the locks, so they are held exactly as long as the work goes on.
            for lock in locks:
                await lock.reacquire()

        moves = await _still_moving(workspace_id, moves)
        if not moves:
            return {}
        await _write_contacts(workspace_id, moves, now, renew)
        await renew()
        # update then read (no findAndModify, which scans on SecantusDB); the locks make
        # the read these moves' counts.
        segments = Segment.get_pymongo_collection()
        await segments.bulk_write(
            [
                UpdateOne(
                    {"_id": m.segment.id, "workspace_id": workspace_id},
                    {"$inc": {"member_count": len(m.entered) - len(m.exited)}},
                )
                for m in moves
            ],
            ordered=False,
        )
        counts = {
            str(row["_id"]): row.get("member_count", 0)
            for row in await segments.find(
                {"_id": {"$in": [m.segment.id for m in moves]}, "workspace_id": workspace_id},
                {"member_count": 1},
            ).to_list(None)
        }
    await _record(workspace_id, moves, now)
    for m in moves:
        sid = str(m.segment.id)
        if sid in counts:
            await live.publish(workspace_id, count_topic(sid), {"count": counts[sid]})
        await _publish_changes(workspace_id, sid, m.entered, m.exited)
    return {str(m.segment.id): (m.entered, m.exited) for m in moves}


async def _still_moving(workspace_id: PydanticObjectId, moves: list[Move]) -> list[Move]:
    """The moves narrowed to contacts not yet moved by someone else: one read of the
    contacts' memberships (per CHUNK ids), under the locks."""
    ids = list(dict.fromkeys(c for m in moves for c in (*m.entered, *m.exited)))
    member_of: dict[PydanticObjectId, set[str]] = {}
    collection = Contact.get_pymongo_collection()
    for start in range(0, len(ids), CHUNK):
        query = {"_id": {"$in": ids[start : start + CHUNK]}, "workspace_id": workspace_id}
        for row in await collection.find(query, {"segments": 1}).to_list(None):
            member_of[row["_id"]] = set(row.get("segments") or [])
    narrowed = []
    for m in moves:
        sid = str(m.segment.id)
        entered = [c for c in m.entered if c in member_of and sid not in member_of[c]]
        exited = [c for c in m.exited if c in member_of and sid in member_of[c]]
        if entered or exited:
            narrowed.append(Move(m.segment, entered, exited))
    return narrowed


async def _write_contacts(
    workspace_id: PydanticObjectId, moves: list[Move], now: datetime, renew
) -> None:
    """Per contact: the segments it enters ($addToSet) with the aggregates of its
    segment_entered/exited events (so behaviour rules can read them; last_active_at is
    not touched: these are not the contact's own activity), and the segments it exits
    ($pull) in a second update only when there are some."""
    enters: dict[PydanticObjectId, list[str]] = defaultdict(list)
    exits: dict[PydanticObjectId, list[str]] = defaultdict(list)
    for m in moves:
        for contact_id in m.entered:
            enters[contact_id].append(str(m.segment.id))
        for contact_id in m.exited:
            exits[contact_id].append(str(m.segment.id))
    operations = []
    for contact_id in dict.fromkeys([*enters, *exits]):
        selector = {"_id": contact_id, "workspace_id": workspace_id}
        occurrences = [(ENTERED, now)] * len(enters.get(contact_id, []))
        occurrences += [(EXITED, now)] * len(exits.get(contact_id, []))
        update: dict[str, Any] = stats_update(occurrences)
        if contact_id in enters:
            update["$addToSet"] = {"segments": {"$each": enters[contact_id]}}
            operations.append(UpdateOne(selector, update))
            update = {}
        if contact_id in exits:
            update["$pull"] = {"segments": {"$in": exits[contact_id]}}
            operations.append(UpdateOne(selector, update))
    contacts = Contact.get_pymongo_collection()
    for start in range(0, len(operations), CHUNK):
        await renew()
        await contacts.bulk_write(operations[start : start + CHUNK], ordered=False)


async def _publish_changes(
    workspace_id: PydanticObjectId,
    sid: str,
    entered: list[PydanticObjectId],
    exited: list[PydanticObjectId],
) -> None:
    """One message per contact on `segment:<id>:changes`, pipelined."""
    channel = live.channel(workspace_id, changes_topic(sid))
    pairs = [("entered", c) for c in entered] + [("exited", c) for c in exited]
    redis = runtime.get().redis
    for start in range(0, len(pairs), CHUNK):
        async with redis.pipeline(transaction=False) as pipe:
            for change, contact_id in pairs[start : start + CHUNK]:
                pipe.publish(channel, json.dumps({"contactId": str(contact_id), "change": change}))
            await pipe.execute()


def _event_document(
    workspace_id: PydanticObjectId,
    contact_id: PydanticObjectId,
    name: str,
    segment: Segment,
    now: datetime,
) -> dict[str, Any]:
    raw = {
        "type": "track",
        "userId": "-",  # parse_message needs an identifier; the contact is known already
        "event": name,
        "messageId": f"{name}:{segment.id}:{contact_id}:{uuid.uuid4().hex}",
        "properties": {"segment_id": str(segment.id), "segment_name": segment.name},
        "timestamp": now.isoformat(),
    }
    message = parse_message(raw, now)
    message.user_id = None
    document = message.document()
    document.update(
        {
            "_id": PydanticObjectId(),
            "workspace_id": workspace_id,
            "contact_id": contact_id,
            "source": "segments",
            "created_at": now,
        }
    )
    return document


async def _record(workspace_id: PydanticObjectId, moves: list[Move], now: datetime) -> None:
    """segment_entered / segment_exited events (their aggregates were written with the
    memberships), handed on to the reactions."""
    pairs = [(ENTERED, c, m.segment) for m in moves for c in m.entered]
    pairs += [(EXITED, c, m.segment) for m in moves for c in m.exited]
    await outbox.emit_many(
        workspace_id,
        [
            (
                "segment.entered" if name == ENTERED else "segment.exited",
                {"contact_id": str(c), "segment_id": str(segment.id), "segment": segment.name},
            )
            for name, c, segment in pairs
        ],
    )
    for start in range(0, len(pairs), CHUNK):
        documents = [
            _event_document(workspace_id, c, name, segment, now)
            for name, c, segment in pairs[start : start + CHUNK]
        ]
        await Event.get_pymongo_collection().insert_many(documents, ordered=False)
        await dispatch.events_stored(workspace_id, documents)


CHUNK = 1000  # contact ids per update / event insert


async def recount(workspace_id: PydanticObjectId, segment_ids: Iterable[str] | None) -> None:
    """Set member_count from the contacts (exact; one count per segment) and publish."""
    query: dict[str, Any] = {"workspace_id": workspace_id}
    if segment_ids is not None:
        oids = [PydanticObjectId(s) for s in segment_ids if PydanticObjectId.is_valid(s)]
        if not oids:
            return
        query["_id"] = {"$in": oids}
    contacts = Contact.get_pymongo_collection()
    for segment in await Segment.find(query).to_list():
        sid = str(segment.id)
        count = await contacts.count_documents({"workspace_id": workspace_id, "segments": sid})
        if count != segment.member_count:
            await Segment.get_pymongo_collection().update_one(
                {"_id": segment.id, "workspace_id": workspace_id},
                {"$set": {"member_count": count}},
            )
            await live.publish(workspace_id, count_topic(sid), {"count": count})
