"""The official Segment Python client (segment-analytics-python) against the local server.

The client is synchronous (requests): every call runs in a thread so the server, which
serves on this test's event loop, can answer. It posts to {host}/v1/batch with the write
key as the basic-auth username (and as writeKey in the body), gzip on request.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from segment.analytics import Client
from segment.analytics.request import APIError

from tests.helpers import new_tenant

CONTACTS = """{ contacts(first: 10) { totalCount edges { node { id userId anonymousIds } } } }"""
CONTACT = """query($id: ID!) { contact(id: $id) {
  id userId email anonymousIds properties
  events(first: 50) { totalCount edges { node { type event properties context } } }
  eventStats { name count } } }"""


def sync_client(write_key: str, base_url: str) -> Client:
    # sync_mode posts each call before returning: no background thread to race with.
    return Client(write_key=write_key, host=base_url, sync_mode=True, gzip=True, timeout=30)


async def call(fn, *args, **kwargs):
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_identify_track_page_alias_show_up(api, base_url, services):
    t = await new_tenant()
    client = sync_client(t.write_key, base_url)
    await call(
        client.identify,
        "seg-user-1",
        {"email": "Ada@Example.com", "firstName": "Ada", "loyalty_tier": "gold"},
    )
    await call(client.track, "seg-user-1", "product_viewed", {"sku": "sku-1", "price": 19.5})
    await call(client.track, "seg-user-1", "product_viewed", {"sku": "sku-2", "price": 5})
    await call(client.page, "seg-user-1", "Docs", "Pricing", {"url": "https://example.com/pricing"})
    # An anonymous visitor, later aliased to the identified user.
    await call(client.track, None, "added_to_cart", {"sku": "sku-3"}, anonymous_id="seg-anon-1")
    before = (await api.gql(t.secret_key, CONTACTS))["contacts"]
    assert before["totalCount"] == 2
    [anonymous] = [c["node"] for c in before["edges"] if c["node"]["userId"] is None]
    assert anonymous["anonymousIds"] == ["seg-anon-1"]

    await call(client.alias, "seg-anon-1", "seg-user-1")

    after = (await api.gql(t.secret_key, CONTACTS))["contacts"]
    assert after["totalCount"] == 1
    [survivor] = [c["node"] for c in after["edges"]]
    # The merged-away anonymous contact's id still resolves, to the survivor.
    contact = (await api.gql(t.secret_key, CONTACT, {"id": anonymous["id"]}))["contact"]
    assert contact["id"] == survivor["id"]
    assert contact["userId"] == "seg-user-1"
    assert contact["email"] == "ada@example.com"
    assert "seg-anon-1" in contact["anonymousIds"]
    assert contact["properties"]["first_name"] == "Ada"
    assert contact["properties"]["loyalty_tier"] == "gold"
    assert "firstName" not in contact["properties"]

    events = [e["node"] for e in contact["events"]["edges"]]
    assert contact["events"]["totalCount"] == 6
    assert sorted((e["type"], e["event"]) for e in events) == [
        ("alias", None),
        ("identify", None),
        ("page", "Pricing"),
        ("track", "added_to_cart"),
        ("track", "product_viewed"),
        ("track", "product_viewed"),
    ]
    viewed = sorted(e["properties"]["sku"] for e in events if e["event"] == "product_viewed")
    assert viewed == ["sku-1", "sku-2"]
    page = next(e for e in events if e["type"] == "page")
    assert page["properties"]["url"] == "https://example.com/pricing"
    assert all(e["context"]["library"]["name"] == "analytics-python" for e in events)
    stats = {s["name"]: s["count"] for s in contact["eventStats"]}
    assert stats == {"added_to_cart": 1, "page_viewed": 1, "product_viewed": 2}


async def test_wrong_write_key_reaches_on_error_with_401(base_url, services):
    # Synchronous mode raises the API error to the caller.
    with pytest.raises(APIError) as raised:
        await call(sync_client("rk_write_not-a-real-key", base_url).track, "u", "x")
    assert raised.value.status == 401

    # The default, queued mode reports it through on_error from its consumer thread.
    failures: list[tuple[Exception, list]] = []
    reported = threading.Event()

    def on_error(error: Exception, batch: list) -> None:
        failures.append((error, batch))
        reported.set()

    client = Client(
        write_key="rk_write_not-a-real-key",
        host=base_url,
        on_error=on_error,
        max_retries=0,
        upload_interval=0.05,
    )
    try:
        await call(client.track, "seg-user-2", "signed_up", {"plan": "pro"})
        await call(client.flush)
        assert await call(reported.wait, 10)
    finally:
        await call(client.join)
    [(error, batch)] = failures
    assert isinstance(error, APIError) and error.status == 401
    assert [m["event"] for m in batch] == ["signed_up"]
