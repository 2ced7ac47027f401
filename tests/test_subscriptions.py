"""Live audit log over graphql-transport-ws, authenticated in connection_init and
re-checked while it streams (revocation, logout, role changes)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from beanie import PydanticObjectId

from documents.user import Membership, User
from resolvers.core import live
from tests.conftest import _serve, free_port
from tests.helpers import eventually, new_tenant

SUBSCRIBE = "subscription { auditLog { action targetType details } }"


async def _connect(base_url: str, init_payload: dict | None):
    ws = await websockets.connect(
        base_url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": init_payload or {}}))
    return ws


async def _next_message(ws, timeout: float = 10.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


CREATE_LOCATION = (
    'mutation($c: String!) { createLocation(input: {name: "S", code: $c}) { location { id } } }'
)


@pytest.fixture(scope="session")
async def quick_url(settings, services):
    """The app re-authenticating live credentials every half second, so expiry and role
    edits (which bump no generation) show within a test's patience."""
    quick = settings.model_copy(update={"subscription_recheck_seconds": 0.5})
    from reach.app import create_app

    async for url in _serve(create_app(quick, services=services), quick, free_port()):
        yield url


async def _audit_stream(url: str, token: str, workspace_id: str, services):
    """A connection with auditLog subscribed, once its Redis subscription is registered."""
    channel = live.channel(PydanticObjectId(workspace_id), "audit")
    before = dict(await services.redis.pubsub_numsub(channel)).get(channel.encode(), 0)
    ws = await _connect(url, {"authorization": f"Bearer {token}"})
    assert (await _next_message(ws))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))

    async def registered():
        counts = dict(await services.redis.pubsub_numsub(channel))
        return counts.get(channel.encode(), 0) > before

    await eventually(registered, timeout=30)
    return ws


async def _issue_key(api, token: str, name: str) -> tuple[str, str]:
    issue = "mutation($n: String!) { issueApiKey(input: {name: $n}) { key apiKey { id } } }"
    data = (await api.gql(token, issue, {"n": name}))["issueApiKey"]
    return data["key"], data["apiKey"]["id"]


async def _ended_with(ws, code: str) -> dict:
    """Skips items already in flight; returns the operation's `error` message."""
    while True:
        message = await _next_message(ws, timeout=60)
        if message["type"] == "error":
            assert message["id"] == "1"
            assert message["payload"][0]["extensions"]["code"] == code, message
            return message
        assert message["type"] == "next", message


async def _closed_code(ws) -> int:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            message = await _next_message(ws, timeout=60)
            assert message["type"] not in ("next",), message
    return closed.value.rcvd.code


async def test_audit_log_streams_only_the_callers_workspace(api, base_url, services):
    a, b = await new_tenant("A"), await new_tenant("B")
    ws = await _connect(base_url, {"authorization": f"Bearer {a.secret_key}"})
    try:
        ack = await _next_message(ws)
        assert ack == {"type": "connection_ack", "payload": {"workspaceId": a.workspace_id}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        await asyncio.sleep(0.3)  # let the Redis subscription register
        create = 'mutation($c: String!) { createLocation(input: {name: "S", code: $c}) { location { id } } }'
        await api.gql(b.secret_key, create, {"c": "b-only"})
        await api.gql(a.secret_key, create, {"c": "a-only"})
        message = await _next_message(ws)
        assert message["type"] == "next" and message["id"] == "1"
        entry = message["payload"]["data"]["auditLog"]
        assert entry == {
            "action": "location.created",
            "targetType": "location",
            "details": {"name": "S"},
        }
        # B's change never arrives on A's stream.
        with pytest.raises(TimeoutError):
            await _next_message(ws, timeout=0.5)
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
    finally:
        await ws.close()


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {"authorization": "Bearer rk_secret_wrong"},
        {"authorization": 42},
        {"authorization": "x"},
    ],
)
async def test_websocket_without_valid_credentials_is_closed(base_url, services, payload):
    ws = await _connect(base_url, payload)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await _next_message(ws)
    assert closed.value.rcvd.code == 4403


async def test_write_key_cannot_subscribe(base_url, services):
    tenant = await new_tenant()
    ws = await _connect(base_url, {"authorization": f"Bearer {tenant.write_key}"})
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await _next_message(ws)
    assert closed.value.rcvd.code == 4403


async def test_subscribe_before_init_is_unauthorized(base_url, services):
    ws = await websockets.connect(
        base_url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await _next_message(ws)
    assert closed.value.rcvd.code == 4401


async def test_oversized_websocket_messages_close_the_connection(base_url, services, settings):
    tenant = await new_tenant()
    ws = await _connect(base_url, {"authorization": f"Bearer {tenant.secret_key}"})
    assert (await _next_message(ws))["type"] == "connection_ack"
    huge = {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": "x" * (settings.max_body_bytes + 1)},
    }
    await ws.send(json.dumps(huge))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await _next_message(ws)
    assert closed.value.rcvd.code == 1009  # message too big


async def test_revoked_key_ends_its_stream_and_an_unaffected_key_streams_on(
    api, base_url, services
):
    tenant = await new_tenant("Revoke")
    doomed, doomed_id = await _issue_key(api, tenant.secret_key, "doomed")
    kept, _ = await _issue_key(api, tenant.secret_key, "kept")
    ws_doomed = await _audit_stream(base_url, doomed, tenant.workspace_id, services)
    ws_kept = await _audit_stream(base_url, kept, tenant.workspace_id, services)
    try:
        revoke = "mutation($id: ID!) { revokeApiKey(id: $id) { userErrors { message } } }"
        await api.gql(tenant.secret_key, revoke, {"id": doomed_id})
        # The revocation's own audit entry is already withheld from the revoked key.
        ended = await _ended_with(ws_doomed, "CREDENTIAL_REVOKED")
        assert "revoked" in ended["payload"][0]["message"]
        assert await _closed_code(ws_doomed) == 4403
        await api.gql(tenant.secret_key, CREATE_LOCATION, {"c": "after-revoke"})
        actions = []
        while "location.created" not in actions:
            message = await _next_message(ws_kept)
            assert message["type"] == "next", message
            actions.append(message["payload"]["data"]["auditLog"]["action"])
        assert actions == ["secret_key.revoked", "location.created"]
    finally:
        await ws_doomed.close()
        await ws_kept.close()


async def test_logout_everywhere_ends_the_sessions_stream(api, base_url, services):
    tenant = await new_tenant("Logout")
    session = await api.login(tenant.owner_email, tenant.owner_password)
    ws = await _audit_stream(base_url, session, tenant.workspace_id, services)
    try:
        await api.gql(session, "mutation { logoutEverywhere { ok } }")
        # The next item in the workspace finds the bumped generation and is not delivered.
        await api.gql(tenant.secret_key, CREATE_LOCATION, {"c": "after-logout"})
        ended = await _ended_with(ws, "CREDENTIAL_REVOKED")
        assert "Session revoked" in ended["payload"][0]["message"]
        assert await _closed_code(ws) == 4403
    finally:
        await ws.close()


async def test_revocation_is_seen_while_nothing_flows(api, quick_url, services):
    tenant = await new_tenant("Idle")
    session = await api.login(tenant.owner_email, tenant.owner_password)
    ws = await _audit_stream(quick_url, session, tenant.workspace_id, services)
    try:
        # Outside any mutation (no generation bump): only the periodic re-check sees it.
        user = await User.find_one({"email": tenant.owner_email})
        await User.find_one({"_id": user.id}).update({"$inc": {"token_version": 1}})
        await _ended_with(ws, "CREDENTIAL_REVOKED")
        assert await _closed_code(ws) == 4403
    finally:
        await ws.close()


async def test_demoted_then_removed_user_loses_the_stream(api, quick_url, services):
    tenant = await new_tenant("Demote")
    session = await api.login(tenant.owner_email, tenant.owner_password)
    ws = await _audit_stream(quick_url, session, tenant.workspace_id, services)
    user = await User.find_one({"email": tenant.owner_email})
    membership = {"organization_id": PydanticObjectId(tenant.organization_id), "user_id": user.id}
    try:
        await Membership.find_one(membership).update({"$set": {"role": "viewer"}})
        ended = await _ended_with(ws, "PERMISSION_LOST")
        assert "admin" in ended["payload"][0]["message"]
        # The connection stays, narrowed: auditLog (admin only) is now refused on it.
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        refused = await _next_message(ws, timeout=60)
        assert refused["id"] == "2" and refused["type"] in ("error", "next"), refused
        assert "admin" in json.dumps(refused["payload"]), refused
        await Membership.find_one(membership).delete()
        assert await _closed_code(ws) == 4403
    finally:
        await ws.close()


async def test_legacy_graphql_ws_protocol_is_refused(base_url, services):
    """graphql-ws has no credential re-check here, so it is not served at all."""
    tenant = await new_tenant()
    try:
        ws = await websockets.connect(
            base_url.replace("http", "ws") + "/graphql", subprotocols=["graphql-ws"]
        )
    except websockets.InvalidHandshake:
        return  # refused at the handshake
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {tenant.secret_key}"}}
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await ws.send(json.dumps(init))
        await _next_message(ws)
    assert closed.value.rcvd.code == 4406
