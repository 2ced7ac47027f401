"""Journey enrollment: contacts enter a published journey's current version, one or a page
at a time.

`enroll_many` takes a page of entries: one read of the contacts' earlier runs of the journey
(the re-entry rule), one insert_many of the runs it allows (the unique indexes refuse a
second live run and a repeated entry key, row by row), and one step message for the page
(journeys.handoff) or, inline, one advance of the page. `enroll` is a page of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import BulkWriteError

from documents.contact import Contact
from documents.journey import Enrollment, Journey
from engine.journeys import options as journey_options
from resolvers.core.context import parse_id
from resolvers.journeys import handoff
from resolvers.journeys.step import LEASE, advance_many, current_time
from resolvers.journeys.versions import version_graph

DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class Entry:
    """One contact entering: what started it, and the key that makes it happen once."""

    contact_id: PydanticObjectId
    trigger: dict[str, Any]
    entry_key: str | None = None  # event id / date: one run per key
    location_id: str | None = None


async def enroll_many(
    workspace_id: PydanticObjectId,
    journey: Journey,
    entries: list[Entry],
    *,
    now: datetime | None = None,
    inline: bool = False,
) -> list[Enrollment]:
    """Start a run of the journey's published version for each entry its re-entry rule
    allows; the runs started, as entered (or, inline, as they stand after stepping).
    An entry for a contact already listed earlier in the page is dropped. Call with pages
    of at most handoff.PAGE entries: the page's earlier runs are read at once."""
    now = current_time(now)
    if journey.status != "published" or not journey.published_version or not entries:
        return []
    loaded = await version_graph(workspace_id, journey.id, journey.published_version)
    if loaded is None:
        return []
    graph, options = loaded
    seen: set[PydanticObjectId] = set()
    entries = [e for e in entries if not (e.contact_id in seen or seen.add(e.contact_id))]
    latest = await _latest_runs(workspace_id, journey.id, [e.contact_id for e in entries])
    started = [
        _new_run(workspace_id, journey, graph.trigger["id"], entry, now)
        for entry in entries
        if journey_options.may_enter(options, latest.get(entry.contact_id), now)
    ]
    if not started:
        return []
    message = None if inline else handoff.step_message(workspace_id, [(r.id, 0) for r in started])
    rows = []
    for run in started:
        row = run.model_dump(by_alias=True, exclude={"revision_id"})
        row["_id"] = run.id
        row["handed"] = message.token if message else None
        run.handed = row["handed"]
        rows.append(row)
    inserted = await _insert(rows)
    started = [r for r in started if r.id in inserted]
    if not started:
        return []
    if message is not None:  # runs refused by an index are in it too: the step skips them
        await handoff.send([message])
        return started
    collection = Enrollment.get_pymongo_collection()
    scope = {"_id": {"$in": [r.id for r in started]}, "workspace_id": workspace_id}
    await advance_many(await collection.find(scope).to_list(None), now)
    return await Enrollment.find(scope).to_list()


async def enroll(
    workspace_id: PydanticObjectId,
    journey: Journey,
    contact_id: PydanticObjectId,
    trigger: dict[str, Any],
    *,
    entry_key: str | None = None,
    location_id: str | None = None,
    now: datetime | None = None,
    inline: bool = False,
) -> Enrollment | None:
    """Start a run of the journey's published version, if its re-entry rule allows one;
    None when it does not (or when this entry key has started a run already)."""
    runs = await enroll_many(
        workspace_id,
        journey,
        [Entry(contact_id, trigger, entry_key, location_id)],
        now=now,
        inline=inline,
    )
    return runs[0] if runs else None


async def _latest_runs(
    workspace_id: PydanticObjectId, journey_id: PydanticObjectId, contact_ids: list
) -> dict[PydanticObjectId, dict[str, Any]]:
    """Each contact's latest run of the journey (what the re-entry rule reads): one read on
    (workspace_id, journey_id, contact_id, entered_at) with `$in` on contact_id; a
    contact's earlier runs (re-entries) are few, and only four fields are read."""
    rows = (
        await Enrollment.get_pymongo_collection()
        .find(
            {
                "workspace_id": workspace_id,
                "journey_id": journey_id,
                "contact_id": {"$in": contact_ids},
            },
            {"contact_id": 1, "status": 1, "entered_at": 1, "ended_at": 1},
        )
        .to_list(None)
    )
    latest: dict[PydanticObjectId, dict[str, Any]] = {}
    for row in rows:
        seen = latest.get(row["contact_id"])
        if seen is None or row["entered_at"] > seen["entered_at"]:
            latest[row["contact_id"]] = row
    return latest


def _new_run(
    workspace_id: PydanticObjectId, journey: Journey, node_id: str, entry: Entry, now: datetime
) -> Enrollment:
    run = Enrollment(
        workspace_id=workspace_id,
        journey_id=journey.id,
        version=journey.published_version,
        contact_id=entry.contact_id,
        node_id=node_id,
        entered_at=now,
        due_at=now + LEASE,
        trigger=entry.trigger,
        entry_key=entry.entry_key,
        location_id=entry.location_id,
    )
    run.id = PydanticObjectId()
    return run


async def _insert(rows: list[dict[str, Any]]) -> set[PydanticObjectId]:
    """Insert what the unique indexes allow (a live run already there, an entry key used)."""
    try:
        await Enrollment.get_pymongo_collection().insert_many(rows, ordered=False)
    except BulkWriteError as error:
        refused = set()
        for problem in error.details["writeErrors"]:
            if problem["code"] != DUPLICATE_KEY:
                raise
            refused.add(problem["index"])
        return {row["_id"] for i, row in enumerate(rows) if i not in refused}
    return {row["_id"] for row in rows}


async def enroll_by_ids(
    workspace_id: str,
    journey_id: str,
    contact_ids: list[str],
    data: dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
    inline: bool = False,
) -> list[Enrollment]:
    """API-triggered runs of a published journey for a page of contacts by plain ids
    (scripts, benchmarks, bulk API calls); contacts not in the workspace are skipped."""
    wid, jid = parse_id(workspace_id), parse_id(journey_id)
    ids = [oid for oid in map(parse_id, contact_ids) if oid is not None]
    if wid is None or jid is None or not ids:
        return []
    journey = await Journey.find_one({"_id": jid, "workspace_id": wid})
    if journey is None:
        return []
    found = (
        await Contact.get_pymongo_collection()
        .find({"_id": {"$in": ids}, "workspace_id": wid}, {"_id": 1})
        .to_list(None)
    )
    known = {row["_id"] for row in found}
    trigger = {"id": None, "name": "api", "properties": data or {}}
    entries = [Entry(cid, trigger) for cid in ids if cid in known]
    return await enroll_many(wid, journey, entries, now=now, inline=inline)


async def enroll_by_id(
    workspace_id: str,
    journey_id: str,
    contact_id: str,
    data: dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
    inline: bool = False,
) -> Enrollment | None:
    """`enroll_by_ids` for one contact; None when the journey or contact is not found or
    re-entry forbids a run."""
    runs = await enroll_by_ids(workspace_id, journey_id, [contact_id], data, now=now, inline=inline)
    return runs[0] if runs else None
