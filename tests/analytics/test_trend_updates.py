"""The live trend bucket over a real websocket (graphql-transport-ws)."""

from __future__ import annotations

import asyncio
import json

import websockets

from tests.analytics.helpers import seed
from tests.helpers import new_tenant

SUBSCRIBE = """subscription($input: TrendInput!) { trendUpdates(input: $input) {
  start series { event breakdownValue value } } }"""
INPUT = {
    "events": ["Live Ping"],
    "interval": "MONTH",  # the current bucket, whatever the time of day the test runs
    "from": "2026-01-01T00:00:00Z",
    "to": "2027-01-01T00:00:00Z",
}


async def _connect(base_url: str, key: str):
    ws = await websockets.connect(
        base_url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}})
    )
    assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "connection_ack"
    return ws


async def _next(ws, timeout: float = 30.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def _ping(user: str, n: int, event: str = "Live Ping") -> dict:
    return {"type": "track", "userId": user, "messageId": f"{user}-{event}-{n}", "event": event}


async def test_current_bucket_streams_as_events_arrive(api, base_url):
    tenant, other = await new_tenant("Live A"), await new_tenant("Live B")
    ws = await _connect(base_url, tenant.secret_key)
    try:
        payload = {"query": SUBSCRIBE, "variables": {"input": INPUT}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        first = await _next(ws)
        assert first["type"] == "next", first
        assert first["payload"]["data"]["trendUpdates"]["series"] == [
            {"event": "Live Ping", "breakdownValue": None, "value": 0}
        ]
        # Another workspace's pings and this one's other events change nothing; then one
        # batch of two pings is one new bucket value.
        await seed(api, other, [_ping("o", n) for n in range(3)])
        await seed(api, tenant, [_ping("a", 0, "Other Event")])
        await seed(api, tenant, [_ping("a", 1), _ping("b", 2)])
        update = await _next(ws)
        assert update["type"] == "next", update
        assert update["payload"]["data"]["trendUpdates"]["series"][0]["value"] == 2
        await seed(api, tenant, [_ping("c", 3)])
        again = await _next(ws)
        assert again["payload"]["data"]["trendUpdates"]["series"][0]["value"] == 3
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
    finally:
        await ws.close()


async def test_bad_input_is_an_error_on_the_stream(base_url, services):
    tenant = await new_tenant("Live bad")
    ws = await _connect(base_url, tenant.secret_key)
    try:
        bad = {**INPUT, "timeZone": "Mars/Olympus"}
        payload = {"query": SUBSCRIBE, "variables": {"input": bad}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        message = await _next(ws)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert "Unknown time zone" in errors[0]["message"], message
    finally:
        await ws.close()
