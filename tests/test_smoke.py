from tests.helpers import gid, new_tenant


async def test_viewer_with_secret_key(api, services):
    tenant = await new_tenant()
    data = await api.gql(tenant.secret_key, "{ viewer { kind workspaceId permissions } }")
    assert data["viewer"]["kind"] == "secret_key"
    assert data["viewer"]["workspaceId"] == gid("Workspace", tenant.workspace_id)
