"""userErrors: domain errors returned as data in mutation payloads."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import strawberry

from engine.errors import DomainError

T = TypeVar("T")


@strawberry.type
class UserError:
    field: str | None = strawberry.field(description="Path of the offending input, if any.")
    message: str
    code: str


async def attempt(work: Awaitable[T], prefix: str = "") -> tuple[T | None, list[UserError]]:
    """Run a resolver; a DomainError becomes one userError (field prefixed by `prefix`)."""
    try:
        return await work, []
    except DomainError as error:
        field = f"{prefix}{error.field}" if prefix and error.field else error.field
        return None, [UserError(field=field, message=error.message, code=error.code)]
