"""Users of an organization: who belongs with which role, invitations sent and accepted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from channels.base import Outgoing
from documents.organization import Organization
from documents.user import Invitation, Membership, User
from documents.workspace import Workspace
from engine.access import Permission, Role, can_grant
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.keys import INVITE_PREFIX, hash_secret, new_key
from engine.names import check_password, clean_email, clean_name
from resolvers.accounts.auth import Session, issue_session
from resolvers.accounts.invitation_mail import send_email_once
from resolvers.accounts.passwords import hash_password, verify_password
from resolvers.core import audit, jobs, lookup, runtime
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page, paginate

INVITATION_TTL = timedelta(days=7)


DELIVER_INVITATION = "deliver_invitation"


@dataclass
class Member:
    membership: Membership
    user: User


async def list_members(ctx: RequestContext, first: int | None, after: str | None) -> Page:
    """Members of the caller's organization, with their users fetched in one query."""
    ctx.require(Permission.READ)
    page = await paginate(
        Membership, {"organization_id": ctx.principal.organization_id}, first, after
    )
    users = {
        u.id: u
        for u in await User.find({"_id": {"$in": [m.user_id for m in page.items]}}).to_list()
    }
    page.items = [Member(m, users[m.user_id]) for m in page.items if m.user_id in users]
    return page


def _invite_url(token: str) -> str:
    return f"{runtime.get().public_url.rstrip('/')}/auth/accept-invitation?token={token}"


async def invite_user(ctx: RequestContext, email: str, role: str) -> tuple[Invitation, str]:
    """Create an invitation and queue its email; returns the accept link once."""
    ctx.require(Permission.ADMIN)
    email = clean_email(email, "email")
    try:
        Role(role)
    except ValueError as error:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInput(f"Role must be one of {roles}.", field="role") from error
    if not can_grant(ctx.principal.role, role):
        raise Forbidden(f"You may not grant the role '{role}'.", field="role")
    existing = await User.find_one({"email": email})
    if existing and await Membership.find_one(
        {"organization_id": ctx.principal.organization_id, "user_id": existing.id}
    ):
        raise Conflict("That user is already a member.", field="email")
    token = new_key(INVITE_PREFIX)
    invitation = Invitation(
        organization_id=ctx.principal.organization_id,
        workspace_id=ctx.workspace_id,
        email=email,
        role=role,
        token_hash=token.hash,
        invited_by=ctx.principal.label,
        expires_at=datetime.now(UTC) + INVITATION_TTL,
    )
    await invitation.insert()
    await audit.record(
        ctx.principal, "user.invited", "invitation", invitation.id, {"email": email, "role": role}
    )
    await runtime.get().redis.set(
        _token_key(invitation), token.plaintext, ex=int(INVITATION_TTL.total_seconds())
    )
    await jobs.enqueue(DELIVER_INVITATION, str(invitation.id))
    return invitation, _invite_url(token.plaintext)


def _token_key(invitation: Invitation) -> str:
    # The plaintext token waits in Redis only until the email job has sent it.
    return f"reach:invitation-token:{invitation.id}"


async def deliver_invitation(invitation_id: str) -> None:
    """Worker step: email the accept link, exactly once per invitation."""
    oid = parse_id(invitation_id, "Invitation")
    invitation = await Invitation.get(oid) if oid else None
    if invitation is None or invitation.accepted_at or invitation.revoked_at:
        return
    redis = runtime.get().redis
    token = await redis.get(_token_key(invitation))
    if token is None:
        return  # expired before it could be sent
    token = token.decode() if isinstance(token, bytes) else token
    organization = await Organization.get(invitation.organization_id)
    workspace = await Workspace.get(invitation.workspace_id)
    org_name = organization.name if organization else "Reach"
    url = _invite_url(token)
    message = Outgoing(
        channel="email",
        to=invitation.email,
        subject=f"You're invited to {org_name} on Reach",
        text=(
            f"{invitation.invited_by} invited you to join {org_name}"
            f"{f' ({workspace.name})' if workspace else ''} on Reach as {invitation.role}.\n\n"
            f"Accept the invitation: {url}\n\nThe link expires in 7 days."
        ),
        sender=runtime.get().mail_from,
    )
    await send_email_once(invitation.workspace_id, f"invitation:{invitation.id}", message)
    await Invitation.find_one({"_id": invitation.id}).update(
        {"$set": {"delivered_at": datetime.now(UTC)}}
    )
    await redis.delete(_token_key(invitation))


async def accept_invitation(token: str, name: str, password: str) -> Session:
    """New users set a password; existing users confirm theirs. Each link works once."""
    invitation = await Invitation.find_one({"token_hash": hash_secret(token)})
    now = datetime.now(UTC)
    if (
        invitation is None
        or invitation.revoked_at
        or invitation.accepted_at
        or invitation.expires_at < now
    ):
        raise NotFound("This invitation is invalid, used or expired.", field="token")
    user = await User.find_one({"email": invitation.email})
    if user is None:
        check_password(password, "password")
        user = User(
            email=invitation.email,
            name=clean_name(name, "name") if name else "",
            password_hash=await hash_password(password),
        )
        try:
            await user.insert()
        except DuplicateKeyError:
            user = await User.find_one({"email": invitation.email})
    elif not await verify_password(user.password_hash, password):
        raise InvalidInput("Wrong password for the existing account.", field="password")
    claimed = await Invitation.get_pymongo_collection().find_one_and_update(
        {"_id": invitation.id, "accepted_at": None}, {"$set": {"accepted_at": now}}
    )
    if claimed is None:
        raise NotFound("This invitation is invalid, used or expired.", field="token")
    try:
        await Membership(
            organization_id=invitation.organization_id, user_id=user.id, role=invitation.role
        ).insert()
    except DuplicateKeyError:
        pass
    workspace = await Workspace.get(invitation.workspace_id)
    await audit.record(
        issue_session(user, workspace, invitation.role).principal,
        "user.joined",
        "user",
        user.id,
        {"email": user.email, "role": invitation.role},
    )
    await runtime.get().redis.delete(_token_key(invitation))
    return issue_session(user, workspace, invitation.role)


async def invitations_by_ids(
    ctx: RequestContext, ids: list[str]
) -> dict[PydanticObjectId, Invitation]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.ADMIN)
    return await lookup.by_ids(ctx, Invitation, ids)
