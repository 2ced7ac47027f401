"""Configuration from the environment (REACH_*, MONGODB_URI, REDIS_URL)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REACH_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".reach-data")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None

    mongodb_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MONGODB_URI", "REACH_MONGODB_URI")
    )
    mongodb_db: str = "reach"
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "REACH_REDIS_URL")
    )

    # Signs dashboard session tokens. Required in production; elsewhere a random
    # one is kept in the data dir so sessions survive a restart.
    secret_key: str | None = None
    session_ttl_seconds: int = 12 * 3600
    # Encrypts provider credentials at rest; defaults to the secret key. Set it separately
    # to rotate session signing without re-entering every provider credential.
    vault_key: str | None = None

    # Where system email (invitations) goes; unset means the sandbox outbox.
    smtp_url: str | None = None
    mail_from: str = "Reach <no-reply@reach.local>"

    # In embedded mode `serve` also runs the Dramatiq worker; production runs
    # `reach worker` processes instead.
    embedded_worker: bool | None = None
    worker_threads: int = 4
    # Prefix of the job queues' Redis keys; separate deployments sharing a Redis differ here.
    queue_namespace: str = "reach"

    # GraphQL hardening.
    introspection: bool | None = None
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    # Fields an operation may resolve, counted through its pages (schema/query_cost.py).
    max_query_cost: int = 10_000
    max_body_bytes: int = 1_000_000
    page_size_max: int = 100

    login_max_failures: int = 10
    # A live subscription's credential is re-authenticated from the database at least this
    # often (revocations are seen at once; expiry and role edits within this interval).
    subscription_recheck_seconds: float = 30.0
    # Sends: a queued message whose job vanished is re-enqueued after `send_requeue_seconds`;
    # one claimed by a worker that died is closed as interrupted after `send_lease_seconds`.
    send_requeue_seconds: int = 120
    send_lease_seconds: int = 300
    login_lock_seconds: int = 900

    demo: bool = True
    # CORS: '*' or comma-separated origins. The tracking API takes public write keys, so
    # any site may call it; /graphql and /auth/* answer only the origins listed here.
    cors_origins: str = ""
    tracking_cors_origins: str = "*"

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.production

    @property
    def run_embedded_worker(self) -> bool:
        if self.embedded_worker is not None:
            return self.embedded_worker
        return self.redis_url is None

    @property
    def graphql_url(self) -> str:
        base = self.public_url or f"http://{self.host}:{self.port}"
        return base.rstrip("/") + "/graphql"

    def session_secret(self) -> str:
        if self.secret_key:
            return self.secret_key
        if self.production:
            raise RuntimeError("REACH_SECRET_KEY must be set when REACH_ENV=production")
        path = self.data_dir / "session-secret"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.write_text(value)
        path.chmod(0o600)
        return value
