"""Account types: workspaces, locations, properties, keys, members, audit entries."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from schema.node import Node, gid, gid_or_none


@strawberry.enum
class Role(Enum):
    OWNER = "owner"
    ADMIN = "admin"
    MARKETER = "marketer"
    APPROVER = "approver"
    VIEWER = "viewer"


@strawberry.enum
class Platform(Enum):
    WEB = "web"
    IOS = "ios"
    ANDROID = "android"
    KIOSK = "kiosk"
    SERVER = "server"


@strawberry.enum
class ApiKeyKind(Enum):
    SECRET = "secret"
    WRITE = "write"


@strawberry.type
class Workspace(Node):
    id: strawberry.ID
    organization_id: strawberry.ID
    name: str
    timezone: str
    default_country: str | None = strawberry.field(
        description="Country assumed for phone numbers without a country code."
    )
    created_at: datetime

    @staticmethod
    def of(doc: Any) -> Workspace:
        return Workspace(
            id=gid("Workspace", doc.id),
            organization_id=gid("Organization", doc.organization_id),
            name=doc.name,
            timezone=doc.timezone,
            default_country=doc.default_country,
            created_at=doc.created_at,
        )


@strawberry.type
class Location(Node):
    id: strawberry.ID
    name: str
    code: str
    timezone: str | None
    created_at: datetime

    @staticmethod
    def of(doc: Any) -> Location:
        return Location(
            id=gid("Location", doc.id),
            name=doc.name,
            code=doc.code,
            timezone=doc.timezone,
            created_at=doc.created_at,
        )


@strawberry.type
class Property(Node):
    id: strawberry.ID
    name: str
    platform: Platform
    location_id: strawberry.ID | None
    created_at: datetime

    @staticmethod
    def of(doc: Any) -> Property:
        return Property(
            id=gid("Property", doc.id),
            name=doc.name,
            platform=Platform(doc.platform),
            location_id=gid_or_none("Location", doc.location_id),
            created_at=doc.created_at,
        )


@strawberry.type
class ApiKey(Node):
    id: strawberry.ID
    kind: ApiKeyKind
    name: str
    prefix: str = strawberry.field(
        description="The key's first characters; the rest is never shown again."
    )
    scopes: list[str]
    property_id: strawberry.ID | None
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @staticmethod
    def of(doc: Any) -> ApiKey:
        return ApiKey(
            id=gid("ApiKey", doc.id),
            kind=ApiKeyKind(doc.kind),
            name=doc.name,
            prefix=doc.prefix,
            scopes=list(doc.scopes),
            property_id=gid_or_none("Property", doc.property_id),
            created_by=doc.created_by,
            created_at=doc.created_at,
            revoked_at=doc.revoked_at,
            last_used_at=doc.last_used_at,
        )


@strawberry.type
class Member:
    user_id: strawberry.ID
    email: str
    name: str
    role: Role
    joined_at: datetime

    @staticmethod
    def of(member: Any) -> Member:
        return Member(
            user_id=gid("User", member.user.id),
            email=member.user.email,
            name=member.user.name,
            role=Role(member.membership.role),
            joined_at=member.membership.created_at,
        )


@strawberry.type
class Invitation(Node):
    id: strawberry.ID
    email: str
    role: Role
    invited_by: str
    expires_at: datetime
    accepted_at: datetime | None
    delivered_at: datetime | None

    @staticmethod
    def of(doc: Any) -> Invitation:
        return Invitation(
            id=gid("Invitation", doc.id),
            email=doc.email,
            role=Role(doc.role),
            invited_by=doc.invited_by,
            expires_at=doc.expires_at,
            accepted_at=doc.accepted_at,
            delivered_at=doc.delivered_at,
        )


@strawberry.type
class AuditEntry(Node):
    id: strawberry.ID
    action: str
    actor_kind: str
    actor_id: str
    actor_label: str
    target_type: str
    target_id: str
    details: JSON
    created_at: datetime

    @staticmethod
    def of(doc: Any) -> AuditEntry:
        return AuditEntry(
            id=gid("AuditEntry", doc.id),
            action=doc.action,
            actor_kind=doc.actor_kind,
            actor_id=doc.actor_id,
            actor_label=doc.actor_label,
            target_type=doc.target_type,
            target_id=doc.target_id,
            details=doc.details,
            created_at=doc.created_at,
        )


@strawberry.type
class Viewer:
    kind: str = strawberry.field(description="secret_key, write_key or user.")
    label: str
    role: Role | None
    permissions: list[str]
    workspace_id: strawberry.ID
    organization_id: strawberry.ID
