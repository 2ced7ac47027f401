"""One workspace can neither see nor change another's objects, whatever id it sends."""

from __future__ import annotations

from documents.credential import ApiKey
from documents.workspace import Location, Workspace
from tests.helpers import as_raw, gid, new_tenant


async def _setup(api, tenant):
    data = await api.gql(
        tenant.secret_key,
        'mutation { createLocation(input: {name: "Store", code: "store-1"}) { location { id } } }',
    )
    location_id = data["createLocation"]["location"]["id"]
    data = await api.gql(tenant.secret_key, "{ apiKeys(kind: SECRET) { edges { node { id } } } }")
    key_id = data["apiKeys"]["edges"][0]["node"]["id"]
    return location_id, key_id


async def test_a_key_of_workspace_a_cannot_read_workspace_b(api, services):
    a, b = await new_tenant("A"), await new_tenant("B")
    b_location, b_key = await _setup(api, b)
    await _setup(api, a)

    data = await api.gql(
        a.secret_key,
        """query($loc: ID!, $prop: ID!) {
             location(id: $loc) { id name }
             property(id: $prop) { id }
             locations { edges { node { id } } }
             properties { edges { node { id } } }
             workspaces { edges { node { id } } }
             apiKeys { edges { node { id } } }
             auditEntries { edges { node { targetId } } }
             members { edges { node { email } } }
           }""",
        {"loc": b_location, "prop": b.property_id},
    )
    assert data["location"] is None and data["property"] is None
    text = str(data)
    as_global = (gid("Property", b.property_id), gid("Workspace", b.workspace_id))
    for foreign in (b_location, b.property_id, b.workspace_id, b_key, b.owner_email, *as_global):
        assert foreign not in text and as_raw(foreign) not in text


async def test_a_key_of_workspace_a_cannot_change_workspace_b(api, services):
    a, b = await new_tenant("A"), await new_tenant("B")
    b_location, b_key = await _setup(api, b)
    attempts = {
        "renameLocation": (
            'mutation($id: ID!) { renameLocation(id: $id, name: "pwned") '
            "{ location { id } userErrors { code field } } }",
            b_location,
        ),
        "renameProperty": (
            'mutation($id: ID!) { renameProperty(id: $id, name: "pwned") '
            "{ property { id } userErrors { code field } } }",
            b.property_id,
        ),
        "renameWorkspace": (
            'mutation($id: ID!) { renameWorkspace(id: $id, name: "pwned") '
            "{ workspace { id } userErrors { code field } } }",
            b.workspace_id,
        ),
        "revokeApiKey": (
            "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } userErrors { code field } } }",
            b_key,
        ),
        "issueWriteKey": (
            'mutation($id: ID!) { issueWriteKey(propertyId: $id, name: "x") '
            "{ key userErrors { code field } } }",
            b.property_id,
        ),
    }
    for mutation, (query, target) in attempts.items():
        payload = (await api.gql(a.secret_key, query, {"id": target}))[mutation]
        assert payload["userErrors"][0]["code"] == "NOT_FOUND", mutation
        assert target not in str({k: v for k, v in payload.items() if k != "userErrors"})
        assert not any(v for k, v in payload.items() if k != "userErrors"), mutation
    # Nothing of B's changed, and its key still works.
    assert (await Location.get(as_raw(b_location))).name == "Store"
    assert (await Workspace.get(b.workspace_id)).name == "Main"
    assert (await ApiKey.get(as_raw(b_key))).revoked_at is None
    data = await api.gql(b.secret_key, "{ workspace { name } }")
    assert data["workspace"]["name"] == "Main"
    data = await api.gql(b.secret_key, "{ auditEntries { edges { node { actorLabel } } } }")
    assert all(
        "Initial secret key" in e["node"]["actorLabel"] for e in data["auditEntries"]["edges"]
    )


async def test_malformed_ids_are_simply_not_found(api, services):
    a = await new_tenant()
    for bad in ("", "not-an-id", "0" * 24, "{'$ne': null}", "x" * 5000):
        data = await api.gql(
            a.secret_key, "query($id: ID!) { location(id: $id) { id } }", {"id": bad}
        )
        assert data["location"] is None
    data = await api.gql(
        a.secret_key,
        'mutation { renameLocation(id: "{\\"$ne\\": 1}", name: "x") { userErrors { code } } }',
    )
    assert data["renameLocation"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_users_cannot_switch_into_or_log_into_foreign_workspaces(api, services):
    a, b = await new_tenant("A"), await new_tenant("B")
    token = await api.login(a.owner_email, a.owner_password)
    data = await api.gql(
        token,
        "mutation($id: ID!) { switchWorkspace(workspaceId: $id) { token userErrors { code } } }",
        {"id": b.workspace_id},
    )
    assert data["switchWorkspace"] == {"token": None, "userErrors": [{"code": "NOT_FOUND"}]}
    response = await api.http.post(
        "/auth/login",
        json={"email": a.owner_email, "password": a.owner_password, "workspaceId": b.workspace_id},
    )
    assert response.status_code == 404
