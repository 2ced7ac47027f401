"""Who is calling: the principal a request's credentials resolve to."""

from __future__ import annotations

from dataclasses import dataclass, field

from beanie import PydanticObjectId

from engine import global_ids
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


def parse_id(value: object, kind: str | None = None) -> PydanticObjectId | None:
    """An id from a caller: a raw ObjectId or a global id (engine.global_ids). None when
    it is not well-formed, or when it is a global id of another type than `kind` (a
    Segment's id given as a contact's), so it is treated as not found, never as another
    type's document. The schema decodes global ids on input (schema.node) into a raw hex
    string that remembers its type; that type is checked here too."""
    if value is None:
        return None
    text = str(value)
    claimed = getattr(value, "kind", None)
    decoded = global_ids.decode(text)
    if decoded is not None:
        claimed, text = decoded
    if kind is not None and claimed is not None and claimed != kind:
        return None
    try:
        return PydanticObjectId(text)
    except Exception:
        return None
