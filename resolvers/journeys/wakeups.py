"""Timed journey work: waits that have expired, and date-property triggers."""

from __future__ import annotations

from datetime import datetime

from beanie import PydanticObjectId

from documents.base import up_to
from documents.contact import Contact
from documents.journey import Enrollment, Journey
from engine import delivery
from engine.journeys import dates
from resolvers.core import jobs
from resolvers.journeys.enroll import enroll
from resolvers.journeys.step import LEASE, current_time, step
from resolvers.journeys.versions import version_graph, workspace_timezone

WAKEUP_LIMIT = 1000  # runs picked per wake-up sweep


CONTACT_PAGE = 500


async def run_wakeups(
    now: datetime | None = None, *, inline: bool = False, limit: int = WAKEUP_LIMIT
) -> int:
    """Every run that is due (a wait over, or a step message that never arrived), across
    workspaces: enqueue a step for each (or run it here with `inline`). Returns how many."""
    now = current_time(now)
    collection = Enrollment.get_pymongo_collection()
    # A range never matches null or a missing field (MongoDB and SecantusDB alike), so
    # ended runs (due_at None) are not picked; the (due_at) index serves filter and sort.
    due = up_to(now)
    rows = (
        await collection.find({"due_at": due}, {"workspace_id": 1, "step": 1})
        .sort("due_at", 1)
        .limit(limit)
        .to_list(None)
    )
    if not rows:
        return 0
    if inline:
        for row in rows:
            await step(str(row["workspace_id"]), str(row["_id"]), row["step"], now=now)
        return len(rows)
    # Leased: the next sweeps leave them alone while their step messages are on the way.
    await collection.update_many(
        {"_id": {"$in": [r["_id"] for r in rows]}, "due_at": due},
        {"$set": {"due_at": now + LEASE}},
    )
    await jobs.enqueue_many(
        "journey_step", [(str(r["workspace_id"]), str(r["_id"]), r["step"]) for r in rows]
    )
    return len(rows)


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
                run = await enroll(
                    journey.workspace_id,
                    journey,
                    contact["_id"],
                    trigger,
                    entry_key=f"date:{day.isoformat()}",
                    now=now,
                    inline=inline,
                )
                started += run is not None
    return started
