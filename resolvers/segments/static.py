"""Static segments: lists of contacts named by id or by an uploaded CSV, changed only by hand."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.segment import Segment
from engine import csv_mapping
from engine.access import Permission
from engine.errors import InvalidInput, NotFound
from engine.identifiers import normalize_email, normalize_phone
from engine.identity import identity_key
from engine.names import clean_name
from resolvers.accounts.workspaces import phone_region
from resolvers.core import audit
from resolvers.core.context import RequestContext, parse_id
from resolvers.segments import membership, transitions
from resolvers.segments.define import clean_tags, copy_members, require_segment, stored_segment

MAX_STATIC_IDS = 10_000


CSV_LOOKUP_CHUNK = 1000


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
        source = await require_segment(ctx, data["from_segment_id"], field="fromSegmentId")
    segment = Segment(
        workspace_id=ctx.workspace_id,
        name=name,
        description=(data.get("description") or "").strip()[:1000],
        tags=clean_tags(data.get("tags")),
        kind="static",
        created_by=ctx.principal.label,
    )
    await segment.insert()
    if source is not None:
        await copy_members(ctx.workspace_id, str(source.id), segment)
    if ids:
        await _change_static(ctx.workspace_id, segment, ids, add=True)
    await audit.record(
        ctx.principal,
        "segment.created",
        "segment",
        segment.id,
        {"name": name, "kind": "static", "from": str(source.id) if source else None},
    )
    return await stored_segment(segment.workspace_id, segment.id), unmatched


async def _change_static(
    workspace_id: PydanticObjectId, segment: Segment, ids: list[PydanticObjectId], *, add: bool
) -> None:
    moved_in, moved_out = await transitions.apply(
        workspace_id, segment, ids if add else [], [] if add else ids
    )
    done = transitions.Transitions()
    sid = str(segment.id)
    done.entered[sid] = [str(c) for c in moved_in]
    done.exited[sid] = [str(c) for c in moved_out]
    await membership.cascade(workspace_id, sid, done)


async def change_static_members(
    ctx: RequestContext, segment_id: str, contact_ids: list[str], *, add: bool
) -> Segment:
    ctx.require(Permission.WRITE)
    segment = await require_segment(ctx, segment_id)
    if segment.kind != "static":
        raise InvalidInput(
            "Members of a dynamic segment follow its rules; add them to a static one.",
            field="id",
        )
    ids = await _contact_ids(ctx, contact_ids)
    await _change_static(ctx.workspace_id, segment, ids, add=add)
    return await stored_segment(segment.workspace_id, segment.id)
