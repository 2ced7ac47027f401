"""A `reach worker` process for bench.send: the production worker, plus the baseline actor
and a MongoDB command counter whose totals it writes to a file when it stops.

    python -m bench.send_worker <counts.json>   (configured by the same env as reach worker)
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
from pathlib import Path

from bench.harness import CommandCounter
from bench.send_baseline import register_baseline
from reach.services import close_services, open_services
from reach.settings import Settings
from workers.loop import LoopThread


def main() -> None:
    out = Path(sys.argv[1])
    settings = Settings()
    register_baseline()
    counter = CommandCounter()
    loop_thread = LoopThread()
    loop = loop_thread.start()
    services = asyncio.run_coroutine_threadsafe(
        open_services(
            settings,
            settings.mongodb_uri,
            settings.redis_url,
            run_worker=True,
            mongo_listeners=[counter],
        ),
        loop,
    ).result(60)
    print("bench worker ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    asyncio.run_coroutine_threadsafe(close_services(services), loop).result(60)
    loop_thread.stop()
    counts = {"commands": counter.count, "by_name": dict(counter.by_name)}
    counts["micros"] = dict(counter.micros)  # driver wait per command name
    out.write_text(json.dumps(counts))


if __name__ == "__main__":
    main()
