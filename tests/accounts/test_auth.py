"""Credentials: secret keys, write keys, sessions, roles and scopes."""

from __future__ import annotations

import asyncio
import uuid

from documents.user import Membership, User
from resolvers.accounts.passwords import hash_password
from resolvers.core import runtime
from tests.helpers import gid, new_tenant, unique_email

VIEWER = "{ viewer { kind label role permissions workspaceId } }"
CREATE_LOCATION = """
mutation($code: String!) {
  createLocation(input: {name: "Outlet", code: $code}) {
    location { id } userErrors { field message code }
  }
}"""


async def test_missing_and_malformed_credentials_get_401_without_data(api, services):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = await api.http.post("/graphql", json={"query": VIEWER}, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        body = response.json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "Bearer" in body["errors"][0]["message"]


async def test_unknown_and_revoked_keys_get_401(api, services):
    tenant = await new_tenant()
    for token in ("rk_secret_not-a-real-key", "rk_write_nope", "garbage-session-token"):
        response = await api.raw(token, VIEWER)
        assert response.status_code == 401, token
    issued = await api.gql(
        tenant.secret_key,
        'mutation { issueApiKey(input: {name: "CI"}) { key apiKey { id } userErrors { code } } }',
    )
    key = issued["issueApiKey"]["key"]
    assert (await api.raw(key, VIEWER)).status_code == 200
    await api.gql(
        tenant.secret_key,
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } userErrors { code } } }",
        {"id": issued["issueApiKey"]["apiKey"]["id"]},
    )
    response = await api.raw(key, VIEWER)
    assert response.status_code == 401
    assert "revoked" in response.json()["errors"][0]["message"]


async def test_secret_key_is_shown_once_and_stored_hashed(api, services):
    tenant = await new_tenant()
    data = await api.gql(
        tenant.secret_key,
        'mutation { issueApiKey(input: {name: "Server", scopes: ["read"]}) '
        "{ key apiKey { id prefix scopes } } }",
    )
    key, listed = data["issueApiKey"]["key"], data["issueApiKey"]["apiKey"]
    assert key.startswith("rk_secret_") and key.startswith(listed["prefix"])
    assert listed["scopes"] == ["read"]
    raw = await services.mongo[services.settings.mongodb_db]["api_keys"].find_one(
        {"prefix": listed["prefix"]}
    )
    assert key not in str(raw)
    page = await api.gql(tenant.secret_key, "{ apiKeys { edges { node { prefix } } } }")
    assert key not in str(page)


async def test_scoped_key_can_read_but_not_change(api, services):
    tenant = await new_tenant()
    data = await api.gql(
        tenant.secret_key,
        'mutation { issueApiKey(input: {name: "Reader", scopes: ["read"]}) { key } }',
    )
    reader = data["issueApiKey"]["key"]
    assert (await api.gql(reader, VIEWER))["viewer"]["permissions"] == ["read"]
    result = await api.gql(reader, CREATE_LOCATION, {"code": "x1"})
    assert result["createLocation"]["location"] is None
    assert result["createLocation"]["userErrors"][0]["code"] == "FORBIDDEN"
    errors = await api.errors(reader, "{ auditEntries { totalCount } }")
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_unknown_scopes_are_rejected_with_a_field_error(api, services):
    tenant = await new_tenant()
    data = await api.gql(
        tenant.secret_key,
        'mutation { issueApiKey(input: {name: "X", scopes: ["read", "root"]}) '
        "{ key userErrors { field message code } } }",
    )
    payload = data["issueApiKey"]
    assert payload["key"] is None
    assert payload["userErrors"][0]["field"] == "input.scopes"
    assert "root" in payload["userErrors"][0]["message"]


async def test_write_key_may_not_use_graphql(api, services):
    tenant = await new_tenant()
    response = await api.raw(tenant.write_key, VIEWER)
    assert response.status_code == 403
    assert "tracking" in response.json()["errors"][0]["message"]


async def test_password_login_issues_a_working_session(api, services):
    tenant = await new_tenant()
    token = await api.login(tenant.owner_email.upper(), tenant.owner_password)
    viewer = (await api.gql(token, VIEWER))["viewer"]
    assert viewer == {
        "kind": "user",
        "label": tenant.owner_email,
        "role": "OWNER",
        "permissions": ["admin", "approve", "read", "track", "write"],
        "workspaceId": gid("Workspace", tenant.workspace_id),
    }


async def test_wrong_password_unknown_user_and_bad_bodies(api, services):
    tenant = await new_tenant()
    for body in (
        {"email": tenant.owner_email, "password": "wrong password!"},
        {"email": unique_email(), "password": "whatever at all"},
        {"email": "not an email", "password": "whatever at all"},
    ):
        response = await api.http.post("/auth/login", json=body)
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "Invalid email or password."
    for raw in (b"{not json", b"[]", b'{"email": 5, "password": "x"}', b'{"email": "a@b.co"}'):
        response = await api.http.post(
            "/auth/login", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, raw
        assert response.json()["error"]["message"]


async def test_repeated_failures_lock_the_login(api, services):
    tenant = await new_tenant()
    limit = runtime.get().login_max_failures
    for _ in range(limit):
        bad = {"email": tenant.owner_email, "password": "not the password"}
        assert (await api.http.post("/auth/login", json=bad)).status_code == 401
    good = {"email": tenant.owner_email, "password": tenant.owner_password}
    response = await api.http.post("/auth/login", json=good)
    assert response.status_code == 429
    assert "Too many" in response.json()["error"]["message"]


async def test_tampered_expired_and_revoked_sessions_are_refused(api, services):
    tenant = await new_tenant()
    token = await api.login(tenant.owner_email, tenant.owner_password)
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert (await api.raw(tampered, VIEWER)).status_code == 401

    rt = runtime.get()
    ttl, rt.session_ttl_seconds = rt.session_ttl_seconds, -1
    try:
        response = await api.raw(token, VIEWER)
    finally:
        rt.session_ttl_seconds = ttl
    assert response.status_code == 401
    assert "expired" in response.json()["errors"][0]["message"]

    data = await api.gql(token, "mutation { logoutEverywhere { ok } }")
    assert data["logoutEverywhere"]["ok"] is True
    response = await api.raw(token, VIEWER)
    assert response.status_code == 401
    assert "revoked" in response.json()["errors"][0]["message"]


async def _member(tenant, role: str) -> str:
    """A user with `role` in the tenant's organization; returns a session token."""
    email = unique_email(role)
    user = await User(email=email, password_hash=await hash_password("pass phrase 123")).insert()
    await Membership(organization_id=tenant.organization_id, user_id=user.id, role=role).insert()
    return email


async def test_roles_decide_what_users_may_do(api, services):
    tenant = await new_tenant()
    tokens = {}
    for role in ("admin", "marketer", "approver", "viewer"):
        email = await _member(tenant, role)
        tokens[role] = await api.login(email, "pass phrase 123")
    for role, token in tokens.items():
        assert (await api.gql(token, VIEWER))["viewer"]["role"] == role.upper()
        # Everyone may read the workspace's setup.
        assert "locations" in await api.gql(token, "{ locations { totalCount } }")
    created = await asyncio.gather(
        *(api.gql(tokens[r], CREATE_LOCATION, {"code": f"c-{r}"}) for r in tokens)
    )
    outcome = {
        r: (c["createLocation"]["userErrors"] or [{"code": "OK"}])[0]["code"]
        for r, c in zip(tokens, created, strict=True)
    }
    assert outcome == {
        "admin": "OK",
        "marketer": "FORBIDDEN",
        "approver": "FORBIDDEN",
        "viewer": "FORBIDDEN",
    }
    # Admins may not mint owners; owners may.
    invite = (
        'mutation($role: Role!) { inviteUser(email: "%s", role: $role) '
        "{ inviteUrl userErrors { field code } } }"
    )
    data = await api.gql(tokens["admin"], invite % unique_email(), {"role": "OWNER"})
    assert data["inviteUser"]["userErrors"] == [{"field": "role", "code": "FORBIDDEN"}]
    owner = await api.login(tenant.owner_email, tenant.owner_password)
    data = await api.gql(owner, invite % unique_email(), {"role": "OWNER"})
    assert data["inviteUser"]["userErrors"] == []


async def test_a_login_stored_before_stricter_email_checks_still_works(api, services):
    tenant = await new_tenant()
    email = f"ops-{uuid.uuid4().hex[:8]}@intranet.local"  # email-validator rejects .local
    user = await User(email=email, password_hash=await hash_password("pass phrase 123")).insert()
    await Membership(
        organization_id=tenant.organization_id, user_id=user.id, role="viewer"
    ).insert()
    token = await api.login(email.upper(), "pass phrase 123")
    assert (await api.gql(token, VIEWER))["viewer"]["label"] == email
