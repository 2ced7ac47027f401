"""Retention: cohorts by the first start event, returns by the return event, per local
day or week, as a triangle (engine.analytics.retention).

Index: {workspace_id, name_key, timestamp} on events (documents/event.py), twice: the
start event grouped by contact ($min timestamp), the return event grouped by (contact,
UTC slot) with the latest time in the slot. "First" means first ever: a contact whose
aggregate (event_stats.<key>.first_at, kept on ingest) is older than the range is no
cohort member; read by _id for the contacts found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from engine.access import Permission
from engine.analytics import retention as math
from engine.analytics.buckets import buckets, parse_zone
from engine.errors import InvalidInput
from engine.stats import escape_key
from engine.zones import as_utc
from resolvers.analytics import scope as scopes
from resolvers.analytics.trends import slot_expression
from resolvers.core.context import RequestContext


@dataclass
class RetentionQuery:
    start_event: str
    return_event: str
    start: datetime
    end: datetime
    interval: str = "day"
    periods: int = 8
    time_zone: str = "UTC"
    segment_id: str | None = None
    location_id: str | None = None


@dataclass
class Retention:
    interval: str
    cohorts: list[math.Cohort]


async def retention(ctx: RequestContext, query: RetentionQuery) -> Retention:
    ctx.require(Permission.READ)
    return await compute(ctx.workspace_id, query)


async def compute(workspace_id: PydanticObjectId, query: RetentionQuery) -> Retention:
    if query.interval not in ("day", "week"):
        raise InvalidInput("Retention is per DAY or WEEK.", field="interval")
    periods = query.periods
    if (
        isinstance(periods, bool)
        or not isinstance(periods, int)
        or not 1 <= periods <= math.MAX_PERIODS
    ):
        raise InvalidInput(
            f"periods is a whole number from 1 to {math.MAX_PERIODS}.", field="periods"
        )
    tz = parse_zone(query.time_zone)
    first_key = scopes.event_key(query.start_event, "startEvent")
    return_key = scopes.event_key(query.return_event, "returnEvent")
    start, end = scopes.time_range(query.start, query.end)
    grid = buckets(start, end, query.interval, tz)
    scope = await scopes.scope(
        workspace_id, segment_id=query.segment_id, location_id=query.location_id
    )
    started = await scopes.aggregate(
        [
            *scope.stages(first_key, start, end),
            {"$group": {"_id": "$contact_id", "first": {"$min": "$timestamp"}}},
        ]
    )
    firsts = {r["_id"]: as_utc(r["first"]) for r in started if scope.admits(r["_id"])}
    stats = await scopes.contact_values(
        workspace_id, list(firsts), f"event_stats.{escape_key(first_key)}.first_at"
    )
    for contact, ever in stats.items():
        if isinstance(ever, datetime) and as_utc(ever) < start:
            firsts.pop(contact, None)  # started before the range: not a new cohort member
    returned = await scopes.aggregate(
        [
            *scope.stages(return_key, start, end),
            {
                "$group": {
                    "_id": {"c": "$contact_id", "s": slot_expression(grid.slot_ms)},
                    "last": {"$max": "$timestamp"},
                }
            },
        ]
    )
    returns: list[tuple[Any, int, datetime]] = [
        (r["_id"]["c"], grid.slot_index(int(r["_id"]["s"])), as_utc(r["last"]))
        for r in returned
        if r["_id"]["c"] in firsts
    ]
    return Retention(query.interval, math.cohorts(grid, firsts, returns, periods))
