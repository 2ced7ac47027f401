"""Segments of the caller's workspace: define, preview, list, duplicate, delete, export,
static lists, and live counts.

Dynamic segments are rules (engine.segments): validated with every problem reported at
its path inside the rule ("rules.all[2].op"), stored with the references they read,
and populated at once (resolvers.membership.recompute); from then on membership follows
each change of a contact (resolvers.membership.reevaluate) and the clock (the scheduled
refresh of time windows). Static segments are a fixed set of contacts, given by id or
copied from another segment. Either way members are the contacts whose `segments`
holds the segment's id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.segment import Segment
from engine import csv_mapping
from engine.access import Permission
from engine.errors import Conflict, InvalidInput, NotFound, Problems
from engine.identifiers import normalize_email, normalize_phone
from engine.identity import identity_key
from engine.names import clean_name
from engine.segments import rules as rule_language
from resolvers import audit, contacts, imports, live, membership, runtime
from resolvers.context import RequestContext, parse_id
from resolvers.ingest import custom_fields
from resolvers.locations import get_location
from resolvers.pagination import Page, paginate
from resolvers.workspaces import phone_region

MAX_SAMPLE = 100
MAX_STATIC_IDS = 10_000
CSV_LOOKUP_CHUNK = 1000
MAX_TAGS = 20
WATCH_POLL_SECONDS = 5.0  # a count subscription re-reads the segment at least this often


class RuleErrors(Problems):
    """Every problem of a segment definition, each with its path."""


@dataclass
class Preview:
    count: int
    sample: list[Contact]


# --- reading ---------------------------------------------------------------------------------


async def get_segment(ctx: RequestContext, segment_id: str) -> Segment | None:
    ctx.require(Permission.READ)
    oid = parse_id(segment_id)
    if oid is None:
        return None
    return await Segment.find_one({"_id": oid, "workspace_id": ctx.workspace_id})


async def _existing(ctx: RequestContext, segment_id: str, field: str = "id") -> Segment:
    segment = await get_segment(ctx, segment_id)
    if segment is None:
        raise NotFound("Segment not found.", field=field)
    return segment


async def list_segments(ctx: RequestContext, first: int | None, after: str | None) -> Page:
    ctx.require(Permission.READ)
    return await paginate(Segment, {"workspace_id": ctx.workspace_id}, first, after)


async def list_members(
    ctx: RequestContext, segment: Segment, first: int | None, after: str | None
) -> Page:
    return await contacts.list_contacts(ctx, first, after, segment_id=str(segment.id))


async def _stored(workspace_id: PydanticObjectId, segment_id: PydanticObjectId) -> Segment | None:
    """A segment as stored now (scoped, like every query)."""
    return await Segment.find_one({"_id": segment_id, "workspace_id": workspace_id})


# --- validation ------------------------------------------------------------------------------


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


def _tags(values: list[str] | None) -> list[str]:
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
    await membership.backfill_event_filters(segment.workspace_id, segment.rules, skip=built)


def _set_rules(segment: Segment, rules: dict[str, Any]) -> None:
    segment.rules = rules
    segment.references = membership.stored_references(rules)
    if segment.location_id is not None:
        segment.references = sorted({*segment.references, "field:location_id"})
    segment.time_dependent = rule_language.is_time_dependent(rules)


# --- dynamic segments --------------------------------------------------------------------


async def create_segment(ctx: RequestContext, data: dict[str, Any]) -> Segment:
    """A dynamic segment from `data` {name, description, tags, rules, location_id},
    populated before it is returned."""
    ctx.require(Permission.WRITE)
    name = clean_name(data.get("name") or "", "name")
    description = (data.get("description") or "").strip()[:1000]
    tags = _tags(data.get("tags"))
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
    await membership.recompute(segment)
    await audit.record(ctx.principal, "segment.created", "segment", segment.id, {"name": name})
    return await _stored(segment.workspace_id, segment.id)


async def update_segment(ctx: RequestContext, segment_id: str, data: dict[str, Any]) -> Segment:
    """Change what `data` holds; new rules (or a new outlet) recompute the membership."""
    ctx.require(Permission.WRITE)
    segment = await _existing(ctx, segment_id)
    sets: dict[str, Any] = {"updated_at": datetime.now(UTC)}
    if data.get("name") is not None:
        sets["name"] = clean_name(data["name"], "name")
    if data.get("description") is not None:
        sets["description"] = data["description"].strip()[:1000]
    if data.get("tags") is not None:
        sets["tags"] = _tags(data["tags"])
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
    segment = await _stored(segment.workspace_id, segment.id)
    if audience_changed and segment.kind == "dynamic":
        await _backfill(segment)
        await membership.recompute(segment)
    await audit.record(
        ctx.principal,
        "segment.updated",
        "segment",
        segment.id,
        {"fields": sorted(k for k in sets if k != "updated_at")},
    )
    return await _stored(segment.workspace_id, segment.id)


async def duplicate_segment(ctx: RequestContext, segment_id: str, name: str | None) -> Segment:
    """A copy: the same rules (recomputed), or for a static segment the same members."""
    ctx.require(Permission.WRITE)
    source = await _existing(ctx, segment_id)
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
        await membership.recompute(copy)
    else:
        await _copy_members(ctx.workspace_id, str(source.id), copy)
    await audit.record(
        ctx.principal, "segment.duplicated", "segment", copy.id, {"from": str(source.id)}
    )
    return await _stored(copy.workspace_id, copy.id)


async def delete_segment(ctx: RequestContext, segment_id: str) -> str:
    """The segment goes; its contacts stay (they only lose the membership). A segment
    that other segments are built on (in_segment) cannot be deleted."""
    ctx.require(Permission.WRITE)
    segment = await _existing(ctx, segment_id)
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
    await live.publish(ctx.workspace_id, membership.count_topic(sid), {"count": 0, "deleted": True})
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
    # evaluated in Python as membership.recompute does.
    cursor = Contact.get_pymongo_collection().find(membership.audience_scope(probe))
    async for doc in cursor.sort("_id", -1):
        if membership.is_member(probe, doc, now):
            count += 1
            if len(sample) < sample_size:
                sample.append(Contact.model_validate(doc))
    return Preview(count=count, sample=sample)


# --- static segments ----------------------------------------------------------------------


async def _contact_ids(ctx: RequestContext, values: list[str]) -> list[PydanticObjectId]:
    if len(values) > MAX_STATIC_IDS:
        raise InvalidInput(f"At most {MAX_STATIC_IDS} contacts at once.", field="contactIds")
    oids = []
    for i, value in enumerate(values):
        oid = parse_id(value)
        if oid is None:
            raise NotFound("Contact not found.", field=f"contactIds[{i}]")
        oids.append(oid)
    found = {
        d["_id"]
        for d in await Contact.get_pymongo_collection()
        .find({"_id": {"$in": oids}, "workspace_id": ctx.workspace_id}, {"_id": 1})
        .to_list(None)
    }
    for i, oid in enumerate(oids):
        if oid not in found:
            raise NotFound("Contact not found.", field=f"contactIds[{i}]")
    return list(dict.fromkeys(oids))


async def _copy_members(workspace_id: PydanticObjectId, source_id: str, target: Segment) -> None:
    rows = (
        await Contact.get_pymongo_collection()
        .find({"workspace_id": workspace_id, "segments": source_id}, {"_id": 1})
        .to_list(None)
    )
    done = membership.Transitions()
    moved_in, _ = await membership.apply(workspace_id, target, [r["_id"] for r in rows], [])
    done.entered[str(target.id)] = [str(c) for c in moved_in]
    await membership.cascade(workspace_id, str(target.id), done)


def _identifier(kind: str, raw: str, region: str | None) -> Any:
    if kind == "id":
        return parse_id(raw)
    try:
        if kind == "email":
            return normalize_email(raw)
        if kind == "phone":
            return normalize_phone(raw, region)
    except InvalidInput:
        return None
    return raw


async def _csv_contacts(ctx: RequestContext, text: str) -> tuple[list[PydanticObjectId], list[int]]:
    """The contacts a CSV names (by a column id, user_id, email or phone: an export
    works), and the numbers of the rows that found none."""
    table = await asyncio.to_thread(csv_mapping.parse, text)
    columns = {}
    for position, header in enumerate(table.header):
        compact = re.sub(r"[^a-z0-9]", "", header.lower())
        kind = "id" if compact in ("id", "contactid") else csv_mapping.column_target(header)
        if kind in ("id", "user_id", "email", "phone"):
            columns.setdefault(kind, position)
    if not columns:
        raise InvalidInput(
            "The file needs a column id, user_id, email or phone to find contacts by.",
            field="csv",
        )
    region = await phone_region(ctx.workspace_id)
    wanted: list[tuple[int, list[tuple[str, Any]]]] = []
    values: dict[str, set[Any]] = {kind: set() for kind in columns}
    for number, cells in table.rows:
        keys = []
        for kind, position in columns.items():
            raw = cells[position].strip() if position < len(cells) else ""
            if not raw:
                continue
            value = _identifier(kind, raw, region)
            if value is None:  # a malformed identifier finds nobody
                continue
            keys.append((kind, value))
            values[kind].add(value)
        wanted.append((number, keys))
    index: dict[tuple[str, Any], PydanticObjectId] = {}
    collection = Contact.get_pymongo_collection()
    projection = {"_id": 1, "user_id": 1, "email": 1, "phone": 1}
    keys = sorted(
        identity_key(kind, value)
        for kind, found in values.items()
        if kind != "id"
        for value in found
    )
    rows = []
    for start in range(0, len(keys), CSV_LOOKUP_CHUNK):  # the identity_keys index
        chunk = keys[start : start + CSV_LOOKUP_CHUNK]
        query = {"workspace_id": ctx.workspace_id, "identity_keys": {"$in": chunk}}
        rows += await collection.find(query, projection).to_list(None)
    by_id = sorted(values.get("id") or [])
    for start in range(0, len(by_id), CSV_LOOKUP_CHUNK):  # point lookups, then the scope
        query = {"_id": {"$in": by_id[start : start + CSV_LOOKUP_CHUNK]}}
        query["workspace_id"] = ctx.workspace_id
        rows += await collection.find(query, projection).to_list(None)
    for row in rows:
        index[("id", row["_id"])] = row["_id"]
        for kind in ("user_id", "email", "phone"):
            if row.get(kind):
                index[(kind, row[kind])] = row["_id"]
    ids: list[PydanticObjectId] = []
    unmatched: list[int] = []
    for number, keys in wanted:
        match = next((index[k] for k in keys if k in index), None)
        if match is None:
            unmatched.append(number)
        else:
            ids.append(match)
    return list(dict.fromkeys(ids)), unmatched


async def create_static_segment(
    ctx: RequestContext, data: dict[str, Any]
) -> tuple[Segment, list[int]]:
    """A static segment of the given contacts (ids, and/or a CSV naming them) and/or a
    snapshot of another segment's members now (`from_segment_id`). Returns it with the
    CSV rows that matched no contact."""
    ctx.require(Permission.WRITE)
    name = clean_name(data.get("name") or "", "name")
    ids = await _contact_ids(ctx, data.get("contact_ids") or [])
    unmatched: list[int] = []
    if data.get("csv"):
        from_csv, unmatched = await _csv_contacts(ctx, data["csv"])
        ids = list(dict.fromkeys([*ids, *from_csv]))
    source = None
    if data.get("from_segment_id") is not None:
        source = await _existing(ctx, data["from_segment_id"], field="fromSegmentId")
    segment = Segment(
        workspace_id=ctx.workspace_id,
        name=name,
        description=(data.get("description") or "").strip()[:1000],
        tags=_tags(data.get("tags")),
        kind="static",
        created_by=ctx.principal.label,
    )
    await segment.insert()
    if source is not None:
        await _copy_members(ctx.workspace_id, str(source.id), segment)
    if ids:
        await _change_static(ctx.workspace_id, segment, ids, add=True)
    await audit.record(
        ctx.principal,
        "segment.created",
        "segment",
        segment.id,
        {"name": name, "kind": "static", "from": str(source.id) if source else None},
    )
    return await _stored(segment.workspace_id, segment.id), unmatched


async def _change_static(
    workspace_id: PydanticObjectId, segment: Segment, ids: list[PydanticObjectId], *, add: bool
) -> None:
    moved_in, moved_out = await membership.apply(
        workspace_id, segment, ids if add else [], [] if add else ids
    )
    done = membership.Transitions()
    sid = str(segment.id)
    done.entered[sid] = [str(c) for c in moved_in]
    done.exited[sid] = [str(c) for c in moved_out]
    await membership.cascade(workspace_id, sid, done)


async def change_static_members(
    ctx: RequestContext, segment_id: str, contact_ids: list[str], *, add: bool
) -> Segment:
    ctx.require(Permission.WRITE)
    segment = await _existing(ctx, segment_id)
    if segment.kind != "static":
        raise InvalidInput(
            "Members of a dynamic segment follow its rules; add them to a static one.",
            field="id",
        )
    ids = await _contact_ids(ctx, contact_ids)
    await _change_static(ctx.workspace_id, segment, ids, add=add)
    return await _stored(segment.workspace_id, segment.id)


# --- export ---------------------------------------------------------------------------------


async def export_members(ctx: RequestContext, segment_id: str) -> AsyncIterator[str]:
    """CSV chunks of the segment's members (checks happen before streaming starts)."""
    segment = await _existing(ctx, segment_id)
    return await imports.export_contacts(ctx, segment_id=str(segment.id))


# --- live ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _listening(ctx: RequestContext, topic: str) -> AsyncIterator[asyncio.Queue]:
    """A queue of the topic's messages; subscribed (confirmed by Redis) on entry, so
    nothing published after entry is missed."""
    pubsub = runtime.get().redis.pubsub()
    await pubsub.subscribe(live.channel(ctx.workspace_id, topic))
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    confirmed = asyncio.Event()

    async def pump() -> None:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            if message.get("type") == "subscribe":
                confirmed.set()
            elif message.get("type") == "message":
                queue.put_nowait(json.loads(message["data"]))

    task = asyncio.create_task(pump())
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(confirmed.wait(), 5.0)
        yield queue
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pubsub.unsubscribe()
        await pubsub.aclose()


async def watch_count(ctx: RequestContext, segment_id: str) -> AsyncIterator[int]:
    """The member count now, then each change (from any process), until it is deleted."""
    segment = await _existing(ctx, segment_id, field="segmentId")
    sid = str(segment.id)
    async with _listening(ctx, membership.count_topic(sid)) as queue:
        segment = await _stored(segment.workspace_id, segment.id)
        if segment is None:
            return
        last = segment.member_count
        yield last
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), WATCH_POLL_SECONDS)
                count = int(message.get("count", 0))
                if message.get("deleted"):
                    if count != last:
                        yield count
                    return
                # A message may overtake another: the stored count is the truth.
                while not queue.empty():
                    queue.get_nowait()
                fresh = await _stored(segment.workspace_id, segment.id)
                if fresh is not None:
                    count = fresh.member_count
            except TimeoutError:
                fresh = await _stored(segment.workspace_id, segment.id)
                if fresh is None:
                    return
                count = fresh.member_count
            if count != last:
                last = count
                yield count


async def watch_changes(ctx: RequestContext, segment_id: str) -> AsyncIterator[dict[str, Any]]:
    """Each contact entering or exiting the segment, as it happens."""
    segment = await _existing(ctx, segment_id, field="segmentId")
    async with _listening(ctx, membership.changes_topic(segment.id)) as queue:
        while True:
            yield await queue.get()
