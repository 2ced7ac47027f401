"""Live segment counts and membership changes over graphql-transport-ws, within one
server and across two `reach serve` processes sharing MongoDB and Redis."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import websockets
from beanie import PydanticObjectId

from documents.contact import Contact
from reach.embedded.mongo import EmbeddedMongo
from reach.embedded.redis import EmbeddedRedis
from resolvers.segments import membership
from tests.conftest import free_port
from tests.helpers import new_tenant, raw
from tests.segments.test_segments import add_contact, create_segment
from tests.test_serve_process import Child, child_env, spawn  # noqa: F401 - a fixture
from tests.tracking_helpers import basic

COUNT = "subscription($id: ID!) { segmentMemberCount(segmentId: $id) }"
CHANGES = (
    "subscription($id: ID!) { segmentMembershipChanges(segmentId: $id) "
    "{ segmentId contactId change } }"
)
STATIC = (
    "mutation($input: StaticSegmentInput!) { createStaticSegment(input: $input) "
    "{ segment { id memberCount } userErrors { field } } }"
)
ADD = (
    "mutation($id: ID!, $ids: [ID!]!) { addToStaticSegment(id: $id, contactIds: $ids) "
    "{ segment { memberCount } userErrors { field } } }"
)


async def connect(base_url: str, key: str):
    ws = await websockets.connect(
        base_url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}})
    )
    ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert ack["type"] == "connection_ack", ack
    return ws


async def subscribe(ws, op_id: str, query: str, variables: dict) -> None:
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


async def receive(ws, timeout: float = 10.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def test_member_count_now_then_each_change(api, base_url, services):
    t = await new_tenant()
    a = await add_contact(api, t, email="a@example.com", properties={"city": "Mumbai"})
    b = await add_contact(api, t, email="b@example.com")
    dynamic = await create_segment(
        api, t, "Mumbai", {"property": "city", "op": "eq", "value": "Mumbai"}
    )
    data = await api.gql(t.secret_key, STATIC, {"input": {"name": "List", "contactIds": [a]}})
    static = data["createStaticSegment"]["segment"]

    ws = await connect(base_url, t.secret_key)
    try:
        await subscribe(ws, "1", COUNT, {"id": static["id"]})
        await subscribe(ws, "2", COUNT, {"id": dynamic["id"]})
        await subscribe(ws, "3", CHANGES, {"id": dynamic["id"]})
        first = [await receive(ws), await receive(ws)]
        counts = {m["id"]: m["payload"]["data"]["segmentMemberCount"] for m in first}
        assert counts == {"1": 1, "2": 1}
        await asyncio.sleep(0.2)  # the changes stream has nothing to say yet

        await api.gql(t.secret_key, ADD, {"id": static["id"], "ids": [b]})
        message = await receive(ws)
        assert message["id"] == "1" and message["payload"]["data"]["segmentMemberCount"] == 2

        # A contact change as ingestion reports it: the count and the change arrive.
        await Contact.get_pymongo_collection().update_one(
            {"_id": PydanticObjectId(raw(b))}, {"$set": {"properties.city": "Mumbai"}}
        )
        changed = {raw(b): {("property", "city")}}
        await membership.reevaluate(PydanticObjectId(t.workspace_id), changed)
        got = {}
        for _ in range(2):
            message = await receive(ws)
            got[message["id"]] = message["payload"]["data"]
        assert got["2"] == {"segmentMemberCount": 2}
        assert got["3"] == {
            "segmentMembershipChanges": {
                "segmentId": dynamic["id"],
                "contactId": b,
                "change": "ENTERED",
            }
        }
    finally:
        await ws.close()


async def test_cannot_watch_another_workspaces_segment(api, base_url, services):
    a, b = await new_tenant("A"), await new_tenant("B")
    segment = await create_segment(api, a, "VIP", {"tag": "vip"})
    ws = await connect(base_url, b.secret_key)
    try:
        await subscribe(ws, "1", COUNT, {"id": segment["id"]})
        message = await receive(ws)
        assert message["type"] == "error" or message["payload"].get("errors"), message
        text = json.dumps(message)
        assert "NOT_FOUND" in text or "not found" in text
    finally:
        await ws.close()


# --- two server processes ------------------------------------------------------------------


def _wait_up(child: Child, base_url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=5) as http:
        while True:
            if child.proc.poll() is not None:
                pytest.fail(f"{child.name} exited" + child.report())
            try:
                if http.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{child.name} not healthy" + child.report())
            time.sleep(0.2)


@pytest.mark.slow
async def test_live_count_crosses_server_processes(tmp_path: Path, spawn):  # noqa: F811
    """A subscriber on process 1 sees the count change caused by tracking data sent to
    process 2 (and by a mutation on process 2): Redis pub/sub links them."""
    mongo = EmbeddedMongo(None)
    redis = EmbeddedRedis(tmp_path / "redis" / "dump.rdb")
    mongodb_uri, redis_url = mongo.start(), redis.start()
    try:
        shared = {"MONGODB_URI": mongodb_uri, "REDIS_URL": redis_url}
        port1, port2 = free_port(), free_port()
        url1, url2 = f"http://127.0.0.1:{port1}", f"http://127.0.0.1:{port2}"
        one = spawn(
            "serve-1",
            "serve",
            child_env(tmp_path / "one", port1, **shared, REACH_EMBEDDED_WORKER="true"),
        )
        _wait_up(one, url1)
        creds = json.loads((tmp_path / "one" / "demo-credentials.json").read_text())
        two = spawn(
            "serve-2", "serve", child_env(tmp_path / "two", port2, **shared, REACH_DEMO="false")
        )
        _wait_up(two, url2)
        key = creds["secret_key"]

        async with httpx.AsyncClient(timeout=30) as http:

            async def gql(base: str, query: str, variables: dict) -> dict:
                response = await http.post(
                    base + "/graphql",
                    json={"query": query, "variables": variables},
                    headers={"Authorization": f"Bearer {key}"},
                )
                body = response.json()
                assert not body.get("errors"), body
                return body["data"]

            create = (
                "mutation($input: SegmentInput!) { createSegment(input: $input) "
                "{ segment { id memberCount } userErrors { field message } } }"
            )
            rules = {"event": "order_completed", "count": {"gte": 2}}
            data = await gql(url1, create, {"input": {"name": "Repeat", "rules": rules}})
            segment = data["createSegment"]["segment"]
            assert segment["memberCount"] == 0, data

            contact = (
                'mutation { createContact(input: {email: "x@example.com"}) { contact { id } } }'
            )
            contact_id = (await gql(url2, contact, {}))["createContact"]["contact"]["id"]
            data = await gql(url1, STATIC, {"input": {"name": "List"}})
            static = data["createStaticSegment"]["segment"]

            ws = await connect(url1, key)
            try:
                await subscribe(ws, "1", COUNT, {"id": segment["id"]})
                message = await receive(ws)
                assert message["payload"]["data"]["segmentMemberCount"] == 0
                await subscribe(ws, "2", COUNT, {"id": static["id"]})
                message = await receive(ws)
                assert message["payload"]["data"]["segmentMemberCount"] == 0

                # A mutation on process 2 ...
                await gql(url2, ADD, {"id": static["id"], "ids": [contact_id]})
                message = await receive(ws, timeout=20)
                assert message["id"] == "2", message
                assert message["payload"]["data"]["segmentMemberCount"] == 1, message

                # ... and tracking data sent to process 2.
                batch = [
                    {"type": "track", "userId": "u1", "event": "order_completed"},
                    {"type": "track", "userId": "u1", "event": "order_completed"},
                ]
                response = await http.post(
                    url2 + "/v1/batch", json={"batch": batch}, headers=basic(creds["write_key"])
                )
                assert response.status_code == 200, response.text
                message = await receive(ws, timeout=20)
                assert message["id"] == "1", message
                assert message["payload"]["data"]["segmentMemberCount"] == 1, message
            finally:
                await ws.close()
        assert one.stop() == 0, one.report()
        assert two.stop() == 0, two.report()
    finally:
        redis.stop()
        mongo.stop()
