"""Account types: workspaces, locations, properties, keys, members, audit entries."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from schema.node import Node, gid, gid_or_none


@strawberry.enum(description="A member's role in an organization, most to least powerful.")
class Role(Enum):
    OWNER = strawberry.enum_value("owner", description="All permissions; may grant agency access.")
    ADMIN = strawberry.enum_value("admin", description="All permissions.")
    MARKETER = strawberry.enum_value("marketer", description="read, write and track.")
    APPROVER = strawberry.enum_value("approver", description="read and approve.")
    VIEWER = strawberry.enum_value("viewer", description="read only.")


@strawberry.enum(description="Where an SDK property sends events from.")
class Platform(Enum):
    WEB = strawberry.enum_value("web", description="A website.")
    IOS = strawberry.enum_value("ios", description="An iOS app.")
    ANDROID = strawberry.enum_value("android", description="An Android app.")
    KIOSK = strawberry.enum_value("kiosk", description="An in-store kiosk or device.")
    SERVER = strawberry.enum_value("server", description="A back-end server.")


@strawberry.enum(description="What an API key is for.")
class ApiKeyKind(Enum):
    SECRET = strawberry.enum_value(
        "secret", description="Server-side key for the API, limited by its scopes."
    )
    WRITE = strawberry.enum_value(
        "write", description="Public key of one SDK property: sends events only."
    )


@strawberry.type(description="A workspace: the tenant every contact, segment and send belongs to.")
class Workspace(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    organization_id: strawberry.ID = strawberry.field(
        description="Global id of the organization that owns it."
    )
    name: str = strawberry.field(description="Display name.")
    timezone: str = strawberry.field(
        description="IANA timezone (e.g. Asia/Kolkata) for schedules and reports."
    )
    default_country: str | None = strawberry.field(
        description="Country assumed for phone numbers without a country code."
    )
    created_at: datetime = strawberry.field(description="When it was created.")

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


@strawberry.type(description="A location (outlet, store) of the workspace.")
class Location(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    name: str = strawberry.field(description="Display name.")
    code: str = strawberry.field(description="Outlet code used in URLs: a-z, 0-9 and dashes.")
    timezone: str | None = strawberry.field(
        description="IANA timezone of the outlet; null means the workspace's."
    )
    created_at: datetime = strawberry.field(description="When it was created.")

    @staticmethod
    def of(doc: Any) -> Location:
        return Location(
            id=gid("Location", doc.id),
            name=doc.name,
            code=doc.code,
            timezone=doc.timezone,
            created_at=doc.created_at,
        )


@strawberry.type(
    description="An SDK property: one website or app that sends events with a write key."
)
class Property(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    name: str = strawberry.field(description="Display name.")
    platform: Platform = strawberry.field(description="What the property is.")
    location_id: strawberry.ID | None = strawberry.field(
        description="Global id of the location its events belong to; null for none."
    )
    created_at: datetime = strawberry.field(description="When it was created.")

    @staticmethod
    def of(doc: Any) -> Property:
        return Property(
            id=gid("Property", doc.id),
            name=doc.name,
            platform=Platform(doc.platform),
            location_id=gid_or_none("Location", doc.location_id),
            created_at=doc.created_at,
        )


@strawberry.type(description="An API key (the secret itself is never shown after issue).")
class ApiKey(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    kind: ApiKeyKind = strawberry.field(description="Secret (server) or write (SDK) key.")
    name: str = strawberry.field(description="Label given when issued.")
    prefix: str = strawberry.field(
        description="The key's first characters; the rest is never shown again."
    )
    scopes: list[str] = strawberry.field(
        description="What the key may do: read, write, track, approve, admin."
    )
    property_id: strawberry.ID | None = strawberry.field(
        description="Global id of the SDK property of a write key; null for a secret key."
    )
    created_by: str = strawberry.field(description="Label of who issued it.")
    created_at: datetime = strawberry.field(description="When it was issued.")
    revoked_at: datetime | None = strawberry.field(
        description="When it was revoked; null while it works."
    )
    last_used_at: datetime | None = strawberry.field(
        description="About when it last authenticated a request (to the minute); null if never."
    )

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


@strawberry.type(description="A user with a role in this organization.")
class Member:
    user_id: strawberry.ID = strawberry.field(description="Global id of the user.")
    email: str = strawberry.field(description="The user's sign-in email.")
    name: str = strawberry.field(description="The user's name.")
    role: Role = strawberry.field(description="Their role here.")
    joined_at: datetime = strawberry.field(description="When they became a member.")

    @staticmethod
    def of(member: Any) -> Member:
        return Member(
            user_id=gid("User", member.user.id),
            email=member.user.email,
            name=member.user.name,
            role=Role(member.membership.role),
            joined_at=member.membership.created_at,
        )


@strawberry.type(description="An invitation to join the organization.")
class Invitation(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    email: str = strawberry.field(description="Who was invited.")
    role: Role = strawberry.field(description="The role they get on accepting.")
    invited_by: str = strawberry.field(description="Label of who invited them.")
    expires_at: datetime = strawberry.field(description="After this the link no longer works.")
    accepted_at: datetime | None = strawberry.field(
        description="When it was accepted; null if not yet."
    )
    delivered_at: datetime | None = strawberry.field(
        description="When the email was sent; null if not yet."
    )

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


@strawberry.type(description="One recorded account-setup change: who did what to which object.")
class AuditEntry(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    action: str = strawberry.field(description="What was done, e.g. secret_key.issued.")
    actor_kind: str = strawberry.field(description="Who did it: secret_key, write_key or user.")
    actor_id: str = strawberry.field(description="Raw id of the key or user that did it.")
    actor_label: str = strawberry.field(description="Readable name of the actor.")
    target_type: str = strawberry.field(description="Type of the object changed.")
    target_id: str = strawberry.field(description="Raw id of the object changed.")
    details: JSON = strawberry.field(description="Action-specific facts (JSON object).")
    created_at: datetime = strawberry.field(description="When it happened.")

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


@strawberry.type(description="The caller: whose credentials these are and what they may do.")
class Viewer:
    kind: str = strawberry.field(description="secret_key, write_key or user.")
    label: str = strawberry.field(
        description="Readable name: the user's email, or the key's name and prefix."
    )
    role: Role | None = strawberry.field(description="The user's role; null for an API key.")
    permissions: list[str] = strawberry.field(description="Permissions granted, sorted.")
    workspace_id: strawberry.ID = strawberry.field(
        description="Global id of the workspace acted in."
    )
    organization_id: strawberry.ID = strawberry.field(description="Global id of its organization.")
