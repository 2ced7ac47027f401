"""Journey enrollment: contacts enter a published journey's current version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from documents.contact import Contact
from documents.journey import Enrollment, Journey
from engine.journeys import options as journey_options
from resolvers.core import jobs
from resolvers.core.context import parse_id
from resolvers.journeys.step import LEASE, advance, current_time
from resolvers.journeys.versions import version_graph


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
    now = current_time(now)
    if journey.status != "published" or not journey.published_version:
        return None
    loaded = await version_graph(workspace_id, journey.id, journey.published_version)
    if loaded is None:
        return None
    graph, options = loaded
    previous = (
        await Enrollment.get_pymongo_collection()
        .find({"workspace_id": workspace_id, "journey_id": journey.id, "contact_id": contact_id})
        .sort("entered_at", -1)
        .limit(1)
        .to_list(None)
    )
    if not journey_options.may_enter(options, previous[0] if previous else None, now):
        return None
    enrollment = Enrollment(
        workspace_id=workspace_id,
        journey_id=journey.id,
        version=journey.published_version,
        contact_id=contact_id,
        node_id=graph.trigger["id"],
        entered_at=now,
        due_at=now + LEASE,
        trigger=trigger,
        entry_key=entry_key,
        location_id=location_id,
    )
    try:
        await enrollment.insert()
    except DuplicateKeyError:
        return None
    if inline:
        stored = await Enrollment.get_pymongo_collection().find_one(
            {"_id": enrollment.id, "workspace_id": workspace_id}
        )
        await advance(stored, now)
        return await Enrollment.find_one({"_id": enrollment.id, "workspace_id": workspace_id})
    await jobs.enqueue("journey_step", str(workspace_id), str(enrollment.id), 0)
    return enrollment  # as entered: its steps run in the worker


async def enroll_by_id(
    workspace_id: str,
    journey_id: str,
    contact_id: str,
    data: dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
    inline: bool = False,
) -> Enrollment | None:
    """`enroll` with plain ids (scripts, benchmarks): an API-triggered run of a published
    journey; None when the journey or contact is not found or re-entry forbids a run."""
    wid, jid, cid = parse_id(workspace_id), parse_id(journey_id), parse_id(contact_id)
    if wid is None or jid is None or cid is None:
        return None
    journey = await Journey.find_one({"_id": jid, "workspace_id": wid})
    found = await Contact.get_pymongo_collection().find_one(
        {"_id": cid, "workspace_id": wid}, {"_id": 1}
    )
    if journey is None or found is None:
        return None
    trigger = {"id": None, "name": "api", "properties": data or {}}
    return await enroll(wid, journey, cid, trigger, now=now, inline=inline)
