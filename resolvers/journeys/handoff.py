"""Handing runs to step messages: one `journey_steps` message per page of runs, and whether
such a message is still on its way.

A run handed to a message carries the message's id (`Enrollment.handed`) and a lease
(`due_at`). When the lease runs out the wake-up sweep asks the broker whether that message
is still queued, delayed for a retry or being worked on; only when it is not (lost with
Redis, dead-lettered, never sent because the process died) does the sweep send another.
A lease that merely outlasted a long queue (bulk enrolment at 10,000 contacts) is renewed
instead: re-sending those messages was what made the queue longer still (no-op steps).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import dramatiq

STEPS_ACTOR = "journey_steps"
PAGE = 500  # runs per step message: one read, one queue call and one bulk write per page


def step_message(workspace_id: object, runs: Sequence[tuple[object, int]]) -> dramatiq.Message:
    """The message that continues `runs` [(enrollment id, expected step)] of a workspace."""
    actor = dramatiq.get_broker().get_actor(STEPS_ACTOR)
    return actor.message(str(workspace_id), [[str(run_id), step] for run_id, step in runs])


def pages(runs: Sequence[tuple[object, int]], size: int = PAGE) -> list[Sequence]:
    return [runs[i : i + size] for i in range(0, len(runs), size)]


async def send(messages: Iterable[dramatiq.Message]) -> None:
    """Enqueue built messages (the Redis client is synchronous: off the event loop)."""
    broker = dramatiq.get_broker()
    todo = list(messages)
    if todo:
        await asyncio.to_thread(lambda: [broker.enqueue(m) for m in todo])


async def still_on_the_way(message_ids: set[str]) -> set[str]:
    """The ids among `message_ids` the broker still holds: queued, delayed for a retry, or
    fetched by a worker and not yet acknowledged (Dramatiq's Redis broker keeps a message in
    `<namespace>:<queue>[.DQ].msgs` until it is acknowledged). One pipelined Redis round
    trip. A broker without that layout answers none (the sweep then re-sends, as before)."""
    broker = dramatiq.get_broker()
    client = getattr(broker, "client", None)
    ids = sorted(message_ids)
    if client is None or not ids:
        return set()
    queue = broker.get_actor(STEPS_ACTOR).queue_name
    keys = [f"{broker.namespace}:{queue}.msgs", f"{broker.namespace}:{queue}.DQ.msgs"]

    def check() -> set[str]:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, ids)
        found: set[str] = set()
        for values in pipe.execute():
            found.update(i for i, value in zip(ids, values, strict=True) if value is not None)
        return found

    return await asyncio.to_thread(check)
