"""Open SMTP sessions, reused across messages: connect, STARTTLS and AUTH once per
connection instead of once per message.

One pool per event loop and server (asyncio connections belong to one loop), at most
`size` sessions open; a session that failed in any way is closed, never reused (its
state is unknown), and one idle longer than IDLE_SECONDS is closed rather than trusted
(servers drop idle clients, typically after a minute or more).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable

import aiosmtplib

IDLE_SECONDS = 20.0


class SmtpPool:
    def __init__(self, size: int) -> None:
        self.gate = asyncio.Semaphore(size)
        self.free: list[tuple[aiosmtplib.SMTP, float]] = []

    @contextlib.asynccontextmanager
    async def session(
        self, connect: Callable[[], Awaitable[aiosmtplib.SMTP]]
    ) -> AsyncIterator[aiosmtplib.SMTP]:
        async with self.gate:
            client = None
            while self.free and client is None:
                candidate, used_at = self.free.pop()
                if candidate.is_connected and time.monotonic() - used_at < IDLE_SECONDS:
                    client = candidate
                else:
                    await close(candidate)
            if client is None:
                client = await connect()
            try:
                yield client
            except BaseException:
                await close(client)
                raise
            self.free.append((client, time.monotonic()))


async def close(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(Exception):
        if client.is_connected:
            await asyncio.wait_for(client.quit(), 2.0)
    with contextlib.suppress(Exception):
        client.close()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, SmtpPool]] = (
    weakref.WeakKeyDictionary()
)


def pool(key: tuple, size: int) -> SmtpPool:
    """The running loop's pool for one server and account."""
    pools = _pools.setdefault(asyncio.get_running_loop(), {})
    found = pools.get(key)
    if found is None:
        found = pools[key] = SmtpPool(size)
    return found


async def close_all() -> None:
    """Close the running loop's sessions (at shutdown)."""
    for found in _pools.pop(asyncio.get_running_loop(), {}).values():
        while found.free:
            await close(found.free.pop()[0])
