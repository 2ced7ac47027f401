"""First start: create a demo organization, workspace, property, keys and owner."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from documents.credential import ApiKey
from documents.organization import Organization
from documents.user import Membership, User
from documents.workspace import Property, Workspace
from engine.access import Permission, Role
from engine.keys import SECRET_PREFIX, WRITE_PREFIX, new_key
from resolvers.passwords import hash_password


@dataclass
class DemoCredentials:
    organization_id: str
    workspace_id: str
    secret_key: str
    write_key: str
    owner_email: str
    owner_password: str


async def database_is_empty() -> bool:
    return await Organization.find_one({}) is None


async def create_demo_workspace() -> DemoCredentials:
    organization = await Organization(name="Demo Brand").insert()
    workspace = await Workspace(organization_id=organization.id, name="Demo").insert()
    prop = await Property(workspace_id=workspace.id, name="Demo website", platform="web").insert()
    secret, write = new_key(SECRET_PREFIX), new_key(WRITE_PREFIX)
    await ApiKey(
        workspace_id=workspace.id,
        kind="secret",
        name="Demo secret key",
        prefix=secret.prefix,
        key_hash=secret.hash,
        scopes=[p.value for p in Permission],
        created_by="reach serve",
    ).insert()
    await ApiKey(
        workspace_id=workspace.id,
        kind="write",
        name="Demo website write key",
        prefix=write.prefix,
        key_hash=write.hash,
        scopes=[Permission.TRACK.value],
        property_id=prop.id,
        created_by="reach serve",
    ).insert()
    password = secrets.token_urlsafe(12)
    owner = await User(
        email="demo@reach.local", name="Demo Owner", password_hash=await hash_password(password)
    ).insert()
    await Membership(organization_id=organization.id, user_id=owner.id, role=Role.OWNER).insert()
    return DemoCredentials(
        organization_id=str(organization.id),
        workspace_id=str(workspace.id),
        secret_key=secret.plaintext,
        write_key=write.plaintext,
        owner_email=owner.email,
        owner_password=password,
    )
