"""Run actor coroutines on the event loop that owns the database clients.

PyMongo's async client and Redis's asyncio client belong to one event loop. In
`reach serve` that is the server's loop; in `reach worker` it is a loop thread
the worker starts. Dramatiq's worker threads hand coroutines to it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

_loop: asyncio.AbstractEventLoop | None = None


def bind(loop: asyncio.AbstractEventLoop) -> None:
    global _loop
    _loop = loop


def run[T](coro: Coroutine[Any, Any, T], timeout: float = 300.0) -> T:
    if _loop is None:
        coro.close()
        raise RuntimeError("workers.loop.bind() has not been called")
    return asyncio.run_coroutine_threadsafe(coro, _loop).result(timeout)


class LoopThread:
    """A private event loop in a daemon thread, for standalone worker processes."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="reach-loop", daemon=True
        )

    def start(self) -> asyncio.AbstractEventLoop:
        self._thread.start()
        return self.loop

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
