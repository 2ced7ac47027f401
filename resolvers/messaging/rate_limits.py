"""Per-provider send rates, shared by every worker process through Redis.

Dramatiq's WindowRateLimiter on the broker's Redis: at most `limit` acquisitions per
one-second window for a key. A send that finds the window full is rescheduled a second
later instead of waiting in a worker thread.
"""

from __future__ import annotations

import asyncio

import dramatiq
from dramatiq.rate_limits import WindowRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

_backend: RedisBackend | None = None


_limiters: dict[tuple[str, int], WindowRateLimiter] = {}


def _limiter(key: str, limit: int) -> WindowRateLimiter:
    global _backend
    if _backend is None:
        _backend = RedisBackend(client=dramatiq.get_broker().client)
    limiter = _limiters.get((key, limit))
    if limiter is None:
        namespace = getattr(dramatiq.get_broker(), "namespace", "reach")
        limiter = WindowRateLimiter(_backend, f"{namespace}:rate:{key}", limit=limit, window=1)
        _limiters[(key, limit)] = limiter
    return limiter


async def acquire(key: str, limit: int) -> bool:
    """True when this send fits in the current window."""
    limiter = _limiter(key, limit)

    def take() -> bool:
        with limiter.acquire(raise_on_failure=False) as acquired:
            return acquired

    return await asyncio.to_thread(take)
