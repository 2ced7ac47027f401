"""Enqueue background jobs by actor name (workers import resolvers, never the reverse)."""

from __future__ import annotations

import asyncio

import dramatiq


async def enqueue(actor_name: str, *args: object) -> None:
    actor = dramatiq.get_broker().get_actor(actor_name)
    # The Redis broker's client is synchronous: keep it off the event loop.
    await asyncio.to_thread(actor.send, *args)
