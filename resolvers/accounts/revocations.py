"""Credential generations in Redis: revocations bump them, live subscriptions compare them.

A bump is written after the database change it announces, so a watcher that sees the new
generation and re-authenticates also sees the revocation."""

from __future__ import annotations

from beanie import PydanticObjectId

from resolvers.core import runtime
from resolvers.core.context import Principal

_PREFIX = "reach:credential-generation"


def _name(scope: str, oid: PydanticObjectId) -> str:
    return f"{_PREFIX}:{scope}:{oid}"


async def bump(*, key_id=None, user_id=None, organization_id=None) -> None:
    names = [
        _name(scope, oid)
        for scope, oid in (("key", key_id), ("user", user_id), ("org", organization_id))
        if oid is not None
    ]
    async with runtime.get().redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.incr(name)
        await pipe.execute()


def watched(principal: Principal) -> list[str]:
    """The generations whose change may end this principal's access."""
    own = _name("key", principal.key_id) if principal.key_id else _name("user", principal.user_id)
    return [own, _name("org", principal.organization_id)]


async def read(names: list[str]) -> list[str | None]:
    return [
        v.decode() if isinstance(v, bytes) else v for v in await runtime.get().redis.mget(names)
    ]
