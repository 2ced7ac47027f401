"""Segments of the caller's workspace: define, preview, list, duplicate and delete
(static lists are segments.static, live counts segments.live_counts).

Dynamic segments are rules (engine.segments): validated with every problem reported at
its path inside the rule ("rules.all[2].op"), stored with the references they read,
and populated at once (segments.recompute); from then on membership follows
each change of a contact (segments.membership.reevaluate) and the clock (the scheduled
refresh of time windows). Static segments are a fixed set of contacts, given by id or
copied from another segment. Either way members are the contacts whose `segments`
holds the segment's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.segment import Segment
from engine.access import Permission
from engine.errors import Conflict, InvalidInput, NotFound, Problems
from engine.names import clean_name
from engine.segments import rules as rule_language
from resolvers.accounts.custom_fields import custom_fields
from resolvers.accounts.locations import get_location
from resolvers.core import audit, live, lookup
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page, paginate
from resolvers.segments import membership, recompute, transitions

MAX_SAMPLE = 100


MAX_TAGS = 20


class RuleErrors(Problems):
    """Every problem of a segment definition, each with its path."""


@dataclass
class Preview:
    count: int
    sample: list[Contact]


async def get_segment(ctx: RequestContext, segment_id: str) -> Segment | None:
    ctx.require(Permission.READ)
    oid = parse_id(segment_id, "Segment")
    if oid is None:
        return None
    return await Segment.find_one({"_id": oid, "workspace_id": ctx.workspace_id})


async def require_segment(ctx: RequestContext, segment_id: str, field: str = "id") -> Segment:
    segment = await get_segment(ctx, segment_id)
    if segment is None:
        raise NotFound("Segment not found.", field=field)
    return segment


async def list_segments(ctx: RequestContext, first: int | None, after: str | None) -> Page:
    ctx.require(Permission.READ)
    return await paginate(Segment, {"workspace_id": ctx.workspace_id}, first, after)


async def stored_segment(
    workspace_id: PydanticObjectId, segment_id: PydanticObjectId
) -> Segment | None:
    """A segment as stored now (scoped, like every query)."""
    return await Segment.find_one({"_id": segment_id, "workspace_id": workspace_id})


async def check_rules(ctx: RequestContext, rules: Any, self_id: str | None = None) -> Any:
    """Raise RuleErrors with every problem of `rules` (paths like rules.all[2].op); return
    them normalised (date comparisons marked, so compiling needs no field types)."""
    if rules is None:
        raise RuleErrors([InvalidInput("A dynamic segment needs rules.", field="rules")])
    rows = (
        await Segment.get_pymongo_collection()
        .find({"workspace_id": ctx.workspace_id}, {"rules": 1, "kind": 1})
        .to_list(None)
    )
    known = {str(r["_id"]): (r.get("rules") or {}) for r in rows}
    fields = await custom_fields(ctx.workspace_id)
    errors = rule_language.validate(rules, fields, segment_rules=known.get, self_id=self_id)
    if errors:
        raise RuleErrors(errors)
    return rule_language.normalize(rules, fields)


def clean_tags(values: list[str] | None) -> list[str]:
    tags = sorted({clean_name(t, "tags", max_length=64) for t in values or []})
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"A segment may have at most {MAX_TAGS} tags.", field="tags")
    return tags


async def _location_id(ctx: RequestContext, value: str | None) -> PydanticObjectId | None:
    if value is None:
        return None
    location = await get_location(ctx, value)
    if location is None:
        raise NotFound("Location not found.", field="locationId")
    return location.id


async def _backfill(segment: Segment) -> None:
    """Aggregates of `where` conditions that no other segment of the workspace built."""
    if not rule_language.event_filters(segment.rules):
        return
    others = [
        other
        for other in await Segment.find(
            {"workspace_id": segment.workspace_id, "kind": "dynamic"}
        ).to_list()
        if other.id != segment.id
    ]
    built = {key for other in others for key, _, _ in rule_language.event_filters(other.rules)}
    await recompute.backfill_event_filters(segment.workspace_id, segment.rules, skip=built)


def _set_rules(segment: Segment, rules: dict[str, Any]) -> None:
    segment.rules = rules
    segment.references = membership.stored_references(rules)
    if segment.location_id is not None:
        segment.references = sorted({*segment.references, "field:location_id"})
    segment.time_dependent = rule_language.is_time_dependent(rules)


async def create_segment(ctx: RequestContext, data: dict[str, Any]) -> Segment:
    """A dynamic segment from `data` {name, description, tags, rules, location_id},
    populated before it is returned."""
    ctx.require(Permission.WRITE)
    name = clean_name(data.get("name") or "", "name")
    description = (data.get("description") or "").strip()[:1000]
    tags = clean_tags(data.get("tags"))
    rules = await check_rules(ctx, data.get("rules"))
    segment = Segment(
        workspace_id=ctx.workspace_id,
        name=name,
        description=description,
        tags=tags,
        kind="dynamic",
        location_id=await _location_id(ctx, data.get("location_id")),
        created_by=ctx.principal.label,
    )
    _set_rules(segment, rules)
    await segment.insert()
    await _backfill(segment)
    await recompute.recompute(segment)
    await audit.record(ctx.principal, "segment.created", "segment", segment.id, {"name": name})
    return await stored_segment(segment.workspace_id, segment.id)


async def update_segment(ctx: RequestContext, segment_id: str, data: dict[str, Any]) -> Segment:
    """Change what `data` holds; new rules (or a new outlet) recompute the membership."""
    ctx.require(Permission.WRITE)
    segment = await require_segment(ctx, segment_id)
    sets: dict[str, Any] = {"updated_at": datetime.now(UTC)}
    if data.get("name") is not None:
        sets["name"] = clean_name(data["name"], "name")
    if data.get("description") is not None:
        sets["description"] = data["description"].strip()[:1000]
    if data.get("tags") is not None:
        sets["tags"] = clean_tags(data["tags"])
    audience_changed = False
    if "location_id" in data:
        segment.location_id = await _location_id(ctx, data["location_id"])
        sets["location_id"] = segment.location_id
        audience_changed = True
    if data.get("rules") is not None:
        if segment.kind != "dynamic":
            raise InvalidInput("A static segment has no rules.", field="rules")
        segment.rules = await check_rules(ctx, data["rules"], self_id=str(segment.id))
        audience_changed = True
    if audience_changed and segment.kind == "dynamic":
        _set_rules(segment, segment.rules or {})
        sets.update(
            rules=segment.rules,
            references=segment.references,
            time_dependent=segment.time_dependent,
        )
    await Segment.get_pymongo_collection().update_one(
        {"_id": segment.id, "workspace_id": ctx.workspace_id}, {"$set": sets}
    )
    segment = await stored_segment(segment.workspace_id, segment.id)
    if audience_changed and segment.kind == "dynamic":
        await _backfill(segment)
        await recompute.recompute(segment)
    await audit.record(
        ctx.principal,
        "segment.updated",
        "segment",
        segment.id,
        {"fields": sorted(k for k in sets if k != "updated_at")},
    )
    return await stored_segment(segment.workspace_id, segment.id)


async def duplicate_segment(ctx: RequestContext, segment_id: str, name: str | None) -> Segment:
    """A copy: the same rules (recomputed), or for a static segment the same members."""
    ctx.require(Permission.WRITE)
    source = await require_segment(ctx, segment_id)
    copy = Segment(
        workspace_id=ctx.workspace_id,
        name=clean_name(name, "name") if name else clean_name(f"{source.name} (copy)", "name"),
        description=source.description,
        tags=list(source.tags),
        kind=source.kind,
        rules=source.rules,
        location_id=source.location_id,
        references=list(source.references),
        time_dependent=source.time_dependent,
        created_by=ctx.principal.label,
    )
    await copy.insert()
    if copy.kind == "dynamic":
        await recompute.recompute(copy)
    else:
        await copy_members(ctx.workspace_id, str(source.id), copy)
    await audit.record(
        ctx.principal, "segment.duplicated", "segment", copy.id, {"from": str(source.id)}
    )
    return await stored_segment(copy.workspace_id, copy.id)


async def delete_segment(ctx: RequestContext, segment_id: str) -> str:
    """The segment goes; its contacts stay (they only lose the membership). A segment
    that other segments are built on (in_segment) cannot be deleted."""
    ctx.require(Permission.WRITE)
    segment = await require_segment(ctx, segment_id)
    sid = str(segment.id)
    users = await Segment.find(
        {
            "workspace_id": ctx.workspace_id,
            "references": membership.encode_reference(("segment", sid)),
        }
    ).to_list()
    if users:
        names = ", ".join(sorted(u.name for u in users)[:5])
        raise Conflict(f"Other segments are built on this one: {names}.", field="id")
    await Segment.get_pymongo_collection().delete_one(
        {"_id": segment.id, "workspace_id": ctx.workspace_id}
    )
    await Contact.get_pymongo_collection().update_many(
        {"workspace_id": ctx.workspace_id, "segments": sid}, {"$pull": {"segments": sid}}
    )
    await live.publish(
        ctx.workspace_id, transitions.count_topic(sid), {"count": 0, "deleted": True}
    )
    await audit.record(ctx.principal, "segment.deleted", "segment", sid, {"name": segment.name})
    return sid


async def preview(
    ctx: RequestContext, rules: Any, sample_size: int = 10, location_id: str | None = None
) -> Preview:
    """How many contacts the rules find now, and a few of them (newest first), before
    saving."""
    ctx.require(Permission.READ)
    if not 0 <= sample_size <= MAX_SAMPLE:
        raise InvalidInput(f"sampleSize must be 0 to {MAX_SAMPLE}.", field="sampleSize")
    rules = await check_rules(ctx, rules)
    probe = Segment(
        workspace_id=ctx.workspace_id,
        name="preview",
        rules=rules,
        location_id=await _location_id(ctx, location_id),
    )
    now = datetime.now(UTC)
    count, sample = 0, []
    # One pass over the scope, newest first (the (workspace_id, _id) index), rules
    # evaluated in Python as recompute.recompute does.
    cursor = Contact.get_pymongo_collection().find(membership.audience_scope(probe))
    async for doc in cursor.sort("_id", -1):
        if membership.is_member(probe, doc, now):
            count += 1
            if len(sample) < sample_size:
                sample.append(Contact.model_validate(doc))
    return Preview(count=count, sample=sample)


async def copy_members(workspace_id: PydanticObjectId, source_id: str, target: Segment) -> None:
    rows = (
        await Contact.get_pymongo_collection()
        .find({"workspace_id": workspace_id, "segments": source_id}, {"_id": 1})
        .to_list(None)
    )
    done = transitions.Transitions()
    moved_in, _ = await transitions.apply(workspace_id, target, [r["_id"] for r in rows], [])
    done.entered[str(target.id)] = [str(c) for c in moved_in]
    await membership.cascade(workspace_id, str(target.id), done)


async def segments_by_ids(ctx: RequestContext, ids: list[str]) -> dict[PydanticObjectId, Segment]:
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, Segment, ids)
