"""Enqueue background jobs by actor name (workers import resolvers, never the reverse)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import dramatiq


async def enqueue(actor_name: str, *args: object) -> None:
    actor = dramatiq.get_broker().get_actor(actor_name)
    # The Redis broker's client is synchronous: keep it off the event loop.
    await asyncio.to_thread(actor.send, *args)


def namespace() -> str:
    """The queues' Redis key prefix (deployments sharing one Redis differ here)."""
    return getattr(dramatiq.get_broker(), "namespace", "reach")


def sends_counter_key() -> str:
    """Redis hash of sends by "channel|status", shared by every process (for /metrics)."""
    return f"{namespace()}:metrics:sends"


async def enqueue_many(actor_name: str, calls: Sequence[Sequence[object]]) -> None:
    """Many jobs of one actor in one trip to a thread (fan-out of thousands of sends)."""
    if not calls:
        return
    actor = dramatiq.get_broker().get_actor(actor_name)

    def send_all() -> None:
        for args in calls:
            actor.send(*args)

    await asyncio.to_thread(send_all)
