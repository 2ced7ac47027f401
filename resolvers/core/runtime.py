"""Process-wide services the resolvers use, set once at startup by `reach` or a worker."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo import AsyncMongoClient
from redis.asyncio import Redis


@dataclass
class Runtime:
    mongo: AsyncMongoClient
    redis: Redis
    session_secret: str
    session_ttl_seconds: int = 12 * 3600
    page_size_max: int = 100
    smtp_url: str | None = None
    mail_from: str = "Reach <no-reply@reach.local>"
    public_url: str = "http://127.0.0.1:8000"
    login_max_failures: int = 10
    login_lock_seconds: int = 900
    data_dir: str = ".reach-data"
    vault_key: str = ""  # empty: derived from session_secret
    send_requeue_seconds: int = 120
    send_lease_seconds: int = 300


_runtime: Runtime | None = None


def configure(runtime: Runtime) -> None:
    global _runtime
    _runtime = runtime


def get() -> Runtime:
    if _runtime is None:
        raise RuntimeError("resolvers.core.runtime.configure() has not been called")
    return _runtime
