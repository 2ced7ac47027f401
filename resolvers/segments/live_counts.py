"""Live segment counts and membership changes, streamed to subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from resolvers.core import live, runtime
from resolvers.core.context import RequestContext
from resolvers.segments import transitions
from resolvers.segments.define import require_segment, stored_segment

WATCH_POLL_SECONDS = 5.0  # a count subscription re-reads the segment at least this often


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
    segment = await require_segment(ctx, segment_id, field="segmentId")
    sid = str(segment.id)
    async with _listening(ctx, transitions.count_topic(sid)) as queue:
        segment = await stored_segment(segment.workspace_id, segment.id)
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
                fresh = await stored_segment(segment.workspace_id, segment.id)
                if fresh is not None:
                    count = fresh.member_count
            except TimeoutError:
                fresh = await stored_segment(segment.workspace_id, segment.id)
                if fresh is None:
                    return
                count = fresh.member_count
            if count != last:
                last = count
                yield count


async def watch_changes(ctx: RequestContext, segment_id: str) -> AsyncIterator[dict[str, Any]]:
    """Each contact entering or exiting the segment, as it happens."""
    segment = await require_segment(ctx, segment_id, field="segmentId")
    async with _listening(ctx, transitions.changes_topic(segment.id)) as queue:
        while True:
            yield await queue.get()
