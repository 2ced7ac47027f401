"""Who is calling: the principal a request's credentials resolve to."""

from __future__ import annotations

from dataclasses import dataclass, field

from beanie import PydanticObjectId

from engine.access import Permission
from engine.errors import Forbidden


@dataclass(frozen=True)
class Principal:
    kind: str  # "secret_key" | "write_key" | "user"
    workspace_id: PydanticObjectId
    organization_id: PydanticObjectId
    permissions: frozenset[Permission]
    label: str
    user_id: PydanticObjectId | None = None
    key_id: PydanticObjectId | None = None
    role: str | None = None

    @property
    def actor_id(self) -> str:
        return str(self.user_id or self.key_id)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


@dataclass
class RequestContext:
    principal: Principal
    extra: dict = field(default_factory=dict)

    @property
    def workspace_id(self) -> PydanticObjectId:
        return self.principal.workspace_id

    def require(self, permission: Permission) -> None:
        if not self.principal.can(permission):
            raise Forbidden(
                f"This credential lacks the '{permission.value}' permission.",
                code="FORBIDDEN",
            )


def parse_id(value: str, field: str = "id") -> PydanticObjectId | None:
    """An id from a caller; None when it is not even well-formed (treated as not found)."""
    try:
        return PydanticObjectId(value)
    except Exception:
        return None
