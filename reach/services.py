"""Open and close what a process needs: MongoDB, Redis, the broker and maybe a worker."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from channels import transport
from documents import db
from reach import scheduler, wiring
from reach.settings import Settings
from resolvers.core import runtime
from workers import broker as broker_setup
from workers import loop

log = logging.getLogger("reach")


@dataclass
class Services:
    settings: Settings
    mongo: AsyncMongoClient
    redis: Redis
    broker: RedisBroker
    worker: dramatiq.Worker | None = None
    scheduler: asyncio.Task | None = None  # periodic jobs (with a worker)

    async def check(self) -> dict[str, str]:
        """Ping both stores; each answer is 'ok' or 'unavailable' (the reason is logged, not
        shown: /healthz is public and the error text names hosts and internals)."""
        results = {}
        for name, probe in (("mongodb", db.ping(self.mongo)), ("redis", self.redis.ping())):
            try:
                await asyncio.wait_for(probe, timeout=3)
                results[name] = "ok"
            except Exception as error:
                log.warning(
                    "health check: %s unavailable: %s: %s", name, type(error).__name__, error
                )
                results[name] = "unavailable"
        return results


async def open_services(
    settings: Settings,
    mongodb_uri: str,
    redis_url: str,
    *,
    run_worker: bool,
    mongo_listeners: list | None = None,
) -> Services:
    transport.allow_private_hosts = not settings.production
    mongo = await db.connect(mongodb_uri, settings.mongodb_db, mongo_listeners)
    redis = Redis.from_url(redis_url)
    broker = broker_setup.setup(redis_url, namespace=settings.queue_namespace)
    runtime.configure(
        runtime.Runtime(
            mongo=mongo,
            redis=redis,
            session_secret=settings.session_secret(),
            session_ttl_seconds=settings.session_ttl_seconds,
            page_size_max=settings.page_size_max,
            smtp_url=settings.smtp_url,
            mail_from=settings.mail_from,
            public_url=settings.graphql_url.removesuffix("/graphql"),
            login_max_failures=settings.login_max_failures,
            login_lock_seconds=settings.login_lock_seconds,
            data_dir=str(settings.data_dir),
            vault_key=settings.vault_key or "",
            send_requeue_seconds=settings.send_requeue_seconds,
            send_lease_seconds=settings.send_lease_seconds,
        )
    )
    wiring.wire()
    loop.bind(asyncio.get_running_loop())
    services = Services(settings, mongo, redis, broker)
    if run_worker:
        services.worker = broker_setup.start_worker(broker, settings.worker_threads)
        log.info("in-process worker started with %d threads", settings.worker_threads)
        services.scheduler = scheduler.start(redis, settings.queue_namespace)
    return services


async def close_services(services: Services) -> None:
    await scheduler.stop(services.scheduler)
    if services.worker is not None:
        # Worker threads may be waiting on this loop: stop them from another thread.
        await asyncio.to_thread(services.worker.stop)
    services.broker.close()
    await transport.close()
    await services.redis.aclose()
    await services.mongo.close()
