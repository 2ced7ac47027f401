"""A trend's current bucket, live: the bucket holding now, then again each time it
changes. Ingest publishes one EVENTS_TOPIC notice per stored batch and workspace
(resolvers.events.store.insert_events); a notice naming one of the trend's events makes
it re-count (a burst coalesces into one), and a periodic re-count rolls over into the next
bucket when the clock passes its end. Same pipelines and index as resolvers.analytics.trends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from beanie import PydanticObjectId

from engine.access import Permission
from engine.analytics.buckets import bucket_of, parse_zone
from engine.event_names import name_key
from resolvers.analytics import scope as scopes
from resolvers.analytics import trends
from resolvers.core import live
from resolvers.core.context import RequestContext
from resolvers.events.store import EVENTS_STORED_TOPIC as EVENTS_TOPIC

POLL_SECONDS = 5.0


@dataclass(frozen=True)
class BucketSeries:
    event: str
    breakdown_value: str | None
    value: int
    is_other: bool = False


@dataclass(frozen=True)
class Bucket:
    start: datetime
    series: tuple[BucketSeries, ...]


async def current(
    workspace_id: PydanticObjectId, query: trends.TrendQuery, now: datetime
) -> Bucket:
    tz = parse_zone(query.time_zone)
    start, end = bucket_of(now, query.interval, tz)
    trend = await trends.compute(workspace_id, replace(query, start=start, end=end))
    return Bucket(
        start,
        tuple(BucketSeries(s.event, s.breakdown_value, s.total, s.is_other) for s in trend.series),
    )


async def watch(ctx: RequestContext, query: trends.TrendQuery) -> AsyncIterator[Bucket]:
    ctx.require(Permission.READ)
    workspace_id = ctx.workspace_id
    # Bad input fails here, before any subscription: the current bucket validates it all
    # except the range, which the live bucket replaces (from/to only have to be a range).
    scopes.time_range(query.start, query.end)
    await current(workspace_id, query, datetime.now(UTC))
    keys = {k for _, k in scopes.event_keys(query.events)}
    wake: asyncio.Queue[None] = asyncio.Queue()

    async def pump() -> None:
        async for note in live.subscribe(workspace_id, EVENTS_TOPIC):
            names = note.get("names")
            if not isinstance(names, list) or keys & {name_key(str(n)) for n in names}:
                wake.put_nowait(None)

    task = asyncio.create_task(pump())
    try:
        await asyncio.sleep(0.05)  # let the subscription register before the first count
        last = None
        while True:
            bucket = await current(workspace_id, query, datetime.now(UTC))
            if bucket != last:
                last = bucket
                yield bucket
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.get(), POLL_SECONDS)
            while not wake.empty():
                wake.get_nowait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
