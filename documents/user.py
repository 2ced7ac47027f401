"""Dashboard users, their organization memberships and pending invitations."""

from __future__ import annotations

from datetime import datetime

from beanie import PydanticObjectId
from pymongo import ASCENDING, IndexModel

from documents.base import TimestampedDocument


class User(TimestampedDocument):
    email: str  # stored lower-cased
    name: str = ""
    password_hash: str
    # Bumped to revoke every session token issued before.
    token_version: int = 0
    disabled: bool = False

    class Settings:
        name = "users"
        indexes = [IndexModel([("email", ASCENDING)], unique=True)]


class Membership(TimestampedDocument):
    organization_id: PydanticObjectId
    user_id: PydanticObjectId
    role: str

    class Settings:
        name = "memberships"
        indexes = [
            IndexModel([("organization_id", ASCENDING), ("user_id", ASCENDING)], unique=True),
            # A user's memberships at sign-in {user_id} sorted by _id.
            IndexModel([("user_id", ASCENDING), ("_id", ASCENDING)]),
        ]


class Invitation(TimestampedDocument):
    organization_id: PydanticObjectId
    workspace_id: PydanticObjectId
    email: str
    role: str
    token_hash: str
    invited_by: str
    expires_at: datetime
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None
    delivered_at: datetime | None = None

    class Settings:
        name = "invitations"
        indexes = [
            IndexModel([("token_hash", ASCENDING)], unique=True),
            IndexModel([("workspace_id", ASCENDING), ("_id", ASCENDING)]),
        ]
