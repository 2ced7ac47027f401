"""Funnels: 2-10 ordered steps, a conversion window, strict | ordered | any, conversion
and drop-off per step, median time between steps, split by a property.

Index: {workspace_id, name_key, timestamp} on events (documents/event.py). One pipeline
per distinct step event name, returning only (_id, contact_id, timestamp, properties);
a step's `where` is evaluated in Python (engine.segments.evaluate.where_matches, the same
semantics as the compiled filter) so that STRICT sees the funnel's events a `where`
turned away, and one event can stand for several steps of the same name. Steps count in
[from, to) only; engine.analytics.funnel follows each contact's events.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from engine.access import Permission
from engine.analytics import breakdown as values
from engine.analytics import funnel as math
from engine.errors import InvalidInput
from engine.segments.evaluate import where_matches
from engine.zones import as_utc
from resolvers.analytics import scope as scopes
from resolvers.analytics.trends import Breakdown, check_breakdown
from resolvers.core.context import RequestContext


@dataclass
class Step:
    event: str
    where: Any = None


@dataclass
class FunnelQuery:
    steps: list[Step]
    start: datetime
    end: datetime
    window_seconds: int = 604800
    order: str = "ordered"
    breakdown: Breakdown | None = None
    segment_id: str | None = None
    location_id: str | None = None


@dataclass
class FunnelStep:
    event: str
    count: int
    conversion_rate: float
    step_conversion_rate: float
    drop_off: int
    median_seconds_from_previous: float | None


@dataclass
class FunnelBreakdown:
    value: str
    steps: list[FunnelStep]
    is_other: bool = False
    is_missing: bool = False


@dataclass
class Funnel:
    steps: list[FunnelStep]
    breakdowns: list[FunnelBreakdown] = field(default_factory=list)


def _check(query: FunnelQuery) -> list[tuple[str, str, list | None]]:
    if (
        not isinstance(query.steps, list)
        or not math.MIN_STEPS <= len(query.steps) <= math.MAX_STEPS
    ):
        raise InvalidInput(
            f"A funnel has {math.MIN_STEPS} to {math.MAX_STEPS} steps.", field="steps"
        )
    if query.order not in math.ORDERS:
        raise InvalidInput("order is STRICT, ORDERED or ANY.", field="order")
    window = query.window_seconds
    if (
        isinstance(window, bool)
        or not isinstance(window, int)
        or not 1 <= window <= math.MAX_WINDOW_SECONDS
    ):
        raise InvalidInput(
            f"windowSeconds is a whole number from 1 to {math.MAX_WINDOW_SECONDS}.",
            field="windowSeconds",
        )
    return [
        (
            step.event,
            scopes.event_key(step.event, f"steps[{i}].event"),
            scopes.where_conditions(step.where, f"steps[{i}].where"),
        )
        for i, step in enumerate(query.steps)
    ]


async def funnel(ctx: RequestContext, query: FunnelQuery) -> Funnel:
    ctx.require(Permission.READ)
    return await compute(ctx.workspace_id, query)


async def compute(workspace_id: PydanticObjectId, query: FunnelQuery) -> Funnel:
    steps = _check(query)
    start, end = scopes.time_range(query.start, query.end)
    by = check_breakdown(query.breakdown)
    scope = await scopes.scope(
        workspace_id, segment_id=query.segment_id, location_id=query.location_id
    )
    now = datetime.now(UTC)
    per_contact: dict[Any, dict[Any, math.Hit]] = defaultdict(dict)
    entry_values: dict[Any, Any] = {}
    projection = {"contact_id": 1, "timestamp": 1}
    if any(where for _, _, where in steps) or (by is not None and by.source == "event"):
        projection["properties"] = 1
    for key in dict.fromkeys(k for _, k, _ in steps):
        rows = await scopes.aggregate(
            [*scope.stages(key, start, end, where={}), {"$project": projection}]
        )
        for row in rows:
            if not scope.admits(row["contact_id"]):
                continue
            properties = row.get("properties") or {}
            matched = frozenset(
                i
                for i, (_, k, where) in enumerate(steps)
                if k == key and (not where or where_matches(where, properties, now))
            )
            per_contact[row["contact_id"]][row["_id"]] = math.Hit(
                as_utc(row["timestamp"]), _order(row["_id"]), matched
            )
            if by is not None and by.source == "event" and 0 in matched:
                entry_values[row["_id"]] = values.lookup(properties, by.property)
    paths: dict[Any, math.Path] = {}
    for contact, hits in per_contact.items():
        path = math.best_path(list(hits.values()), len(steps), query.window_seconds, query.order)
        if path is not None:
            paths[contact] = path
    names = [name for name, _, _ in steps]
    result = Funnel(_steps(names, list(paths.values()), query.order))
    if by is None:
        return result
    if by.source == "contact":
        found = await scopes.contact_values(workspace_id, list(paths), f"properties.{by.property}")
        labels = {c: values.label(found.get(c)) for c in paths}
    else:
        by_entry = {id(h): v for h, v in _entry_hits(per_contact, entry_values)}
        labels = {c: values.label(by_entry.get(id(p.entry))) for c, p in paths.items()}
    groups: dict[str | None, list[math.Path]] = defaultdict(list)
    for contact, path in paths.items():
        groups[labels[contact]].append(path)
    kept = values.top(((label, len(ps)) for label, ps in groups.items()), by.limit)
    for label in kept:
        result.breakdowns.append(
            FunnelBreakdown(
                value=label if label is not None else "",
                steps=_steps(names, groups[label], query.order),
                is_missing=label is None,
            )
        )
    rest = [p for label, ps in groups.items() if label not in kept for p in ps]
    if rest:
        result.breakdowns.append(
            FunnelBreakdown(values.OTHER, _steps(names, rest, query.order), is_other=True)
        )
    return result


def _entry_hits(per_contact: dict, entry_values: dict):
    for hits in per_contact.values():
        for event_id, hit in hits.items():
            if event_id in entry_values:
                yield hit, entry_values[event_id]


def _order(event_id: Any) -> int:
    """ObjectIds order by creation; equal timestamps then follow arrival order."""
    try:
        return int(str(event_id), 16)
    except ValueError:
        return 0


def _steps(names: list[str], paths: list[math.Path], order: str) -> list[FunnelStep]:
    return [
        FunnelStep(
            event=names[row.index],
            count=row.count,
            conversion_rate=row.conversion_rate,
            step_conversion_rate=row.step_conversion_rate,
            drop_off=row.drop_off,
            median_seconds_from_previous=row.median_seconds_from_previous,
        )
        for row in math.step_table(paths, len(names), order)
    ]
