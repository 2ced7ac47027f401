"""Periodic jobs: every process that runs a worker also runs this small clock, and a
Redis lock per time slot (SET NX EX) lets exactly one of them enqueue each job per
period, however many processes there are.

Jobs: `refresh_segments` every 30 seconds, so that segment time windows lapse (and
"more than N days ago" conditions come true) within a minute of the boundary;
`dispatch_due` every 5 seconds, so held sends (quiet hours, send-time optimisation) go out
on time and sends whose queue message was lost are picked up again;
`journey_wakeups` every 5 seconds (journey runs whose wait is over, or whose step message
was lost) and `journey_date_triggers` hourly (date-property journey triggers);
`campaign_tick` every 5 seconds (due scheduled/recurring campaign runs, A/B decisions,
sent campaigns whose last message is out become completed);
`partner_webhooks_due` every 5 seconds (partner webhook deliveries and their retries).
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.asyncio import Redis

from resolvers.core import jobs

log = logging.getLogger("reach.scheduler")

SCHEDULE: tuple[tuple[str, float], ...] = (
    ("refresh_segments", 30.0),
    ("dispatch_due", 5.0),
    ("journey_wakeups", 5.0),
    ("journey_date_triggers", 3600.0),
    ("campaign_tick", 5.0),
    ("partner_webhooks_due", 5.0),
)


async def tick(
    redis: Redis, namespace: str, job: str, period: float, now: float | None = None
) -> bool:
    """Enqueue `job` if no process has done so in this period's slot; True if we did."""
    slot = int((time.time() if now is None else now) // period)
    key = f"{namespace}:schedule:{job}:{slot}"
    if not await redis.set(key, "1", nx=True, ex=max(int(period * 2), 1)):
        return False
    await jobs.enqueue(job)
    return True


async def run(redis: Redis, namespace: str, schedule=SCHEDULE) -> None:
    """Wake at each slot boundary of the shortest period and tick every due job."""
    step = min(period for _, period in schedule)
    while True:
        await asyncio.sleep(step - (time.time() % step) + 0.01)
        now = time.time()
        for job, period in schedule:
            try:
                await tick(redis, namespace, job, period, now)
            except Exception:
                log.exception("scheduling %s failed", job)


def start(redis: Redis, namespace: str) -> asyncio.Task:
    return asyncio.create_task(run(redis, namespace), name="reach-scheduler")


async def stop(task: asyncio.Task | None) -> None:
    if task is None:
        return
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
