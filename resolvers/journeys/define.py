"""Journeys of the caller's workspace: read, create, validate, save and delete them.

The graph comes whole (nodes with their settings, labelled edges) and is checked by
engine.journeys: problems of shape (not lists of objects, unknown types, bad ids, too
many nodes) reject the save; everything else publishing needs is reported with the path
of the node or edge. A draft may be saved with such problems (the canvas is work in
progress, `problems` lists them); a published or paused journey may not: its edit is
validated, frozen as a new JourneyVersion and used by new runs at once, while runs
already inside keep the version they entered with.

What a live journey reacts to (its trigger, the events its waits, exit and goal listen
for) is registered by journeys.listeners; publishing and pausing are journeys.lifecycle,
running is journeys.enroll and journeys.step.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from documents.journey import Enrollment, Journey, JourneyVersion
from documents.segment import Segment
from documents.template import Template
from engine import templates as rendering
from engine.access import Permission
from engine.errors import Conflict, InvalidInput, NotFound, Problems
from engine.journeys import graph as journey_graph
from engine.journeys import options as journey_options
from engine.journeys.settings import Context
from engine.names import clean_name
from resolvers.accounts.custom_fields import custom_fields
from resolvers.core import audit, lookup
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page, paginate
from resolvers.journeys import listeners
from resolvers.journeys.analytics import analytics as count_journey
from resolvers.journeys.listeners import listen
from resolvers.journeys.versions import freeze_version
from resolvers.messaging.templates import SAMPLE_CONTACT
from resolvers.reactions import table

MAX_DESCRIPTION = 1000


_READS_EVENT = re.compile(r"\bevent\b")


class JourneyErrors(Problems):
    """Every problem of a journey definition, each with its path (nodes[3].settings.x)."""


async def get_journey(ctx: RequestContext, journey_id: str) -> Journey | None:
    ctx.require(Permission.READ)
    oid = parse_id(journey_id, "Journey")
    if oid is None:
        return None
    return await Journey.find_one({"_id": oid, "workspace_id": ctx.workspace_id})


async def require_journey(ctx: RequestContext, journey_id: str, field: str = "id") -> Journey:
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
    journey = await require_journey(ctx, journey_id, field="journeyId")
    scope: dict[str, Any] = {"workspace_id": ctx.workspace_id, "journey_id": journey.id}
    query = {**scope, **({"status": status} if status else {})}
    if contact_id is not None:
        # One contact's runs of the journey are few: their ids from the (workspace_id,
        # journey_id, contact_id, ...) indexes, then a page of the named ids (point lookups,
        # status checked on them) instead of an index per filter combination.
        oid = parse_id(contact_id, "Contact") or PydanticObjectId("0" * 24)
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
        journey = await require_journey(ctx, journey_id)
        data = {"nodes": journey.nodes, "edges": journey.edges, "settings": journey.settings}
    try:
        checked, _, problems = await check(ctx.workspace_id, data)
    except JourneyErrors as error:
        return error.errors
    return checked.problems + problems


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
    journey = await require_journey(ctx, journey_id)
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
        version = await freeze_version(journey, checked, options)
        sets |= {"version": version, "published_version": version}
    await Journey.get_pymongo_collection().update_one(
        {"_id": journey.id, "workspace_id": ctx.workspace_id}, {"$set": sets}
    )
    journey = await reload_journey(ctx.workspace_id, journey.id)
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


async def reload_journey(workspace_id: PydanticObjectId, journey_id: PydanticObjectId) -> Journey:
    journey = await Journey.find_one({"_id": journey_id, "workspace_id": workspace_id})
    if journey is None:
        raise NotFound("Journey not found.", field="id")
    return journey


async def delete_journey(ctx: RequestContext, journey_id: str) -> str:
    """Drafts and archived journeys only (a live one is archived first): the journey, its
    versions and its runs go."""
    ctx.require(Permission.WRITE)
    journey = await require_journey(ctx, journey_id)
    if journey.status in ("published", "paused"):
        raise Conflict("Archive a live journey before deleting it.", field="id")
    scope = {"workspace_id": ctx.workspace_id, "journey_id": journey.id}
    await table.stop_listening(ctx.workspace_id, listeners.owner(journey.id))
    await Enrollment.get_pymongo_collection().delete_many(scope)
    await JourneyVersion.get_pymongo_collection().delete_many(scope)
    await Journey.get_pymongo_collection().delete_one(
        {"_id": journey.id, "workspace_id": ctx.workspace_id}
    )
    await audit.record(
        ctx.principal, "journey.deleted", "journey", journey.id, {"name": journey.name}
    )
    return str(journey.id)


async def journey_analytics(ctx: RequestContext, journey: Journey) -> dict[str, Any]:
    ctx.require(Permission.READ)
    return await count_journey(ctx.workspace_id, journey.id)


async def journey_problems(ctx: RequestContext, journey: Journey) -> list[InvalidInput]:
    """What would stop publishing the journey as it is saved now."""
    data = {"nodes": journey.nodes, "edges": journey.edges, "settings": journey.settings}
    return await validate_journey(ctx, None, data)


async def journeys_by_ids(ctx: RequestContext, ids: list[str]) -> dict[PydanticObjectId, Journey]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, Journey, ids)


async def enrollments_by_ids(
    ctx: RequestContext, ids: list[str]
) -> dict[PydanticObjectId, Enrollment]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, Enrollment, ids)
