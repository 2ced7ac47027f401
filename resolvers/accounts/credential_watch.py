"""Whether a live connection's credential still holds.

`check()` runs before each delivery: one Redis MGET of the credential's generations
(resolvers/accounts/revocations.py). A changed generation, or `recheck_seconds` since the
last full check, re-authenticates the token from the database, which also catches session
expiry and role changes made without a bump (membership edits)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from engine.errors import Unauthenticated
from resolvers.accounts import revocations
from resolvers.accounts.auth import authenticate
from resolvers.core.context import Principal


@dataclass(frozen=True)
class Lapse:
    code: str  # CREDENTIAL_REVOKED (the connection closes) | PERMISSION_LOST (ops end)
    message: str

    @property
    def closes_connection(self) -> bool:
        return self.code == "CREDENTIAL_REVOKED"


class CredentialWatch:
    def __init__(self, token: str, principal: Principal, recheck_seconds: float) -> None:
        self.token = token
        self.principal = principal
        self.recheck_seconds = recheck_seconds
        self.lapse: Lapse | None = None
        self._names = revocations.watched(principal)
        self._seen: list[str | None] | None = None
        # From authentication on: a bump between it and the first read is caught by the
        # periodic re-authentication at the latest.
        self._checked_at = time.monotonic()
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, token: str, principal: Principal, recheck_seconds: float):
        watch = cls(token, principal, recheck_seconds)
        watch._seen = await revocations.read(watch._names)
        return watch

    async def check(self) -> Lapse | None:
        async with self._lock:
            if self.lapse is not None:
                return self.lapse
            seen = await revocations.read(self._names)
            due = time.monotonic() - self._checked_at >= self.recheck_seconds
            if seen == self._seen and not due:
                return None
            self._seen = seen  # read before re-authenticating: a later bump is seen next time
            self.lapse = await self._reauthenticate()
            self._checked_at = time.monotonic()
            return self.lapse

    def accept_narrowed(self) -> Principal:
        """After PERMISSION_LOST ended the running operations: go on with the fresh,
        narrower principal for new ones."""
        assert self.lapse is not None and not self.lapse.closes_connection
        self.lapse = None
        return self.principal

    async def _reauthenticate(self) -> Lapse | None:
        try:
            fresh = await authenticate(self.token)
        except Unauthenticated as error:
            return Lapse("CREDENTIAL_REVOKED", f"Credential revoked or expired: {error.message}")
        lost = self.principal.permissions - fresh.permissions
        self.principal = fresh
        if lost:
            names = ", ".join(sorted(p.value for p in lost))
            return Lapse(
                "PERMISSION_LOST", f"Permission lost: this credential no longer has {names}."
            )
        return None
