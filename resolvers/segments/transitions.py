"""Segment transitions: a contact entering or exiting, recorded as membership, an event and a
live count.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
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


async def apply(
    workspace_id: PydanticObjectId,
    segment: Segment,
    entered: Iterable[PydanticObjectId],
    exited: Iterable[PydanticObjectId],
    now: datetime | None = None,
) -> tuple[list[PydanticObjectId], list[PydanticObjectId]]:
    """Move contacts in and out of one segment: contact.segments, member_count,
    segment_entered/exited events, live count and changes. Returns the contacts that
    really moved (those already in, or already out, are left alone).

    Transitions of one segment are serialised across processes by a Redis lock, so a
    contact that two processes move at once enters once: one event, one count."""
    now = now or datetime.now(UTC)
    sid = str(segment.id)
    entered, exited = list(dict.fromkeys(entered)), list(dict.fromkeys(exited))
    if not entered and not exited:
        return [], []
    lock = runtime.get().redis.lock(
        live.channel(workspace_id, f"segment-lock:{sid}"),
        timeout=LOCK_SECONDS,
        blocking_timeout=LOCK_SECONDS,
    )
    async with lock:
        entered = await _moving(workspace_id, entered, {"segments": {"$ne": sid}})
        exited = await _moving(workspace_id, exited, {"segments": sid})
        if not entered and not exited:
            return [], []
        contacts = Contact.get_pymongo_collection()
        for start in range(0, len(entered), CHUNK):
            # A big move on a slow database outlasts any fixed timeout: each chunk renews
            # the lock, so it is held exactly as long as the work goes on.
            await lock.reacquire()
            await contacts.update_many(
                {"_id": {"$in": entered[start : start + CHUNK]}, "workspace_id": workspace_id},
                {"$addToSet": {"segments": sid}},
            )
        for start in range(0, len(exited), CHUNK):
            await lock.reacquire()
            await contacts.update_many(
                {"_id": {"$in": exited[start : start + CHUNK]}, "workspace_id": workspace_id},
                {"$pull": {"segments": sid}},
            )
        await lock.reacquire()
        # update then read (no findAndModify, which scans on SecantusDB); the lock makes
        # the read this move's count.
        segments = Segment.get_pymongo_collection()
        await segments.update_one(
            {"_id": segment.id, "workspace_id": workspace_id},
            {"$inc": {"member_count": len(entered) - len(exited)}},
        )
        updated = await segments.find_one(
            {"_id": segment.id, "workspace_id": workspace_id}, {"member_count": 1}
        )
    await _record(workspace_id, segment, entered, exited, now)
    if updated is not None:
        await live.publish(workspace_id, count_topic(sid), {"count": updated["member_count"]})
    await _publish_changes(workspace_id, sid, entered, exited)
    return entered, exited


async def _moving(
    workspace_id: PydanticObjectId, ids: list[PydanticObjectId], state: dict[str, Any]
) -> list[PydanticObjectId]:
    """Those of `ids` still in `state` (not yet moved by someone else)."""
    found: set[PydanticObjectId] = set()
    collection = Contact.get_pymongo_collection()
    for start in range(0, len(ids), CHUNK):
        query = {"_id": {"$in": ids[start : start + CHUNK]}, "workspace_id": workspace_id}
        rows = await collection.find({**query, **state}, {"_id": 1}).to_list(None)
        found.update(row["_id"] for row in rows)
    return [i for i in ids if i in found]


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


async def _record(
    workspace_id: PydanticObjectId,
    segment: Segment,
    entered: list[PydanticObjectId],
    exited: list[PydanticObjectId],
    now: datetime,
) -> None:
    """segment_entered / segment_exited events, and their aggregates on the contacts
    (so behaviour rules can read them; last_active_at is not touched: these are not the
    contact's own activity)."""
    pairs = [(ENTERED, c) for c in entered] + [(EXITED, c) for c in exited]
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start : start + CHUNK]
        documents = [_event_document(workspace_id, c, name, segment, now) for name, c in chunk]
        await Event.get_pymongo_collection().insert_many(documents, ordered=False)
        await dispatch.events_stored(workspace_id, documents)
        operations = []
        for name, contact_id in chunk:
            stats = stats_update([(name, now)])
            operations.append(UpdateOne({"_id": contact_id, "workspace_id": workspace_id}, stats))
        await Contact.get_pymongo_collection().bulk_write(operations, ordered=False)


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
