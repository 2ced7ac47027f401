"""Live audit log over graphql-transport-ws, authenticated in connection_init."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.helpers import new_tenant

SUBSCRIBE = "subscription { auditLog { action targetType details } }"


async def _connect(base_url: str, init_payload: dict | None):
    ws = await websockets.connect(
        base_url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": init_payload or {}}))
    return ws


async def _next_message(ws, timeout: float = 10.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


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
