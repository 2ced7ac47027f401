"""Provision an organization with a workspace, property, keys and an owner (demo, CLI, tests)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from documents.credential import ApiKey
from documents.organization import Organization
from documents.user import Membership, User
from documents.workspace import Property, Workspace
from engine.access import Permission, Role
from engine.identifiers import clean_country
from engine.keys import SECRET_PREFIX, WRITE_PREFIX, new_key
from engine.names import check_password, clean_email, clean_name
from resolvers.accounts.passwords import hash_password


@dataclass
class Provisioned:
    organization_id: str
    workspace_id: str
    property_id: str
    secret_key: str
    write_key: str
    owner_email: str
    owner_password: str


async def database_is_empty() -> bool:
    return await Organization.find_one({}) is None


async def provision(
    organization_name: str,
    owner_email: str,
    owner_password: str | None = None,
    *,
    workspace_name: str = "Main",
    kind: str = "brand",
    default_country: str | None = None,
) -> Provisioned:
    """A new organization whose owner can log in, with a workspace ready for data."""
    password = check_password(owner_password or secrets.token_urlsafe(12), "password")
    organization = await Organization(
        name=clean_name(organization_name, "name"), kind=kind
    ).insert()
    owner = await User(
        email=clean_email(owner_email, "email"),
        name="Owner",
        password_hash=await hash_password(password),
    ).insert()
    await Membership(organization_id=organization.id, user_id=owner.id, role=Role.OWNER).insert()
    workspace = await Workspace(
        organization_id=organization.id,
        name=clean_name(workspace_name, "name"),
        default_country=clean_country(default_country) if default_country else None,
    ).insert()
    prop = await Property(workspace_id=workspace.id, name="Website", platform="web").insert()
    secret, write = new_key(SECRET_PREFIX), new_key(WRITE_PREFIX)
    await ApiKey(
        workspace_id=workspace.id,
        organization_id=organization.id,
        kind="secret",
        name="Initial secret key",
        prefix=secret.prefix,
        key_hash=secret.hash,
        scopes=[p.value for p in Permission],
        created_by="provisioning",
    ).insert()
    await ApiKey(
        workspace_id=workspace.id,
        organization_id=organization.id,
        kind="write",
        name="Website write key",
        prefix=write.prefix,
        key_hash=write.hash,
        scopes=[Permission.TRACK.value],
        property_id=prop.id,
        created_by="provisioning",
    ).insert()
    return Provisioned(
        organization_id=str(organization.id),
        workspace_id=str(workspace.id),
        property_id=str(prop.id),
        secret_key=secret.plaintext,
        write_key=write.plaintext,
        owner_email=owner.email,
        owner_password=password,
    )


DEMO_OWNER_EMAIL = "demo@example.com"  # a reserved domain (RFC 2606) that email syntax accepts
# Phone numbers written without +<country code> are read as this country's.
DEMO_COUNTRY = "US"


async def create_demo_workspace() -> Provisioned:
    return await provision(
        "Demo Brand", DEMO_OWNER_EMAIL, workspace_name="Demo", default_country=DEMO_COUNTRY
    )
