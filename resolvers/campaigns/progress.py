"""A campaign's send progress, counted by the database and streamed live."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId

from documents.campaign import Campaign
from resolvers.campaigns.analytics import aggregate_messages, message_match
from resolvers.core import live

PROGRESS_POLL_SECONDS = 5.0


@dataclass
class Progress:
    campaign_id: str
    status: str
    run: int
    targeted: int
    live: int  # scheduled, queued, sending or paused
    sent: int
    failed: int
    skipped: int


async def progress(campaign: Campaign) -> Progress:
    rows = await aggregate_messages(
        [
            *message_match(campaign, campaign.run or None),
            {"$group": {"_id": "$status", "n": {"$sum": 1}}},
        ]
    )
    by_status = {row["_id"]: row["n"] for row in rows}
    return Progress(
        campaign_id=str(campaign.id),
        status=campaign.status,
        run=campaign.run,
        targeted=sum(by_status.values()),
        live=sum(by_status.get(s, 0) for s in ("scheduled", "queued", "sending", "paused")),
        sent=sum(by_status.get(s, 0) for s in ("sent", "delivered", "bounced")),
        failed=by_status.get("failed", 0),
        skipped=by_status.get("skipped", 0),
    )


async def watch_progress(
    workspace_id: PydanticObjectId, campaign_id: PydanticObjectId
) -> AsyncIterator[Progress]:
    """Progress now, then whenever the fan-out, a send or a transition says something
    changed (or every few seconds), only when it differs from the last one sent."""

    topics = [progress_topic(campaign_id), f"sending:{campaign_id}"]
    queue: asyncio.Queue[None] = asyncio.Queue()

    async def pump(topic: str) -> None:
        async for _ in live.subscribe(workspace_id, topic):
            queue.put_nowait(None)

    tasks = [asyncio.create_task(pump(t)) for t in topics]
    try:
        await asyncio.sleep(0.05)  # let the subscriptions register
        last = None
        while True:
            campaign = await Campaign.find_one({"_id": campaign_id, "workspace_id": workspace_id})
            if campaign is None:
                return
            now = await progress(campaign)
            if now != last:
                last = now
                yield now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.get(), PROGRESS_POLL_SECONDS)
            while not queue.empty():  # coalesce a burst into one re-count
                queue.get_nowait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def progress_topic(campaign_id: Any) -> str:
    return f"campaign:{campaign_id}:progress"
