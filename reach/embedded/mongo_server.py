"""Child process: a mongoeco MongoDB wire server on loopback.

Run as `python -m reach.embedded.mongo_server (--sqlite FILE | --memory)`. It
prints `READY <uri>` once it accepts connections and closes the engine (flushing
SQLite) on SIGTERM or SIGINT, or when its parent goes away (stdin closes).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


async def serve(sqlite_path: str | None, host: str, port: int) -> None:
    from mongoeco.engines.memory import MemoryEngine
    from mongoeco.engines.sqlite import SQLiteEngine
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

    engine = SQLiteEngine(sqlite_path) if sqlite_path else MemoryEngine()
    proxy = AsyncMongoEcoProxyServer(engine=engine, host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The parent holds our stdin open; EOF means it died without stopping us.
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    address = await proxy.start()
    print(f"READY {address.uri}", flush=True)
    try:
        await stop.wait()
    finally:
        await proxy.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--sqlite")
    group.add_argument("--memory", action="store_true")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.sqlite, args.host, args.port))


if __name__ == "__main__":
    main()
