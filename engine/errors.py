"""Domain errors: raised by the engine and resolvers, turned into userErrors by the schema."""

from __future__ import annotations


class DomainError(Exception):
    code = "INVALID"

    def __init__(self, message: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    @property
    def extensions(self) -> dict[str, str]:
        """graphql-core copies this into the error it reports for a query."""
        data = {"code": self.code}
        if self.field:
            data["field"] = self.field
        return data


class InvalidInput(DomainError):
    code = "INVALID"


class Problems(InvalidInput):
    """Every problem of one input at once, each with its own field path, so a client can
    fix them all in one go; the first stands for the whole when only one can be shown."""

    def __init__(self, errors: list[DomainError]) -> None:
        first = errors[0]
        super().__init__(first.message, field=first.field, code=first.code)
        self.errors = errors


class NotFound(DomainError):
    code = "NOT_FOUND"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class Conflict(DomainError):
    code = "CONFLICT"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"
