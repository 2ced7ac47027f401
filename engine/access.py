"""Roles, permissions and key scopes: who may do what inside a workspace."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    READ = "read"  # see the workspace's data
    WRITE = "write"  # change contacts, segments, campaigns, journeys
    TRACK = "track"  # send tracking data
    APPROVE = "approve"  # sign off campaigns
    ADMIN = "admin"  # account setup: workspaces, locations, properties, keys, users


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MARKETER = "marketer"
    APPROVER = "approver"
    VIEWER = "viewer"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(Permission),
    Role.MARKETER: frozenset({Permission.READ, Permission.WRITE, Permission.TRACK}),
    Role.APPROVER: frozenset({Permission.READ, Permission.APPROVE}),
    Role.VIEWER: frozenset({Permission.READ}),
}

# Higher rank may grant and change roles up to its own rank (owners only by owners).
ROLE_RANK = {Role.VIEWER: 0, Role.APPROVER: 1, Role.MARKETER: 2, Role.ADMIN: 3, Role.OWNER: 4}

SECRET_KEY_SCOPES = frozenset(Permission)
WRITE_KEY_PERMISSIONS = frozenset({Permission.TRACK})


def permissions_for_role(role: str) -> frozenset[Permission]:
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()


def can_grant(granter_role: str | None, role: str) -> bool:
    """A user may hand out a role no higher than its own; keys (no role) grant up to admin."""
    try:
        target = ROLE_RANK[Role(role)]
        ceiling = ROLE_RANK[Role(granter_role)] if granter_role else ROLE_RANK[Role.ADMIN]
    except ValueError:
        return False
    return target <= ceiling


def parse_scopes(scopes: list[str]) -> tuple[list[Permission], list[str]]:
    """Split requested key scopes into known permissions and unknown names."""
    known: set[Permission] = set()
    unknown: list[str] = []
    for scope in scopes:
        try:
            known.add(Permission(scope))
        except ValueError:
            if scope not in unknown:
                unknown.append(scope)
    return sorted(known), unknown
