"""Live updates through Redis pub/sub: one channel per workspace topic.

Any server process or worker can publish; every server process's subscribers see it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from beanie import PydanticObjectId

from resolvers.core import runtime


def channel(workspace_id: PydanticObjectId, topic: str) -> str:
    return f"reach:ws:{workspace_id}:{topic}"


async def publish(workspace_id: PydanticObjectId, topic: str, payload: dict[str, Any]) -> None:
    await runtime.get().redis.publish(channel(workspace_id, topic), json.dumps(payload))


async def subscribe(workspace_id: PydanticObjectId, topic: str) -> AsyncIterator[dict[str, Any]]:
    pubsub = runtime.get().redis.pubsub()
    await pubsub.subscribe(channel(workspace_id, topic))
    try:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                yield json.loads(message["data"])
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
