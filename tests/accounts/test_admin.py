"""Account setup through GraphQL: workspaces, locations, properties, keys, audit, agencies."""

from __future__ import annotations

from beanie import PydanticObjectId

from documents.user import Membership, User
from documents.workspace import Workspace
from resolvers.accounts import bootstrap
from resolvers.accounts.passwords import hash_password
from tests.helpers import gid, new_tenant, unique_email
from tests.tracking_helpers import basic, contacts_of


async def test_owner_creates_renames_and_switches_workspaces(api, services):
    tenant = await new_tenant()
    token = await api.login(tenant.owner_email, tenant.owner_password)
    data = await api.gql(
        token,
        'mutation { createWorkspace(input: {name: "  Second brand  ", timezone: "Asia/Kolkata"}) '
        "{ workspace { id name timezone } userErrors { field code } } }",
    )
    created = data["createWorkspace"]["workspace"]
    assert created["name"] == "Second brand" and created["timezone"] == "Asia/Kolkata"
    data = await api.gql(
        token,
        'mutation($id: ID!) { renameWorkspace(id: $id, name: "Renamed") { workspace { name } } }',
        {"id": created["id"]},
    )
    assert data["renameWorkspace"]["workspace"]["name"] == "Renamed"
    listed = await api.gql(token, "{ workspaces { totalCount edges { node { name } } } }")
    assert listed["workspaces"]["totalCount"] == 2
    data = await api.gql(
        token,
        "mutation($id: ID!) { switchWorkspace(workspaceId: $id) { token workspaceId } }",
        {"id": created["id"]},
    )
    switched = data["switchWorkspace"]["token"]
    assert (await api.gql(switched, "{ workspace { name } }"))["workspace"]["name"] == "Renamed"
    # Both workspaces' audit logs record the creation.
    for t in (token, switched):
        actions = await api.gql(t, '{ auditEntries(action: "workspace.created") { totalCount } }')
        assert actions["auditEntries"]["totalCount"] == 1


async def test_bad_workspace_input_gets_field_errors(api, services):
    tenant = await new_tenant()
    token = await api.login(tenant.owner_email, tenant.owner_password)
    cases = [
        ('{name: "   "}', "input.name"),
        ('{name: "x", timezone: "Mars/Olympus"}', "input.timezone"),
        ('{name: "x", timezone: "../../etc/passwd"}', "input.timezone"),
        ('{name: "bad\\u0000name"}', "input.name"),
        ('{name: "%s"}' % ("n" * 121), "input.name"),
    ]
    for value, field in cases:
        data = await api.gql(
            token,
            "mutation { createWorkspace(input: %s) { workspace { id } "
            "userErrors { field message code } } }" % value,
        )
        payload = data["createWorkspace"]
        assert payload["workspace"] is None, value
        assert payload["userErrors"][0]["field"] == field and payload["userErrors"][0]["message"]
    # API keys belong to one workspace and cannot create others.
    data = await api.gql(
        tenant.secret_key,
        'mutation { createWorkspace(input: {name: "x"}) { userErrors { code } } }',
    )
    assert data["createWorkspace"]["userErrors"][0]["code"] == "FORBIDDEN"


async def test_locations_properties_and_write_keys(api, services):
    tenant = await new_tenant()
    key = tenant.secret_key
    create = (
        "mutation($name: String!, $code: String!) { createLocation(input: "
        '{name: $name, code: $code, timezone: "Asia/Kolkata"}) '
        "{ location { id code timezone } userErrors { field code message } } }"
    )
    first = (await api.gql(key, create, {"name": "Bandra", "code": "Bandra-West"}))[
        "createLocation"
    ]
    assert first["location"]["code"] == "bandra-west"
    dup = (await api.gql(key, create, {"name": "Other", "code": "bandra-west"}))["createLocation"]
    assert dup["userErrors"] == [
        {"field": "input.code", "code": "CONFLICT", "message": dup["userErrors"][0]["message"]}
    ]
    bad = (await api.gql(key, create, {"name": "Bad", "code": "a b/c"}))["createLocation"]
    assert bad["userErrors"][0]["field"] == "input.code"

    prop = await api.gql(
        key,
        'mutation($loc: ID!) { createProperty(input: {name: "Kiosk", platform: KIOSK, '
        "locationId: $loc}) { property { id platform locationId } userErrors { field } } }",
        {"loc": first["location"]["id"]},
    )
    created = prop["createProperty"]["property"]
    assert created["platform"] == "KIOSK" and created["locationId"] == first["location"]["id"]
    missing = await api.gql(
        key,
        'mutation { createProperty(input: {name: "X", locationId: "nope"}) '
        "{ property { id } userErrors { field code } } }",
    )
    assert missing["createProperty"]["userErrors"] == [
        {"field": "input.locationId", "code": "NOT_FOUND"}
    ]
    write = await api.gql(
        key,
        'mutation($id: ID!) { issueWriteKey(propertyId: $id, name: "Kiosk SDK") '
        "{ key apiKey { kind propertyId scopes } } }",
        {"id": created["id"]},
    )
    issued = write["issueWriteKey"]
    assert issued["key"].startswith("rk_write_")
    assert issued["apiKey"] == {"kind": "WRITE", "propertyId": created["id"], "scopes": ["track"]}
    renamed = await api.gql(
        key,
        'mutation($id: ID!) { renameProperty(id: $id, name: "Lobby kiosk") { property { name } } }',
        {"id": created["id"]},
    )
    assert renamed["renameProperty"]["property"]["name"] == "Lobby kiosk"

    audit = await api.gql(key, "{ auditEntries { edges { node { action actorKind } } } }")
    actions = [e["node"]["action"] for e in audit["auditEntries"]["edges"]]
    assert actions == [
        "property.renamed",
        "write_key.issued",
        "property.created",
        "location.created",
    ]


async def test_pages_follow_cursors_and_reject_bad_ones(api, services):
    tenant = await new_tenant()
    for i in range(5):
        await api.gql(
            tenant.secret_key,
            'mutation($c: String!) { createLocation(input: {name: "L", code: $c}) { location { id } } }',
            {"c": f"loc-{i}"},
        )
    query = (
        "query($after: String) { locations(first: 2, after: $after) { totalCount "
        "edges { cursor node { code } } pageInfo { hasNextPage hasPreviousPage endCursor } } }"
    )
    seen, after, pages = [], None, 0
    while True:
        page = (await api.gql(tenant.secret_key, query, {"after": after}))["locations"]
        assert page["totalCount"] == 5
        seen += [e["node"]["code"] for e in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert "loc" not in after
    assert seen == [f"loc-{i}" for i in range(5)] and pages == 3
    for bad, code in (('"garbage"', "INVALID_CURSOR"), ("null, first: 101", "INVALID")):
        errors = await api.errors(
            tenant.secret_key, "{ locations(after: %s) { totalCount } }" % bad
        )
        assert errors[0]["extensions"]["code"] == code


async def test_agency_members_act_in_client_workspaces(api, services):
    client = await new_tenant("Client")
    agency = await new_tenant("Agency", kind="agency")
    # An agency marketer who is not a member of the client.
    email = unique_email("agent")
    agent = await User(email=email, password_hash=await hash_password("agent password")).insert()
    await Membership(
        organization_id=agency.organization_id, user_id=agent.id, role="marketer"
    ).insert()
    response = await api.http.post(
        "/auth/login",
        json={"email": email, "password": "agent password", "workspaceId": client.workspace_id},
    )
    assert response.status_code == 404  # no access yet

    owner = await api.login(client.owner_email, client.owner_password)
    grant = (
        "mutation($id: ID!) { grantAgencyAccess(agencyOrganizationId: $id) "
        "{ ok userErrors { code } } }"
    )
    assert (await api.gql(owner, grant, {"id": agency.organization_id}))["grantAgencyAccess"]["ok"]
    again = await api.gql(owner, grant, {"id": agency.organization_id})
    assert again["grantAgencyAccess"]["userErrors"] == [{"code": "CONFLICT"}]
    # A brand org cannot be granted as an agency; keys cannot grant at all.
    not_agency = await api.gql(owner, grant, {"id": client.organization_id})
    assert not_agency["grantAgencyAccess"]["userErrors"] == [{"code": "NOT_FOUND"}]
    by_key = await api.gql(client.secret_key, grant, {"id": agency.organization_id})
    assert by_key["grantAgencyAccess"]["userErrors"] == [{"code": "FORBIDDEN"}]

    token = await api.login(email, "agent password", client.workspace_id)
    viewer = (await api.gql(token, "{ viewer { role workspaceId } }"))["viewer"]
    assert viewer == {"role": "MARKETER", "workspaceId": gid("Workspace", client.workspace_id)}

    revoke = "mutation($id: ID!) { revokeAgencyAccess(agencyOrganizationId: $id) { ok } }"
    assert (await api.gql(owner, revoke, {"id": agency.organization_id}))["revokeAgencyAccess"][
        "ok"
    ]
    response = await api.raw(token, "{ viewer { role } }")
    assert response.status_code == 401


async def test_workspace_settings_drive_phone_normalisation(api, services):
    tenant = await new_tenant()
    update = (
        "mutation($id: ID!, $c: String) { updateWorkspace(id: $id, input: {defaultCountry: $c}) "
        "{ workspace { defaultCountry } userErrors { field code } } }"
    )
    bad = await api.gql(tenant.secret_key, update, {"id": tenant.workspace_id, "c": "XX"})
    assert bad["updateWorkspace"]["userErrors"] == [
        {"field": "input.defaultCountry", "code": "INVALID"}
    ]
    good = await api.gql(tenant.secret_key, update, {"id": tenant.workspace_id, "c": "in"})
    assert good["updateWorkspace"]["workspace"]["defaultCountry"] == "IN"
    created = await api.gql(
        tenant.secret_key,
        'mutation { createContact(input: {phone: "098200 00001"}) { contact { phone } } }',
    )
    assert created["createContact"]["contact"]["phone"] == "+919820000001"
    cleared = await api.gql(tenant.secret_key, update, {"id": tenant.workspace_id, "c": ""})
    assert cleared["updateWorkspace"]["workspace"]["defaultCountry"] is None


async def test_the_demo_workspace_reads_national_phone_numbers_as_its_countrys(api, services):
    demo = await bootstrap.create_demo_workspace()
    workspace = await Workspace.get(PydanticObjectId(demo.workspace_id))
    assert workspace.default_country == bootstrap.DEMO_COUNTRY == "US"
    response = await api.http.post(
        "/v1/identify",
        json={"userId": "demo-1", "traits": {"phone": "(415) 555-0132"}},
        headers=basic(demo.write_key),
    )
    assert response.status_code == 200 and response.json()["warnings"] == [], response.text
    [contact] = await contacts_of(demo)
    assert contact.phone == "+14155550132"
    token = await api.login(demo.owner_email, demo.owner_password)  # the owner can log in
    assert (await api.gql(token, "{ viewer { role } }"))["viewer"] == {"role": "OWNER"}
