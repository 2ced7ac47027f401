"""Trends: counts of events per time bucket in a zone, total or unique contacts, split
by an event or contact property (top N + other).

Index: {workspace_id, name_key, timestamp} on events (documents/event.py), one range per
event name. Each name is one pipeline: the indexed $match, the location/`where` $match,
then one $group by UTC slot (a divisor of every bucket edge, engine.analytics.buckets),
the event property when the breakdown reads one, and the contact when the answer needs
contacts (unique counts, a segment, a contact-property breakdown). Python then maps
slots to the zone's buckets and picks the top N.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from engine.access import Permission
from engine.analytics import breakdown as values
from engine.analytics.buckets import EPOCH, Buckets, buckets, parse_zone
from engine.errors import InvalidInput
from resolvers.analytics import scope as scopes
from resolvers.core.context import RequestContext

MEASURES = ("total", "unique_contacts")


@dataclass(frozen=True)
class Breakdown:
    source: str  # event | contact
    property: str
    limit: int = 10


@dataclass
class TrendQuery:
    events: list[str]
    start: datetime
    end: datetime
    interval: str = "day"
    time_zone: str = "UTC"
    measure: str = "total"
    breakdown: Breakdown | None = None
    where: Any = None
    segment_id: str | None = None
    location_id: str | None = None


@dataclass
class Series:
    event: str
    breakdown_value: str | None
    values: list[int]
    total: int
    is_other: bool = False


@dataclass
class Trend:
    interval: str
    time_zone: str
    buckets: list[datetime]
    series: list[Series] = field(default_factory=list)


def slot_expression(slot_ms: int) -> dict[str, Any]:
    """The start (epoch ms) of the UTC slot of `$timestamp`."""
    since = {"$subtract": ["$timestamp", EPOCH]}
    return {"$subtract": [since, {"$mod": [since, slot_ms]}]}


def check_breakdown(value: Breakdown | None) -> Breakdown | None:
    if value is None:
        return None
    if value.source not in ("event", "contact"):
        raise InvalidInput("breakdown.source is EVENT or CONTACT.", field="breakdown.source")
    values.check_property(value.property, "breakdown.property")
    values.check_limit(value.limit, "breakdown.limit")
    return value


def _group(
    stages: list[dict[str, Any]], slot_ms: int, by: Breakdown | None, contacts: bool
) -> list[dict[str, Any]]:
    """One row per slot (and event-property value); with `contacts`, the slot's contact
    ids too ($push: one row per slot, not per contact, costs less to return; $addToSet
    is quadratic on SecantusDB)."""
    key: dict[str, Any] = {"s": slot_expression(slot_ms)}
    if by is not None and by.source == "event":
        key["v"] = f"$properties.{by.property}"
    accumulate: dict[str, Any] = {"n": {"$sum": 1}}
    if contacts:
        accumulate["c"] = {"$push": "$contact_id"}
    return [*stages, {"$group": {"_id": key, **accumulate}}]


Entry = tuple[int, Any, Any, int]  # (slot start ms, breakdown value, contact | None, count)


def entries(rows: list[dict[str, Any]], admits: Any = None) -> list[Entry]:
    """The grouped rows as (slot, value, contact, count), contacts filtered by `admits`."""
    out: list[Entry] = []
    for row in rows:
        slot, value = int(row["_id"]["s"]), row["_id"].get("v")
        if "c" not in row:
            out.append((slot, value, None, int(row["n"])))
            continue
        for contact, n in Counter(row["c"]).items():
            if admits is None or admits(contact):
                out.append((slot, value, contact, n))
    return out


async def trend(ctx: RequestContext, query: TrendQuery) -> Trend:
    ctx.require(Permission.READ)
    return await compute(ctx.workspace_id, query)


async def compute(workspace_id: PydanticObjectId, query: TrendQuery) -> Trend:
    """The trend of `query` (validated here: zone, names, range, breakdown, where)."""
    tz = parse_zone(query.time_zone)
    if query.measure not in MEASURES:
        raise InvalidInput("measure is TOTAL or UNIQUE_CONTACTS.", field="measure")
    names = scopes.event_keys(query.events)
    start, end = scopes.time_range(query.start, query.end)
    grid = buckets(start, end, query.interval, tz)
    by = check_breakdown(query.breakdown)
    scope = await scopes.scope(
        workspace_id,
        segment_id=query.segment_id,
        location_id=query.location_id,
        where=query.where,
    )
    unique = query.measure == "unique_contacts"
    contacts = (
        unique or scope.segment_members is not None or (by is not None and by.source == "contact")
    )
    per_event: list[tuple[str, list[Entry]]] = []
    for name, key in names:
        rows = await scopes.aggregate(
            _group(scope.stages(key, start, end), grid.slot_ms, by, contacts)
        )
        admits = scope.admits if scope.segment_members is not None else None
        per_event.append((name, entries(rows, admits)))
    if by is not None and by.source == "contact":
        # One read of the contacts of every series: their current property value.
        current = await scopes.contact_values(
            workspace_id,
            list({e[2] for _, found in per_event for e in found}),
            f"properties.{by.property}",
        )
        per_event = [
            (name, [(s, current.get(c), c, n) for s, _, c, n in found]) for name, found in per_event
        ]
    series: list[Series] = []
    for name, found in per_event:
        series.extend(assemble(name, grid, found, by, unique))
    return Trend(query.interval, query.time_zone, list(grid.starts), series)


def assemble(
    name: str, grid: Buckets, found: list[Entry], by: Breakdown | None, unique: bool
) -> list[Series]:
    """Series of one event from its (slot, value, contact, count) entries."""
    size = len(grid.starts)
    # label -> bucket -> count (total) or contacts (unique)
    cells: dict[str | None, list[Any]] = defaultdict(
        lambda: [set() for _ in range(size)] if unique else [0] * size
    )
    for slot, raw, contact, n in found:
        bucket = grid.slot_index(slot)
        value = values.label(raw) if by is not None else None
        if unique:
            cells[value][bucket].add(contact)
        else:
            cells[value][bucket] += n

    def weight(cell: list[Any]) -> int:
        return len(set().union(*cell)) if unique else sum(cell)

    def counts(cell: list[Any]) -> list[int]:
        return [len(c) for c in cell] if unique else list(cell)

    if by is None:
        cell = cells[None]
        return [Series(name, None, counts(cell), weight(cell))]
    kept = values.top(((label, weight(cell)) for label, cell in cells.items()), by.limit)
    out = [Series(name, label, counts(cells[label]), weight(cells[label])) for label in kept]
    rest = [label for label in cells if label not in kept]
    if rest:
        if unique:
            merged: list[Any] = [set().union(*(cells[x][b] for x in rest)) for b in range(size)]
        else:
            merged = [sum(cells[x][b] for x in rest) for b in range(size)]
        out.append(Series(name, values.OTHER, counts(merged), weight(merged), is_other=True))
    return out
