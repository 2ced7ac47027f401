"""userErrors: domain errors returned as data in mutation payloads."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import strawberry

from engine.errors import DomainError, Problems

T = TypeVar("T")


@strawberry.type(
    description="A problem with a mutation's input, returned as data (nothing was changed "
    "by the part it names)."
)
class UserError:
    field: str | None = strawberry.field(description="Path of the offending input, if any.")
    message: str = strawberry.field(description="What is wrong, for a person to read.")
    code: str = strawberry.field(
        description="A stable machine-readable code such as INVALID, NOT_FOUND, "
        "CONFLICT or FORBIDDEN."
    )


def user_error(error: DomainError, prefix: str = "") -> UserError:
    field = f"{prefix}{error.field}" if prefix and error.field else error.field
    return UserError(field=field, message=error.message, code=error.code)


async def attempt(work: Awaitable[T], prefix: str = "") -> tuple[T | None, list[UserError]]:
    """Run a resolver; a DomainError becomes a userError (field prefixed by `prefix`), and
    Problems (a rule tree's, a graph's, a definition's) one userError each."""
    try:
        return await work, []
    except Problems as problems:
        return None, [user_error(e, prefix) for e in problems.errors]
    except DomainError as error:
        return None, [user_error(error, prefix)]
