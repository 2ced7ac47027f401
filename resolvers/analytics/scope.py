"""What every analytics query shares: the event names, the `where` conditions, the
segment and location filters, and the indexed $match on events.

The first $match is always {workspace_id, name_key, timestamp: {$gte, $lt}}, served by the
events index {workspace_id, name_key, timestamp} (documents/event.py); the location and
`where` conditions go in a second $match, checked on the documents that range returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.event import Event
from documents.segment import Segment
from engine import zones
from engine.errors import InvalidInput, NotFound
from engine.event_names import name_key
from engine.segments import rules as rule_language
from engine.segments.compile import property_filter
from resolvers.core.context import parse_id

MAX_EVENTS = 10
MAX_CONTACT_IDS = 500  # contacts fetched per round trip for breakdowns and cohorts


def event_key(name: object, field: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InvalidInput("An event name (1-200 characters).", field=field)
    return name_key(name)


def event_keys(names: object, field: str = "events") -> list[tuple[str, str]]:
    """(name as given, name key) of 1..10 distinct events."""
    if not isinstance(names, list) or not 1 <= len(names) <= MAX_EVENTS:
        raise InvalidInput(f"Give 1 to {MAX_EVENTS} event names.", field=field)
    out: list[tuple[str, str]] = []
    for i, name in enumerate(names):
        key = event_key(name, f"{field}[{i}]")
        if key not in {k for _, k in out}:
            out.append((name, key))
    return out


def where_conditions(where: Any, field: str = "where") -> list[dict[str, Any]] | None:
    """Validated, normalized event-property conditions (the segment rules' `where`)."""
    if where is None:
        return None
    problems = rule_language.validate({"event": "x", "where": where})
    if problems:
        problem = problems[0]
        path = (problem.field or "").removeprefix("rules.where")
        raise InvalidInput(problem.message, field=field + path)
    return rule_language.normalize({"event": "x", "where": where})["where"]


def where_filter(where: list[dict[str, Any]] | None) -> dict[str, Any]:
    if not where:
        return {}
    now = datetime.now(UTC)
    return {"$and": [property_filter(c, now, event_properties=True) for c in where]}


def time_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = zones.as_utc(start), zones.as_utc(end)
    if end <= start:
        raise InvalidInput("`to` must be after `from`.", field="to")
    return start, end


@dataclass
class Scope:
    """The workspace, and the contacts/location the caller narrowed to."""

    workspace_id: PydanticObjectId
    location_id: str | None = None
    segment_members: set[PydanticObjectId] | None = None  # None: every contact
    where: dict[str, Any] = field(default_factory=dict)

    def admits(self, contact_id: Any) -> bool:
        return self.segment_members is None or contact_id in self.segment_members

    def stages(
        self, key: str, start: datetime, end: datetime, where: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The $match stages of one event name's events in [start, end)."""
        stages: list[dict[str, Any]] = [
            {
                "$match": {
                    "workspace_id": self.workspace_id,
                    "name_key": key,
                    "timestamp": {"$gte": start, "$lt": end},
                }
            }
        ]
        rest: dict[str, Any] = {}
        if self.location_id is not None:
            rest["location_id"] = self.location_id
        rest |= where if where is not None else self.where
        if rest:
            stages.append({"$match": rest})
        return stages


async def segment_members(workspace_id: PydanticObjectId, segment_id: Any) -> set[PydanticObjectId]:
    """The contacts in a segment now, on {workspace_id, segments, _id} (documents/contact)."""
    oid = parse_id(segment_id, "Segment")  # a raw or a global id, never another type's
    if oid is None:
        raise NotFound("No such segment in this workspace.", field="segmentId")
    segment_id = str(oid)
    found = await Segment.get_pymongo_collection().find_one(
        {"_id": oid, "workspace_id": workspace_id}, {"_id": 1}
    )
    if found is None:
        raise NotFound("No such segment in this workspace.", field="segmentId")
    rows = (
        await Contact.get_pymongo_collection()
        .find({"workspace_id": workspace_id, "segments": segment_id}, {"_id": 1})
        .to_list(None)
    )
    return {row["_id"] for row in rows}


def location(location_id: Any) -> str | None:
    if location_id is None:
        return None
    if not isinstance(location_id, str) or not 1 <= len(location_id) <= 64:
        raise InvalidInput("A location id.", field="locationId")
    return location_id


async def scope(
    workspace_id: PydanticObjectId,
    *,
    segment_id: Any = None,
    location_id: Any = None,
    where: Any = None,
) -> Scope:
    return Scope(
        workspace_id=workspace_id,
        location_id=location(location_id),
        segment_members=(
            await segment_members(workspace_id, segment_id) if segment_id is not None else None
        ),
        where=where_filter(where_conditions(where)),
    )


async def aggregate(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cursor = await Event.get_pymongo_collection().aggregate(pipeline)
    return await cursor.to_list(None)


async def contact_values(
    workspace_id: PydanticObjectId, ids: list[Any], path: str
) -> dict[Any, Any]:
    """contact id -> the value at `path` of its document (`properties.plan`, ...), read
    by _id in chunks of point lookups."""
    out: dict[Any, Any] = {}
    collection = Contact.get_pymongo_collection()
    for at in range(0, len(ids), MAX_CONTACT_IDS):
        chunk = ids[at : at + MAX_CONTACT_IDS]
        rows = await collection.find(
            {"_id": {"$in": chunk}, "workspace_id": workspace_id}, {path: 1}
        ).to_list(None)
        for row in rows:
            value: Any = row
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            out[row["_id"]] = value
    return out
