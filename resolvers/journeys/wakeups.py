"""Timed journey work: waits that have expired, and date-property triggers."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from beanie import PydanticObjectId

from documents.base import up_to
from documents.contact import Contact
from documents.journey import Enrollment, Journey
from engine import delivery
from engine.journeys import dates
from resolvers.journeys import handoff
from resolvers.journeys.enroll import Entry, enroll_many
from resolvers.journeys.step import LEASE, current_time, step_runs
from resolvers.journeys.versions import version_graph, workspace_timezone

WAKEUP_PAGE = handoff.PAGE  # runs per page of a sweep (and per step message)
WAKEUP_PAGES = 40  # pages per sweep at most: each sweep is short, the next takes the rest


CONTACT_PAGE = handoff.PAGE


async def run_wakeups(
    now: datetime | None = None,
    *,
    inline: bool = False,
    page: int = WAKEUP_PAGE,
    pages: int = WAKEUP_PAGES,
) -> int:
    """Every run that is due (a wait over, or a step message that never arrived), across
    workspaces, a page at a time: one step message per workspace and page (or stepped
    here with `inline`). Returns how many runs were picked."""
    now = current_time(now)
    collection = Enrollment.get_pymongo_collection()
    # A range never matches null or a missing field (MongoDB and SecantusDB alike), so
    # ended runs (due_at None) are not picked; the (due_at) index serves filter and sort.
    # Each page is leased (or stepped) before the next is read, so the same filter reads
    # the next page: no cursor, and nothing is picked twice.
    due = up_to(now)
    picked = 0
    previous: set = set()
    for _ in range(pages):
        rows = (
            await collection.find(
                {"due_at": due}, {"workspace_id": 1, "step": 1, "status": 1, "handed": 1}
            )
            .sort("due_at", 1)
            .limit(page)
            .to_list(None)
        )
        ids = {r["_id"] for r in rows}
        if not rows or ids <= previous:  # nothing due, or runs no step can move (inline)
            break
        previous = ids
        picked += len(rows)
        if inline:
            for workspace_id, group in _by_workspace(rows).items():
                await step_runs(str(workspace_id), [(r["_id"], r["step"]) for r in group], now)
        else:
            await _hand_out(rows, now)
        if len(rows) < page:
            break
    return picked


def _by_workspace(rows: list[dict]) -> dict:
    groups: dict = defaultdict(list)
    for row in rows:
        groups[row["workspace_id"]].append(row)
    return groups


async def _hand_out(rows: list[dict], now: datetime) -> None:
    """Send a step message for each due run, except active runs whose step message is
    still on its way (a lease that outlasted the queue): those are leased again."""
    collection = Enrollment.get_pymongo_collection()
    due = up_to(now)
    leased = [r for r in rows if r.get("status") == "active" and r.get("handed")]
    on_the_way = await handoff.still_on_the_way({r["handed"] for r in leased})
    held = {r["_id"] for r in leased if r["handed"] in on_the_way}
    messages = []
    for workspace_id, group in _by_workspace(rows).items():
        waiting = [r["_id"] for r in group if r["_id"] in held]
        if waiting:
            await collection.update_many(
                {"_id": {"$in": waiting}, "workspace_id": workspace_id, "due_at": due},
                {"$set": {"due_at": now + LEASE}},
            )
        todo = [r for r in group if r["_id"] not in held]
        for chunk in handoff.pages(todo):
            message = handoff.step_message(workspace_id, [(r["_id"], r["step"]) for r in chunk])
            # Leased: the next sweeps leave them alone while this message is on its way.
            await collection.update_many(
                {
                    "_id": {"$in": [r["_id"] for r in chunk]},
                    "workspace_id": workspace_id,
                    "due_at": due,
                },
                {"$set": {"due_at": now + LEASE, "handed": message.token}},
            )
            messages.append(message)
    await handoff.send(messages)


async def run_date_triggers(now: datetime | None = None, *, inline: bool = False) -> int:
    """The hourly job: start the runs date-property triggers owe today (idempotent: the
    local day is each run's entry key). Runs across workspaces. Returns runs started."""
    now = current_time(now)
    started = 0
    journeys = await Journey.find({"status": "published", "trigger_kind": "date"}).to_list()
    for journey in journeys:
        loaded = await version_graph(
            journey.workspace_id, journey.id, journey.published_version or 0
        )
        if loaded is None:
            continue
        settings = loaded[0].trigger["settings"]
        fallback = await workspace_timezone(journey.workspace_id)
        # No index can serve a range on an arbitrary property, so this reads the whole
        # workspace's contacts in _id pages ((workspace_id, _id) index): one pass per
        # date-triggered journey per run of this hourly job, only the two properties
        # read. Only stored dates are candidates (as before); fire_day decides the day.
        prop = settings["property"]
        projection = {f"properties.{prop}": 1, "properties.timezone": 1}
        if "." in prop:  # a dotted name could collide with properties.timezone
            projection = {"properties": 1}
        scope = {"workspace_id": journey.workspace_id}
        after: PydanticObjectId | None = None
        while True:
            page_query = scope if after is None else {**scope, "_id": {"$gt": after}}
            contacts = (
                await Contact.get_pymongo_collection()
                .find(page_query, projection)
                .sort("_id", 1)
                .limit(CONTACT_PAGE)
                .to_list(None)
            )
            if not contacts:
                break
            after = contacts[-1]["_id"]
            entries = []
            for contact in contacts:
                if not isinstance((contact.get("properties") or {}).get(prop), datetime):
                    continue
                zone = delivery.contact_timezone(contact, fallback)
                day = dates.fire_day(settings, contact, now, zone)
                if day is None:
                    continue
                trigger = {
                    "id": None,
                    "name": "date",
                    "properties": {"property": settings["property"], "date": day.isoformat()},
                }
                entries.append(Entry(contact["_id"], trigger, f"date:{day.isoformat()}"))
            runs = await enroll_many(journey.workspace_id, journey, entries, now=now, inline=inline)
            started += len(runs)
    return started
