"""Whole-segment passes: backfill event filters, recompute a segment, refresh time windows."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo import UpdateOne

from documents.contact import Contact
from documents.event import Event
from documents.segment import Segment
from engine.segments import rules as rule_language
from engine.segments.evaluate import where_matches
from engine.stats import PAGE_VIEWED, SCREEN_VIEWED, day_key, escape_key
from resolvers.segments.membership import audience_scope, cascade, is_member
from resolvers.segments.transitions import CHUNK, Transitions, apply

log = logging.getLogger("reach.segments")


def _event_match(event: str) -> dict[str, Any]:
    if event == PAGE_VIEWED:
        return {"type": "page"}
    if event == SCREEN_VIEWED:
        return {"type": "screen"}
    return {"type": "track", "name_key": event}


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
        match.update({"name_key": kind["name_key"]} if "name_key" in kind else kind)
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
