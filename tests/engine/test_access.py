"""Roles, permissions and key scopes (engine.access)."""

from __future__ import annotations

import pytest

from engine.access import (
    ROLE_RANK,
    Permission,
    Role,
    can_grant,
    parse_scopes,
    permissions_for_role,
)

ALL = frozenset(Permission)
P = Permission

EXPECTED_PERMISSIONS = {
    "owner": ALL,
    "admin": ALL,
    "marketer": frozenset({P.READ, P.WRITE, P.TRACK}),
    "approver": frozenset({P.READ, P.APPROVE}),
    "viewer": frozenset({P.READ}),
}


def test_every_role_is_covered() -> None:
    assert set(EXPECTED_PERMISSIONS) == {role.value for role in Role}


@pytest.mark.parametrize(("role", "expected"), sorted(EXPECTED_PERMISSIONS.items()))
def test_role_permissions(role: str, expected: frozenset[Permission]) -> None:
    assert permissions_for_role(role) == expected
    assert permissions_for_role(Role(role)) == expected


def test_all_permissions_are_the_five_known_ones() -> None:
    assert {p.value for p in ALL} == {"read", "write", "track", "approve", "admin"}


@pytest.mark.parametrize("role", ["", "root", "OWNER", "Owner", " owner", "superuser"])
def test_unknown_role_has_no_permissions(role: str) -> None:
    assert permissions_for_role(role) == frozenset()


def test_only_owner_and_admin_have_admin_permission() -> None:
    holders = {role.value for role in Role if P.ADMIN in permissions_for_role(role)}
    assert holders == {"owner", "admin"}


def test_every_role_can_read() -> None:
    assert all(P.READ in permissions_for_role(role) for role in Role)


ROLES_BY_RANK = ["viewer", "approver", "marketer", "admin", "owner"]


def test_rank_order() -> None:
    assert sorted(Role, key=ROLE_RANK.__getitem__) == [Role(r) for r in ROLES_BY_RANK]


@pytest.mark.parametrize("granter", ROLES_BY_RANK)
@pytest.mark.parametrize("role", ROLES_BY_RANK)
def test_user_grants_up_to_own_rank(granter: str, role: str) -> None:
    expected = ROLES_BY_RANK.index(role) <= ROLES_BY_RANK.index(granter)
    assert can_grant(granter, role) is expected


def test_owner_only_granted_by_owner() -> None:
    assert can_grant("owner", "owner")
    for granter in ["admin", "marketer", "approver", "viewer", None]:
        assert not can_grant(granter, "owner")


def test_admin_may_grant_admin_but_not_owner() -> None:
    assert can_grant("admin", "admin")
    assert not can_grant("admin", "owner")


def test_viewer_may_grant_only_viewer() -> None:
    assert can_grant("viewer", "viewer")
    assert not can_grant("viewer", "approver")


@pytest.mark.parametrize("role", ["viewer", "approver", "marketer", "admin"])
def test_key_grants_up_to_admin(role: str) -> None:
    assert can_grant(None, role)


def test_key_cannot_grant_owner() -> None:
    assert not can_grant(None, "owner")


def test_can_grant_accepts_enum_members() -> None:
    assert can_grant(Role.ADMIN, Role.MARKETER)
    assert not can_grant(Role.MARKETER, Role.ADMIN)


def test_parse_scopes_splits_known_and_unknown() -> None:
    known, unknown = parse_scopes(["read", "bogus", "track", "ADMIN", ""])
    assert known == sorted([P.READ, P.TRACK])
    assert unknown == ["bogus", "ADMIN", ""]
    assert all(isinstance(p, Permission) for p in known)


def test_parse_scopes_deduplicates_known() -> None:
    known, unknown = parse_scopes(["write", "read", "write", "read", "read"])
    assert known == sorted([P.READ, P.WRITE])
    assert len(known) == len(set(known))
    assert unknown == []


def test_parse_scopes_all() -> None:
    known, unknown = parse_scopes([p.value for p in Permission] * 2)
    assert set(known) == ALL
    assert len(known) == len(ALL)
    assert unknown == []


def test_parse_scopes_empty() -> None:
    assert parse_scopes([]) == ([], [])


def test_parse_scopes_result_is_sorted() -> None:
    known, _ = parse_scopes(["write", "admin", "approve", "read", "track"])
    assert known == sorted(known)
