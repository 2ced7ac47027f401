"""The paths and headers Segment's browser and mobile SDKs use, over real HTTP."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DASHBOARD_ORIGIN
from tests.helpers import new_tenant
from tests.tracking_helpers import basic, events_of

SHORT = {
    # Destinations by name, as the SDKs send them: a key with a dot, never stored.
    "t": {"type": "track", "event": "Short Track", "integrations": {"Segment.io": True, "All": 1}},
    "i": {"type": "identify", "traits": {"plan": "pro"}},
    "p": {"type": "page", "name": "Home"},
    "s": {"type": "screen", "name": "Main"},
    "g": {"type": "group", "groupId": "acme"},
}


async def test_short_paths_store_their_own_type(http, services):
    t = await new_tenant()
    for letter, body in SHORT.items():
        # analytics-next sends text/plain (no preflight for the body) with the key inside.
        payload = {**body, "userId": "sdk-u1", "messageId": f"m-{letter}", "writeKey": t.write_key}
        answer = await http.post(
            f"/v1/{letter}", content=json.dumps(payload), headers={"Content-Type": "text/plain"}
        )
        assert answer.status_code == 200, (letter, answer.text)
    alias = {"userId": "sdk-u2", "previousId": "sdk-u1", "messageId": "m-a"}
    assert (await http.post("/v1/a", json=alias, headers=basic(t.write_key))).status_code == 200
    stored = {e.message_id: e.type for e in await events_of(t)}
    assert {f"m-{k}": v["type"] for k, v in SHORT.items()}.items() <= stored.items()
    assert stored.get("m-a") == "alias"


@pytest.mark.parametrize("path", ["/v1/b", "/b"])
async def test_sdk_batch_paths(http, services, path):
    t = await new_tenant()
    batch = [
        {"type": "track", "event": "Batched", "userId": "b1", "messageId": f"{path}-1"},
        {"type": "identify", "userId": "b1", "traits": {"x": 1}, "messageId": f"{path}-2"},
    ]
    body = {"writeKey": t.write_key, "batch": batch, "sentAt": "2026-12-02T10:00:00.000Z"}
    answer = await http.post(path, content=json.dumps(body))
    assert answer.status_code == 200, answer.text
    assert {e.message_id for e in await events_of(t)} == {f"{path}-1", f"{path}-2"}


async def test_project_settings_point_the_sdk_at_reach(http, base_url, services):
    t = await new_tenant()
    answer = await http.get(f"/v1/projects/{t.write_key}/settings")
    assert answer.status_code == 200, answer.text
    segmentio = answer.json()["integrations"]["Segment.io"]
    host = base_url.removeprefix("http://")
    assert segmentio == {"apiKey": t.write_key, "apiHost": f"{host}/v1", "protocol": "http"}
    assert list(answer.json()["integrations"]) == ["Segment.io"]  # no other destinations
    assert answer.json()["metrics"]["sampleRate"] == 0


async def test_project_settings_refuse_unknown_revoked_and_secret_keys(api, http, services):
    t = await new_tenant()
    for key in ("rk_write_not-a-key", t.secret_key, "x"):
        answer = await http.get(f"/v1/projects/{key}/settings")
        assert answer.status_code == 404, key
        assert t.secret_key not in answer.text
    keys = await api.gql(t.secret_key, "{ apiKeys(kind: WRITE) { edges { node { id } } } }")
    write_id = keys["apiKeys"]["edges"][0]["node"]["id"]
    revoked = await api.gql(
        t.secret_key,
        "mutation($id: ID!) { revokeApiKey(id: $id) { userErrors { code } } }",
        {"id": write_id},
    )
    assert revoked["revokeApiKey"]["userErrors"] == []
    assert (await http.get(f"/v1/projects/{t.write_key}/settings")).status_code == 404


async def test_tracking_preflight_allows_any_site(http, services):
    answer = await http.options(
        "/v1/t",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "authorization" in answer.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in answer.headers


async def test_graphql_cors_answers_only_the_configured_origin(http, services):
    t = await new_tenant()
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = await http.options("/graphql", headers={"Origin": DASHBOARD_ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    refused = await http.options(
        "/graphql", headers={"Origin": "https://evil.example", **preflight}
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    query = {"query": "{ workspace { id } }"}
    auth = {"Authorization": f"Bearer {t.secret_key}"}
    ok = await http.post("/graphql", json=query, headers={**auth, "Origin": DASHBOARD_ORIGIN})
    assert ok.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    other = await http.post(
        "/graphql", json=query, headers={**auth, "Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers  # the browser hides the answer
    login = await http.options(
        "/auth/login", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in login.headers
