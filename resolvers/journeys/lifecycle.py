"""Journey lifecycle: publish, pause, resume, archive, enroll by hand, and the live runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.journey import LIVE, Enrollment, Journey
from engine.access import Permission
from engine.errors import Conflict, InvalidInput, NotFound
from resolvers.core import audit
from resolvers.core.context import RequestContext, parse_id
from resolvers.journeys import enroll, listeners, step
from resolvers.journeys.define import JourneyErrors, check, reload_journey, require_journey
from resolvers.journeys.listeners import listen, trigger_kind
from resolvers.journeys.versions import freeze_version
from resolvers.reactions import table


async def publish_journey(ctx: RequestContext, journey_id: str) -> Journey:
    """Validate, freeze the graph as a new version and start listening for its trigger."""
    ctx.require(Permission.WRITE)
    journey = await require_journey(ctx, journey_id)
    if journey.status == "completed":
        raise Conflict("An archived journey cannot be published again.", field="id")
    if journey.status in ("published", "paused"):
        raise Conflict(
            f"The journey is {journey.status} already; edits to it publish themselves.",
            field="id",
        )
    checked, options, problems = await check(
        ctx.workspace_id,
        {"nodes": journey.nodes, "edges": journey.edges, "settings": journey.settings},
    )
    if checked.problems or problems:
        raise JourneyErrors(checked.problems + problems)
    version = await freeze_version(journey, checked, options)
    now = datetime.now(UTC)
    result = await Journey.get_pymongo_collection().update_one(
        {"_id": journey.id, "workspace_id": ctx.workspace_id, "status": "draft"},
        {
            "$set": {
                "status": "published",
                "version": version,
                "published_version": version,
                "published_at": now,
                "updated_at": now,
                "trigger_kind": trigger_kind(checked.nodes),
                "nodes": checked.nodes,
                "settings": options,
            }
        },
    )
    if result.modified_count == 0:
        raise Conflict("The journey changed meanwhile; try again.", field="id")
    journey = await reload_journey(ctx.workspace_id, journey.id)
    await listen(journey)
    await audit.record(
        ctx.principal, "journey.published", "journey", journey.id, {"version": version}
    )
    return journey


async def _move_status(
    ctx: RequestContext, journey: Journey, before: str, after: str, action: str
) -> Journey:
    result = await Journey.get_pymongo_collection().update_one(
        {"_id": journey.id, "workspace_id": ctx.workspace_id, "status": before},
        {"$set": {"status": after, "updated_at": datetime.now(UTC)}},
    )
    if result.modified_count == 0:
        raise Conflict(f"Only a {before} journey can be {action}.", field="id")
    await audit.record(ctx.principal, f"journey.{action}", "journey", journey.id, {})
    return await reload_journey(ctx.workspace_id, journey.id)


async def pause_journey(ctx: RequestContext, journey_id: str) -> Journey:
    """No new runs and no steps; every run keeps its place (and its waits still see the
    events they wait for, so nobody is messaged for a cart they bought while paused)."""
    ctx.require(Permission.WRITE)
    journey = await _move_status(
        ctx, await require_journey(ctx, journey_id), "published", "paused", "paused"
    )
    await listen(journey, paused=True)
    await step.hold(journey.workspace_id, journey.id)
    return journey


async def resume_journey(
    ctx: RequestContext, journey_id: str, now: datetime | None = None
) -> Journey:
    ctx.require(Permission.WRITE)
    journey = await _move_status(
        ctx, await require_journey(ctx, journey_id), "paused", "published", "resumed"
    )
    await listen(journey)
    await step.release(journey.workspace_id, journey.id, now)
    return journey


async def archive_journey(ctx: RequestContext, journey_id: str) -> Journey:
    """Completed: no new runs, and every run still inside ends (exited, 'archived')."""
    ctx.require(Permission.WRITE)
    journey = await require_journey(ctx, journey_id)
    if journey.status == "completed":
        return journey
    await Journey.get_pymongo_collection().update_one(
        {"_id": journey.id, "workspace_id": ctx.workspace_id},
        {"$set": {"status": "completed", "updated_at": datetime.now(UTC)}},
    )
    await table.stop_listening(ctx.workspace_id, listeners.owner(journey.id))
    ended = await step.end_all(ctx.workspace_id, journey.id, "archived")
    await audit.record(ctx.principal, "journey.archived", "journey", journey.id, {"ended": ended})
    return await reload_journey(ctx.workspace_id, journey.id)


async def enroll_contact(
    ctx: RequestContext,
    journey_id: str,
    contact_id: str,
    data: Any = None,
    *,
    now: datetime | None = None,
    inline: bool = False,
) -> Enrollment:
    """The API trigger: start a run for a contact of this workspace now (any published
    journey; `data` becomes the trigger event's properties)."""
    ctx.require(Permission.WRITE)
    journey = await require_journey(ctx, journey_id, field="journeyId")
    if journey.status != "published":
        raise Conflict("Only a published journey takes new runs.", field="journeyId")
    if data is not None and not isinstance(data, dict):
        raise InvalidInput("data must be an object.", field="data")
    oid = parse_id(contact_id, "Contact")
    contact = oid and await Contact.find_one({"_id": oid, "workspace_id": ctx.workspace_id})
    if not contact:
        raise NotFound("Contact not found.", field="contactId")
    trigger = {"id": None, "name": "api", "properties": data or {}}
    enrollment = await enroll.enroll(
        ctx.workspace_id, journey, contact.id, trigger, now=now, inline=inline
    )
    if enrollment is None:
        raise Conflict(
            "The contact is in this journey already, or its re-entry rule does not allow "
            "another run yet.",
            field="contactId",
        )
    return enrollment


async def live_runs(workspace_id: PydanticObjectId, journey_id: PydanticObjectId) -> int:
    return await Enrollment.find(
        {"workspace_id": workspace_id, "journey_id": journey_id, "status": {"$in": list(LIVE)}}
    ).count()
