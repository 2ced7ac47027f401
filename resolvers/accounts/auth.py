"""Credentials -> principal: secret keys, write keys and dashboard session tokens."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from documents.credential import ApiKey
from documents.organization import AgencyLink
from documents.user import Membership, User
from documents.workspace import Workspace
from engine.access import WRITE_KEY_PERMISSIONS, Permission, permissions_for_role
from engine.errors import Forbidden, NotFound, Unauthenticated
from engine.keys import hash_secret, token_kind
from engine.names import email_key
from resolvers.accounts import revocations
from resolvers.accounts.passwords import verify_password
from resolvers.core import runtime
from resolvers.core.context import Principal, RequestContext, parse_id

_SALT = "reach-session-v1"


# last_used_at is a hint for humans: write it at most once a minute per key.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(runtime.get().session_secret, salt=_SALT)


def parse_authorization(header: str | None) -> str:
    if not header:
        raise Unauthenticated(
            "Missing credentials: send 'Authorization: Bearer <secret key or session token>'."
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Malformed Authorization header: expected 'Bearer <token>'.")
    return token.strip()


async def authenticate(token: str) -> Principal:
    kind = token_kind(token)
    if kind in ("secret", "write"):
        return await _authenticate_key(token, kind)
    return await _authenticate_session(token)


async def _authenticate_key(token: str, kind: str) -> Principal:
    # Every tracking call: the unique key_hash index, the rest checked on the one row.
    key = await ApiKey.find_one({"key_hash": hash_secret(token)})
    if key is None or key.kind != kind or key.revoked_at is not None:
        raise Unauthenticated("Invalid or revoked API key.")
    now = datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_GRANULARITY:
        await ApiKey.find_one({"_id": key.id}).update({"$set": {"last_used_at": now}})
    if kind == "write":
        permissions = WRITE_KEY_PERMISSIONS
    else:
        permissions = frozenset(Permission(s) for s in key.scopes if s in Permission)
    return Principal(
        kind=f"{kind}_key",
        workspace_id=key.workspace_id,
        organization_id=key.organization_id,
        permissions=permissions,
        label=f"{key.name} ({key.prefix}…)",
        key_id=key.id,
    )


async def _authenticate_session(token: str) -> Principal:
    rt = runtime.get()
    try:
        data = _serializer().loads(token, max_age=rt.session_ttl_seconds)
        user_id, workspace_id, version = (
            PydanticObjectId(data["u"]),
            PydanticObjectId(data["w"]),
            int(data["v"]),
        )
    except SignatureExpired as error:
        raise Unauthenticated("Session expired: log in again.") from error
    except (BadSignature, KeyError, TypeError, ValueError) as error:
        raise Unauthenticated("Invalid credentials.") from error
    user = await User.get(user_id)
    if user is None or user.disabled or user.token_version != version:
        raise Unauthenticated("Session revoked: log in again.")
    workspace = await Workspace.get(workspace_id)
    role = await role_in_workspace(user.id, workspace) if workspace else None
    if workspace is None or role is None:
        raise Unauthenticated("You no longer have access to this workspace.")
    return _user_principal(user, workspace, role)


def _user_principal(user: User, workspace: Workspace, role: str) -> Principal:
    return Principal(
        kind="user",
        workspace_id=workspace.id,
        organization_id=workspace.organization_id,
        permissions=permissions_for_role(role),
        label=user.email,
        user_id=user.id,
        role=role,
    )


async def role_in_workspace(user_id: PydanticObjectId, workspace: Workspace) -> str | None:
    """The user's role in the workspace's organization, directly or through an agency."""
    direct = await Membership.find_one(
        {"organization_id": workspace.organization_id, "user_id": user_id}
    )
    if direct is not None:
        return direct.role
    memberships = await Membership.find({"user_id": user_id}).to_list()
    if not memberships:
        return None
    by_org = {m.organization_id: m.role for m in memberships}
    link = await AgencyLink.find_one(
        {
            "client_organization_id": workspace.organization_id,
            "agency_organization_id": {"$in": list(by_org)},
        }
    )
    return by_org[link.agency_organization_id] if link else None


@dataclass
class Session:
    token: str
    expires_at: datetime
    principal: Principal


def issue_session(user: User, workspace: Workspace, role: str) -> Session:
    rt = runtime.get()
    token = _serializer().dumps(
        {"u": str(user.id), "w": str(workspace.id), "v": user.token_version}
    )
    expires = datetime.now(UTC) + timedelta(seconds=rt.session_ttl_seconds)
    return Session(token, expires, _user_principal(user, workspace, role))


async def _first_workspace(user: User) -> tuple[Workspace, str] | None:
    memberships = await Membership.find({"user_id": user.id}).sort("_id").to_list()
    for membership in memberships:
        workspace = (
            await Workspace.find({"organization_id": membership.organization_id})
            .sort("_id")
            .first_or_none()
        )
        if workspace:
            return workspace, membership.role
        link = await AgencyLink.find_one({"agency_organization_id": membership.organization_id})
        if link:
            workspace = (
                await Workspace.find({"organization_id": link.client_organization_id})
                .sort("_id")
                .first_or_none()
            )
            if workspace:
                return workspace, membership.role
    return None


async def login(email: str, password: str, workspace_id: str | None = None) -> Session:
    """Password login; failures count per email in Redis and lock it out for a while."""
    rt = runtime.get()
    email = email_key(email)
    if not email:
        raise Unauthenticated("Invalid email or password.")
    failures_key = f"reach:login-failures:{hash_secret(email)}"
    failures = int(await rt.redis.get(failures_key) or 0)
    if failures >= rt.login_max_failures:
        raise Unauthenticated("Too many failed logins: try again later.", code="LOCKED")
    user = await User.find_one({"email": email})
    ok = await verify_password(user.password_hash if user else None, password)
    if not ok or user is None or user.disabled:
        async with rt.redis.pipeline(transaction=True) as pipe:
            await pipe.incr(failures_key).expire(failures_key, rt.login_lock_seconds).execute()
        raise Unauthenticated("Invalid email or password.")
    await rt.redis.delete(failures_key)
    if workspace_id:
        oid = parse_id(workspace_id, "Workspace")
        workspace = await Workspace.get(oid) if oid else None
        role = await role_in_workspace(user.id, workspace) if workspace else None
        if workspace is None or role is None:
            raise NotFound("Workspace not found.", field="workspaceId")
    else:
        found = await _first_workspace(user)
        if found is None:
            raise Forbidden("This user belongs to no workspace yet.")
        workspace, role = found
    return issue_session(user, workspace, role)


async def switch_workspace(ctx: RequestContext, workspace_id: str) -> Session:
    if ctx.principal.user_id is None:
        raise Forbidden("Only dashboard users switch workspaces; API keys belong to one.")
    user = await User.get(ctx.principal.user_id)
    oid = parse_id(workspace_id, "Workspace")
    workspace = await Workspace.get(oid) if oid else None
    role = await role_in_workspace(user.id, workspace) if workspace and user else None
    if user is None or workspace is None or role is None:
        raise NotFound("Workspace not found.", field="workspaceId")
    return issue_session(user, workspace, role)


async def logout_everywhere(ctx: RequestContext) -> None:
    if ctx.principal.user_id is None:
        raise Forbidden("Only dashboard users have sessions.")
    await User.find_one({"_id": ctx.principal.user_id}).update({"$inc": {"token_version": 1}})
    await revocations.bump(user_id=ctx.principal.user_id)  # its live subscriptions end


async def authenticate_tracking(authorization: str | None, body_write_key: Any) -> Principal:
    """Tracking API credentials, as Segment's SDKs send them: the write key as the HTTP
    basic-auth username (empty password), or `writeKey` in the body; a secret key works
    as basic-auth username or bearer token too."""
    token = None
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "basic":
            try:
                token = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError) as error:
                raise Unauthenticated("Malformed basic-auth header.") from error
        elif scheme.lower() == "bearer":
            token = value.strip()
        else:
            raise Unauthenticated("Unsupported Authorization scheme: use Basic or Bearer.")
    elif isinstance(body_write_key, str):
        token = body_write_key
    if not token:
        raise Unauthenticated(
            "Missing write key: send it as the basic-auth username or as writeKey in the body."
        )
    if token_kind(token) == "session":
        raise Unauthenticated("The tracking API takes a write key or a secret key.")
    principal = await authenticate(token)
    if not principal.can(Permission.TRACK):
        raise Forbidden("This key may not send tracking data (it lacks the 'track' scope).")
    return principal
