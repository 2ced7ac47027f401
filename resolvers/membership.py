"""Real-time segment membership: contacts enter and exit segments as they change.

Membership lives on the contact (`contact.segments`), the count on the segment
(`member_count`, moved with $inc). Each transition is also recorded as an ordinary event
on the contact (`segment_entered` / `segment_exited`, with the segment's id and name in
its properties) and published live on the workspace topics `segment:<id>:count`
({"count": n}) and `segment:<id>:changes` ({"contactId", "change"}).

Two ways in:

- `reevaluate(workspace_id, {contact_id: {reference, ...}})` after contacts changed:
  only the dynamic segments whose rules read one of the changed references are
  evaluated (in Python, engine.segments.evaluate), against the contacts as stored. A
  transition is itself a change of ("segment", id), so segments built on other segments
  follow, a bounded number of rounds.
- `recompute(segment)` for a whole audience (a new or edited segment, the scheduled
  refresh of time windows): one query for the contacts entering (filter and not a member)
  and one for those exiting (member and not the filter), then the same transitions.
"""

from __future__ import annotations

import json
import logging
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
from engine.segments import evaluate
from engine.segments import rules as rule_language
from engine.segments.evaluate import where_matches
from engine.stats import PAGE_VIEWED, SCREEN_VIEWED, day_key, escape_key, stats_update
from resolvers import live, reactions, runtime

log = logging.getLogger("reach.segments")

ENTERED = "segment_entered"
EXITED = "segment_exited"
# A reference meaning "anything may have changed" (a new or merged contact): every
# dynamic segment of the workspace is evaluated for that contact.
ALL = ("*", "*")
MAX_ROUNDS = rule_language.MAX_DEPTH + 2  # segments on segments: chains are finite
CHUNK = 1000  # contact ids per update / event insert
LOCK_SECONDS = 120  # a segment's transition lock lives this long after its last renewal


def count_topic(segment_id: Any) -> str:
    return f"segment:{segment_id}:count"


def changes_topic(segment_id: Any) -> str:
    return f"segment:{segment_id}:changes"


def encode_reference(reference: tuple[str, str]) -> str:
    kind, value = reference
    return f"{kind}:{value}"


def stored_references(rules: Any) -> list[str]:
    return sorted(encode_reference(r) for r in rule_language.references(rules))


def segment_references(segment: Segment) -> set[tuple[str, str]]:
    refs = set()
    for text in segment.references:
        kind, _, value = text.partition(":")
        refs.add((kind, value))
    return refs


def audience_scope(segment: Segment) -> dict[str, Any]:
    """The flat filter of the contacts a segment can hold (its workspace, and its outlet
    when it has one): an index prefix. The rules are then evaluated in Python on each,
    by engine.segments.evaluate, which tests hold equal to the compiled MongoDB filter —
    a compiled filter ($and/$or/$nor/$expr) is served by no index on either planner."""
    scope: dict[str, Any] = {"workspace_id": segment.workspace_id}
    if segment.location_id is not None:
        scope["location_id"] = segment.location_id
    return scope


def is_member(segment: Segment, contact: dict[str, Any], now: datetime) -> bool:
    if segment.location_id is not None and contact.get("location_id") != segment.location_id:
        return False
    return evaluate.matches(segment.rules, contact, now)


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


# --- applying transitions ----------------------------------------------------------------


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
        await reactions.events_stored(workspace_id, documents)
        operations = []
        for name, contact_id in chunk:
            stats = stats_update([(name, now)])
            operations.append(UpdateOne({"_id": contact_id, "workspace_id": workspace_id}, stats))
        await Contact.get_pymongo_collection().bulk_write(operations, ordered=False)


# --- real time: contacts changed -----------------------------------------------------------


async def reevaluate(
    workspace_id: PydanticObjectId,
    changed: dict[str, set[tuple[str, str]]],
    *,
    now: datetime | None = None,
) -> Transitions:
    """Re-evaluate the dynamic segments that read what changed on these contacts.

    `changed` maps a contact id to the references that changed on it, shaped as
    engine.segments.rules.references() returns them (("property", key), ("field", name),
    ("event", name), ("tag", tag), ("consent", channel), ("segment", id)), or ALL.
    Costs one segment query per round, plus, when some segment is affected, one contact
    query and the writes of the transitions."""
    now = now or datetime.now(UTC)
    done = Transitions()
    pending = {cid: set(refs) for cid, refs in changed.items() if refs}
    for _ in range(MAX_ROUNDS):
        if not pending:
            break
        wanted = set().union(*pending.values())
        query: dict[str, Any] = {"workspace_id": workspace_id, "kind": "dynamic"}
        if ALL not in wanted:
            query["references"] = {"$in": sorted(encode_reference(r) for r in wanted)}
        segments = await Segment.find(query).to_list()
        if not segments:
            break
        refs_of = {str(s.id): segment_references(s) for s in segments}
        ids = [PydanticObjectId(cid) for cid in pending]
        docs = (
            await Contact.get_pymongo_collection()
            .find({"_id": {"$in": ids}, "workspace_id": workspace_id})
            .to_list(None)
        )
        entered: dict[str, list[PydanticObjectId]] = defaultdict(list)
        exited: dict[str, list[PydanticObjectId]] = defaultdict(list)
        ordered = _dependencies_first(segments)
        for doc in docs:
            refs = set(pending.get(str(doc["_id"]), set()))
            member_of = set(doc.get("segments") or [])
            for segment in ordered:
                sid = str(segment.id)
                if ALL not in refs and not (refs & refs_of[sid]):
                    continue
                # Segments built on segments see this round's decisions (evaluated after
                # what they depend on), so a contact never flaps in and out.
                inside = is_member(segment, {**doc, "segments": sorted(member_of)}, now)
                if inside and sid not in member_of:
                    entered[sid].append(doc["_id"])
                    member_of.add(sid)
                    refs.add(("segment", sid))
                elif not inside and sid in member_of:
                    exited[sid].append(doc["_id"])
                    member_of.discard(sid)
                    refs.add(("segment", sid))
        if not entered and not exited:
            break
        pending = {}
        by_id = {str(s.id): s for s in segments}
        for sid in set(entered) | set(exited):
            moved_in, moved_out = await apply(
                workspace_id, by_id[sid], entered.get(sid, []), exited.get(sid, []), now
            )
            _follow(pending, sid, moved_in, moved_out, done)
    else:
        log.warning("segment re-evaluation stopped after %d rounds", MAX_ROUNDS)
    return done


def _dependencies_first(segments: list[Segment]) -> list[Segment]:
    """Segments ordered so that one using in_segment comes after the segments it reads."""
    by_id = {str(s.id): s for s in segments}
    ordered: list[Segment] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done; rules are acyclic (validated)

    def visit(sid: str) -> None:
        if state.get(sid):
            return
        state[sid] = 1
        for dependency in rule_language.segment_dependencies(by_id[sid].rules):
            if dependency in by_id:
                visit(dependency)
        state[sid] = 2
        ordered.append(by_id[sid])

    for sid in by_id:
        visit(sid)
    return ordered


def _follow(
    pending: dict[str, set[tuple[str, str]]],
    sid: str,
    moved_in: list[PydanticObjectId],
    moved_out: list[PydanticObjectId],
    done: Transitions,
) -> None:
    """Transitions are changes too: of ("segment", id) and of the events they record."""
    for contact_id in moved_in:
        done.entered[sid].append(str(contact_id))
        pending.setdefault(str(contact_id), set()).update({("segment", sid), ("event", ENTERED)})
    for contact_id in moved_out:
        done.exited[sid].append(str(contact_id))
        pending.setdefault(str(contact_id), set()).update({("segment", sid), ("event", EXITED)})


async def cascade(workspace_id: PydanticObjectId, sid: str, done: Transitions) -> Transitions:
    """After a whole-audience change of one segment: segments built on it follow."""
    pending: dict[str, set[tuple[str, str]]] = {}
    _follow(pending, sid, done.entered.get(sid, []), done.exited.get(sid, []), Transitions())
    if pending:
        done.add(await reevaluate(workspace_id, pending))
    return done


async def contacts_merged(workspace_id: PydanticObjectId, survivor_id: PydanticObjectId) -> None:
    """After a merge: the survivor holds the union of both memberships (and the loser is
    gone), so recount those segments and re-evaluate every dynamic one on the survivor."""
    doc = await Contact.get_pymongo_collection().find_one(
        {"_id": survivor_id, "workspace_id": workspace_id}, {"segments": 1}
    )
    if doc is None:
        return
    await recount(workspace_id, doc.get("segments") or [])
    await reevaluate(workspace_id, {str(survivor_id): {ALL}})


async def contact_deleted(workspace_id: PydanticObjectId, segment_ids: Iterable[str]) -> None:
    """A contact was erased: it leaves the counts of the segments it was in."""
    await recount(workspace_id, segment_ids)


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


# --- whole audiences ------------------------------------------------------------------------


def _event_match(event: str) -> dict[str, Any]:
    if event == PAGE_VIEWED:
        return {"type": "page"}
    if event == SCREEN_VIEWED:
        return {"type": "screen"}
    return {"type": "track", "event": event}


async def backfill_event_filters(
    workspace_id: PydanticObjectId, rules: Any, *, skip: set[str] | None = None
) -> int:
    """Behaviour conditions with `where` read their own aggregate on the contact
    (event_stats[where_key]), which ingestion keeps up to date from then on; build it from
    the stored events for the keys not built yet. Returns the contacts written."""
    written = 0
    now = datetime.now(UTC)
    events = Event.get_pymongo_collection()
    for key, event, where in rule_language.event_filters(rules):
        if skip and key in skip:
            continue
        # Flat: the event's own rows by index, `where` checked here as ingestion checks it
        # (a compiled `where` is an $and no planner serves).
        kind = _event_match(event)
        match = {"workspace_id": workspace_id}
        match.update({"event": kind["event"]} if "event" in kind else kind)
        per_contact: dict[Any, list[datetime]] = defaultdict(list)
        cursor = events.find(match, {"contact_id": 1, "timestamp": 1, "type": 1, "properties": 1})
        async for row in cursor:
            if row.get("type") != kind["type"]:
                continue
            if where_matches(where, row.get("properties") or {}, now):
                per_contact[row["contact_id"]].append(row["timestamp"])
        operations = []
        path = f"event_stats.{escape_key(key)}"
        for contact_id, times in per_contact.items():
            days: dict[str, int] = defaultdict(int)
            for moment in times:
                days[day_key(moment)] += 1
            value = {"count": len(times), "first_at": min(times), "last_at": max(times)}
            operations.append(
                UpdateOne(
                    {"_id": contact_id, "workspace_id": workspace_id},
                    {"$set": {path: {**value, "days": dict(days)}}},
                )
            )
        for start in range(0, len(operations), CHUNK):
            await Contact.get_pymongo_collection().bulk_write(
                operations[start : start + CHUNK], ordered=False
            )
        written += len(operations)
    return written


async def recompute(segment: Segment, now: datetime | None = None) -> Transitions:
    """Bring a dynamic segment's membership in line with its rules at `now`: one pass
    over the contacts in its scope (an index prefix; cost linear in the workspace, as
    any full evaluation is), then the transitions (and the segments built on this one)."""
    now = now or datetime.now(UTC)
    done = Transitions()
    if segment.kind != "dynamic" or segment.rules is None:
        return done
    workspace_id = segment.workspace_id
    sid = str(segment.id)
    entering: list[PydanticObjectId] = []
    exiting: list[PydanticObjectId] = []
    async for doc in Contact.get_pymongo_collection().find(audience_scope(segment)):
        member, held = is_member(segment, doc, now), sid in (doc.get("segments") or [])
        if member and not held:
            entering.append(doc["_id"])
        elif held and not member:
            exiting.append(doc["_id"])
    # Members outside the scope (an outlet changed) leave too.
    if segment.location_id is not None:
        held = Contact.get_pymongo_collection().find(
            {"workspace_id": workspace_id, "segments": sid}, {"location_id": 1}
        )
        exiting += [d["_id"] async for d in held if d.get("location_id") != segment.location_id]
    if not entering and not exiting:
        return done
    moved_in, moved_out = await apply(workspace_id, segment, entering, exiting, now)
    done.entered[sid].extend(str(c) for c in moved_in)
    done.exited[sid].extend(str(c) for c in moved_out)
    return await cascade(workspace_id, sid, done)


async def refresh_time_windows(
    workspace_id: PydanticObjectId | None = None, now: datetime | None = None
) -> Transitions:
    """Re-evaluate every time-dependent dynamic segment (of one workspace, or all), so
    that windows lapse without any event. Run by the `refresh_segments` actor, which
    the scheduler enqueues every 30 seconds."""
    now = now or datetime.now(UTC)
    query: dict[str, Any] = {"time_dependent": True, "kind": "dynamic"}
    if workspace_id is not None:
        query["workspace_id"] = workspace_id
    done = Transitions()
    for segment in await Segment.find(query).to_list():
        try:
            done.add(await recompute(segment, now))
        except Exception:
            log.exception("refreshing segment %s failed", segment.id)
    return done
