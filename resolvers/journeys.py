"""Journeys of the caller's workspace: define, validate, publish, pause, resume, archive.

The graph comes whole (nodes with their settings, labelled edges) and is checked by
engine.journeys: problems of shape (not lists of objects, unknown types, bad ids, too
many nodes) reject the save; everything else publishing needs is reported with the path
of the node or edge. A draft may be saved with such problems (the canvas is work in
progress, `problems` lists them); a published or paused journey may not: its edit is
validated, frozen as a new JourneyVersion and used by new runs at once, while runs
already inside keep the version they entered with.

What a live journey reacts to (its trigger, the events its waits, exit and goal listen
for) is registered with resolvers.reactions; the runner (resolvers.journey_runner) does
the rest.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from documents.contact import Contact
from documents.journey import LIVE, Enrollment, Journey, JourneyVersion
from documents.segment import Segment
from documents.template import Template
from engine import templates as rendering
from engine.access import Permission
from engine.errors import Conflict, InvalidInput, NotFound, Problems
from engine.journeys import graph as journey_graph
from engine.journeys import options as journey_options
from engine.journeys.settings import Context
from engine.journeys.step import trigger_event_name
from engine.names import clean_name
from resolvers import audit, journey_runner, reactions
from resolvers.context import RequestContext, parse_id
from resolvers.ingest import custom_fields
from resolvers.journey_analytics import analytics as count_journey
from resolvers.pagination import Page, paginate
from resolvers.templates import SAMPLE_CONTACT

MAX_DESCRIPTION = 1000
_READS_EVENT = re.compile(r"\bevent\b")


class JourneyErrors(Problems):
    """Every problem of a journey definition, each with its path (nodes[3].settings.x)."""


# --- reading -------------------------------------------------------------------------------


async def get_journey(ctx: RequestContext, journey_id: str) -> Journey | None:
    ctx.require(Permission.READ)
    oid = parse_id(journey_id)
    if oid is None:
        return None
    return await Journey.find_one({"_id": oid, "workspace_id": ctx.workspace_id})


async def _existing(ctx: RequestContext, journey_id: str, field: str = "id") -> Journey:
    journey = await get_journey(ctx, journey_id)
    if journey is None:
        raise NotFound("Journey not found.", field=field)
    return journey


async def list_journeys(
    ctx: RequestContext, first: int | None, after: str | None, status: str | None = None
) -> Page:
    ctx.require(Permission.READ)
    query: dict[str, Any] = {"workspace_id": ctx.workspace_id}
    if status:
        query["status"] = status
    return await paginate(Journey, query, first, after)


async def list_enrollments(
    ctx: RequestContext,
    journey_id: str,
    first: int | None,
    after: str | None,
    status: str | None = None,
    contact_id: str | None = None,
) -> Page:
    journey = await _existing(ctx, journey_id, field="journeyId")
    scope: dict[str, Any] = {"workspace_id": ctx.workspace_id, "journey_id": journey.id}
    query = {**scope, **({"status": status} if status else {})}
    if contact_id is not None:
        # One contact's runs of the journey are few: their ids from the (workspace_id,
        # journey_id, contact_id, ...) indexes, then a page of the named ids (point lookups,
        # status checked on them) instead of an index per filter combination.
        oid = parse_id(contact_id) or PydanticObjectId("0" * 24)
        rows = (
            await Enrollment.get_pymongo_collection()
            .find({**scope, "contact_id": oid}, {"_id": 1})
            .to_list(None)
        )
        query = {"_id": {"$in": [r["_id"] for r in rows]}, **query}
    return await paginate(Enrollment, query, first, after, newest_first=True)


async def get_version(
    workspace_id: PydanticObjectId, journey_id: PydanticObjectId, version: int
) -> JourneyVersion | None:
    return await JourneyVersion.find_one(
        {"workspace_id": workspace_id, "journey_id": journey_id, "version": version}
    )


# --- validation ----------------------------------------------------------------------------


async def validation_context(workspace_id: PydanticObjectId) -> Context:
    """What the engine needs to know about the workspace to check a graph: custom fields,
    segments (their rules, for in_segment cycles), templates, and a sample to render."""
    segments = (
        await Segment.get_pymongo_collection()
        .find({"workspace_id": workspace_id}, {"rules": 1})
        .to_list(None)
    )
    known = {str(s["_id"]): (s.get("rules") or {}) for s in segments}
    templates = (
        await Template.get_pymongo_collection()
        .find({"workspace_id": workspace_id}, {"channel": 1})
        .to_list(None)
    )
    channel_of = {str(t["_id"]): t["channel"] for t in templates}
    sample = rendering.context_for(
        SAMPLE_CONTACT,
        event={"name": "sample", "properties": {}},
        message={"unsubscribe_url": "https://example.invalid/u"},
    )

    def check_content(content: dict[str, dict[str, str]]) -> list[InvalidInput]:
        # The trigger event's properties are unknown before a run: a template that reads
        # them can only be checked for syntax here, not rendered.
        def reads_event(field: str | None) -> bool:
            parts = (field or "").split(".", 2)
            if len(parts) < 3:
                return False
            source = (content.get(parts[1]) or {}).get(parts[2])
            return isinstance(source, str) and _READS_EVENT.search(source) is not None

        return [
            p
            for p in rendering.check_content(content, sample)
            if p.code != "TEMPLATE_RENDER" or not reads_event(p.field)
        ]

    return Context(
        fields=await custom_fields(workspace_id),
        segment_rules_of=known.get,
        template_channel_of=channel_of.get,
        check_content=check_content,
    )


async def check(
    workspace_id: PydanticObjectId, data: dict[str, Any]
) -> tuple[journey_graph.Checked, dict[str, Any], list[InvalidInput]]:
    """(checked graph, normalised settings, settings problems); shape problems raise."""
    ctx = await validation_context(workspace_id)
    checked = journey_graph.validate(data.get("nodes"), data.get("edges"), ctx)
    if checked.shape_errors:
        raise JourneyErrors(checked.shape_errors)
    options, problems = journey_options.check(
        data.get("settings"), lambda sid: ctx.segment_rules_of(sid) is not None
    )
    return checked, options, problems


async def validate_journey(
    ctx: RequestContext, journey_id: str | None, data: dict[str, Any] | None
) -> list[InvalidInput]:
    """Every problem publishing would find: of `data` (unsaved) or of the stored journey."""
    ctx.require(Permission.READ)
    if data is None:
        if journey_id is None:
            raise InvalidInput("Give a journey id or a graph.", field="id")
        journey = await _existing(ctx, journey_id)
        data = {"nodes": journey.nodes, "edges": journey.edges, "settings": journey.settings}
    try:
        checked, _, problems = await check(ctx.workspace_id, data)
    except JourneyErrors as error:
        return error.errors
    return checked.problems + problems


# --- editing -------------------------------------------------------------------------------


def _name(data: dict[str, Any], default: str | None = None) -> str:
    return clean_name(data.get("name") or default or "", "name")


def _description(data: dict[str, Any], current: str = "") -> str:
    value = data.get("description")
    return current if value is None else value.strip()[:MAX_DESCRIPTION]


async def create_journey(
    ctx: RequestContext, data: dict[str, Any]
) -> tuple[Journey, list[InvalidInput]]:
    """A draft from `data` {name, description, nodes, edges, settings}; returns it with the
    problems that would stop publishing."""
    ctx.require(Permission.WRITE)
    name = _name(data)
    checked, options, problems = await check(ctx.workspace_id, data)
    raw_settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    journey = Journey(
        workspace_id=ctx.workspace_id,
        name=name,
        description=_description(data),
        nodes=checked.nodes,
        edges=checked.edges,
        settings=options if not problems else raw_settings,
        created_by=ctx.principal.label,
    )
    await journey.insert()
    await audit.record(ctx.principal, "journey.created", "journey", journey.id, {"name": name})
    return journey, checked.problems + problems


async def save_journey(
    ctx: RequestContext, journey_id: str, data: dict[str, Any]
) -> tuple[Journey, list[InvalidInput]]:
    """Replace the graph (and name, description, settings when given). A live journey's
    edit must be valid and becomes a new version at once."""
    ctx.require(Permission.WRITE)
    journey = await _existing(ctx, journey_id)
    if journey.status == "completed":
        raise Conflict("An archived journey cannot be edited.", field="id")
    merged = {
        "nodes": data["nodes"] if data.get("nodes") is not None else journey.nodes,
        "edges": data["edges"] if data.get("edges") is not None else journey.edges,
        "settings": data["settings"] if data.get("settings") is not None else journey.settings,
    }
    checked, options, problems = await check(ctx.workspace_id, merged)
    everything = checked.problems + problems
    live = journey.status in ("published", "paused")
    if live and everything:
        raise JourneyErrors(everything)
    sets: dict[str, Any] = {
        "name": _name(data, journey.name),
        "description": _description(data, journey.description),
        "nodes": checked.nodes,
        "edges": checked.edges,
        "settings": options if not problems else _as_dict(merged["settings"]),
        "updated_at": datetime.now(UTC),
    }
    if live:
        version = await _freeze(journey, checked, options)
        sets |= {"version": version, "published_version": version}
    await Journey.get_pymongo_collection().update_one(
        {"_id": journey.id, "workspace_id": ctx.workspace_id}, {"$set": sets}
    )
    journey = await _stored(ctx.workspace_id, journey.id)
    if journey.status == "published":
        await listen(journey)
    elif journey.status == "paused":
        await listen(journey, paused=True)
    await audit.record(
        ctx.principal, "journey.saved", "journey", journey.id, {"version": journey.version}
    )
    return journey, everything


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def _stored(workspace_id: PydanticObjectId, journey_id: PydanticObjectId) -> Journey:
    journey = await Journey.find_one({"_id": journey_id, "workspace_id": workspace_id})
    if journey is None:
        raise NotFound("Journey not found.", field="id")
    return journey


async def _freeze(journey: Journey, checked: journey_graph.Checked, options: dict[str, Any]) -> int:
    """Store the graph as the next version; returns its number."""
    version = journey.version + 1
    try:
        await JourneyVersion(
            workspace_id=journey.workspace_id,
            journey_id=journey.id,
            version=version,
            nodes=checked.nodes,
            edges=checked.edges,
            settings=options,
        ).insert()
    except DuplicateKeyError as error:  # another edit published this number first
        raise Conflict(
            "The journey changed meanwhile; reload and try again.", field="id"
        ) from error
    return version


# --- lifecycle -----------------------------------------------------------------------------


def _trigger_kind(nodes: list[dict[str, Any]]) -> str | None:
    for node in nodes:
        if node.get("type") == "trigger":
            return (node.get("settings") or {}).get("kind")
    return None


async def listen(journey: Journey, *, paused: bool = False) -> None:
    """Register the events this journey reacts to: its trigger (not while paused), the
    events runs of any version wait for, the exit and the goal events."""
    versions = await JourneyVersion.find(
        {"workspace_id": journey.workspace_id, "journey_id": journey.id}
    ).to_list()
    wanted: dict[str, set[str]] = {"trigger": set(), "wait": set(), "exit": set(), "goal": set()}
    latest = max(versions, key=lambda v: v.version) if versions else None
    if latest is not None and not paused:
        trigger = next((n for n in latest.nodes if n["type"] == "trigger"), None)
        name = trigger_event_name(trigger["settings"]) if trigger else None
        if name:
            wanted["trigger"].add(name)
    for version in versions:
        for node in version.nodes:
            if node["type"] == "wait" and node["settings"].get("kind") == "event":
                wanted["wait"].add(node["settings"]["event"])
    options = latest.settings if latest is not None else journey.settings
    if options.get("exit_event"):
        wanted["exit"].add(options["exit_event"])
    if options.get("exit_segment_id"):
        wanted["exit"].add("segment_exited")
    if (options.get("goal") or {}).get("event"):
        wanted["goal"].add(options["goal"]["event"])
    await reactions.listen(journey.workspace_id, f"journey:{journey.id}", wanted)


async def publish_journey(ctx: RequestContext, journey_id: str) -> Journey:
    """Validate, freeze the graph as a new version and start listening for its trigger."""
    ctx.require(Permission.WRITE)
    journey = await _existing(ctx, journey_id)
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
    version = await _freeze(journey, checked, options)
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
                "trigger_kind": _trigger_kind(checked.nodes),
                "nodes": checked.nodes,
                "settings": options,
            }
        },
    )
    if result.modified_count == 0:
        raise Conflict("The journey changed meanwhile; try again.", field="id")
    journey = await _stored(ctx.workspace_id, journey.id)
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
    return await _stored(ctx.workspace_id, journey.id)


async def pause_journey(ctx: RequestContext, journey_id: str) -> Journey:
    """No new runs and no steps; every run keeps its place (and its waits still see the
    events they wait for, so nobody is messaged for a cart they bought while paused)."""
    ctx.require(Permission.WRITE)
    journey = await _move_status(
        ctx, await _existing(ctx, journey_id), "published", "paused", "paused"
    )
    await listen(journey, paused=True)
    await journey_runner.hold(journey.workspace_id, journey.id)
    return journey


async def resume_journey(
    ctx: RequestContext, journey_id: str, now: datetime | None = None
) -> Journey:
    ctx.require(Permission.WRITE)
    journey = await _move_status(
        ctx, await _existing(ctx, journey_id), "paused", "published", "resumed"
    )
    await listen(journey)
    await journey_runner.release(journey.workspace_id, journey.id, now)
    return journey


async def archive_journey(ctx: RequestContext, journey_id: str) -> Journey:
    """Completed: no new runs, and every run still inside ends (exited, 'archived')."""
    ctx.require(Permission.WRITE)
    journey = await _existing(ctx, journey_id)
    if journey.status == "completed":
        return journey
    await Journey.get_pymongo_collection().update_one(
        {"_id": journey.id, "workspace_id": ctx.workspace_id},
        {"$set": {"status": "completed", "updated_at": datetime.now(UTC)}},
    )
    await reactions.stop_listening(ctx.workspace_id, f"journey:{journey.id}")
    ended = await journey_runner.end_all(ctx.workspace_id, journey.id, "archived")
    await audit.record(ctx.principal, "journey.archived", "journey", journey.id, {"ended": ended})
    return await _stored(ctx.workspace_id, journey.id)


async def delete_journey(ctx: RequestContext, journey_id: str) -> str:
    """Drafts and archived journeys only (a live one is archived first): the journey, its
    versions and its runs go."""
    ctx.require(Permission.WRITE)
    journey = await _existing(ctx, journey_id)
    if journey.status in ("published", "paused"):
        raise Conflict("Archive a live journey before deleting it.", field="id")
    scope = {"workspace_id": ctx.workspace_id, "journey_id": journey.id}
    await reactions.stop_listening(ctx.workspace_id, f"journey:{journey.id}")
    await Enrollment.get_pymongo_collection().delete_many(scope)
    await JourneyVersion.get_pymongo_collection().delete_many(scope)
    await Journey.get_pymongo_collection().delete_one(
        {"_id": journey.id, "workspace_id": ctx.workspace_id}
    )
    await audit.record(
        ctx.principal, "journey.deleted", "journey", journey.id, {"name": journey.name}
    )
    return str(journey.id)


# --- runs ------------------------------------------------------------------------------------


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
    journey = await _existing(ctx, journey_id, field="journeyId")
    if journey.status != "published":
        raise Conflict("Only a published journey takes new runs.", field="journeyId")
    if data is not None and not isinstance(data, dict):
        raise InvalidInput("data must be an object.", field="data")
    oid = parse_id(contact_id)
    contact = oid and await Contact.find_one({"_id": oid, "workspace_id": ctx.workspace_id})
    if not contact:
        raise NotFound("Contact not found.", field="contactId")
    trigger = {"id": None, "name": "api", "properties": data or {}}
    enrollment = await journey_runner.enroll(
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


async def journey_analytics(ctx: RequestContext, journey: Journey) -> dict[str, Any]:
    ctx.require(Permission.READ)
    return await count_journey(ctx.workspace_id, journey.id)


async def journey_problems(ctx: RequestContext, journey: Journey) -> list[InvalidInput]:
    """What would stop publishing the journey as it is saved now."""
    data = {"nodes": journey.nodes, "edges": journey.edges, "settings": journey.settings}
    return await validate_journey(ctx, None, data)
