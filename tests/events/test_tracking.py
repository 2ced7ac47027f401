"""The Segment-compatible tracking API: auth, limits, partial batches, dedupe."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

from tests.helpers import new_tenant
from tests.tracking_helpers import basic, contacts_of, events_of


async def test_write_key_by_basic_auth_body_or_secret_key(api, services):
    t = await new_tenant()
    track = {"userId": "u1", "event": "signed_up"}
    assert (
        await api.http.post("/v1/track", json=track, headers=basic(t.write_key))
    ).status_code == 200
    body = {**track, "writeKey": t.write_key}
    assert (await api.http.post("/v1/track", json=body)).status_code == 200
    bearer = {"Authorization": f"Bearer {t.secret_key}"}
    assert (await api.http.post("/v1/track", json=track, headers=bearer)).status_code == 200
    assert (
        await api.http.post("/v1/track", json=track, headers=basic(t.secret_key))
    ).status_code == 200
    assert len(await events_of(t)) == 4
    assert len(await contacts_of(t)) == 1


async def test_bad_credentials_are_refused_and_store_nothing(api, services):
    t = await new_tenant()
    token = await api.login(t.owner_email, t.owner_password)
    track = {"userId": "u1", "event": "x"}
    cases = [
        ({}, 401),
        (basic("rk_write_nope"), 401),
        ({"Authorization": "Basic !!notbase64"}, 401),
        ({"Authorization": f"Bearer {token}"}, 401),  # sessions are for the dashboard
        ({"Authorization": "Digest x"}, 401),
    ]
    for headers, status in cases:
        response = await api.http.post("/v1/track", json=track, headers=headers)
        assert response.status_code == status, headers
        assert response.json()["success"] is False and response.json()["error"]
    reader = await api.gql(
        t.secret_key, 'mutation { issueApiKey(input: {name: "r", scopes: ["read"]}) { key } }'
    )
    response = await api.http.post(
        "/v1/track", json=track, headers=basic(reader["issueApiKey"]["key"])
    )
    assert response.status_code == 403
    assert await events_of(t) == []


async def test_malformed_bodies_get_400_with_the_reason(api, services):
    t = await new_tenant()
    headers = {**basic(t.write_key), "content-type": "application/json"}
    for raw, needle in (
        (b"{not json", "Malformed JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"event": "x"}', "userId or anonymousId"),
        (b'{"userId": "u"}', "event name"),
        (b'{"userId": {"$gt": ""}, "event": "x"}', "userId: key '$gt' is not allowed"),
        (b'{"userId": "u", "event": "x", "properties": [1]}', "properties must be an object"),
        (b'{"userId": "u", "event": "x", "timestamp": "yesterday"}', "timestamp"),
        (b'{"userId": "u", "event": "x", "type": "identify"}', "type must be 'track'"),
    ):
        response = await api.http.post("/v1/track", content=raw, headers=headers)
        assert response.status_code == 400, raw
        assert needle in (response.json().get("error") or ""), response.json()
    assert await events_of(t) == []


async def test_partial_batch_stores_valid_messages_and_reports_the_rest(api, services):
    t = await new_tenant()
    batch = [
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"email": "u1@example.com"},
            "messageId": "m1",
        },
        {"type": "track", "event": "x", "messageId": "m2"},  # nobody
        "not an object",
        {"type": "track", "userId": "u1", "event": "viewed", "messageId": "m3"},
        {"type": "launch", "userId": "u1", "messageId": "m4"},
        {"type": "track", "userId": "u1", "event": "big", "properties": {"x": "y" * 40_000}},
    ]
    response = await api.http.post("/v1/batch", json={"batch": batch}, headers=basic(t.write_key))
    assert response.status_code == 200
    report = response.json()
    assert report["accepted"] == 2
    assert [(r["index"], r["messageId"]) for r in report["rejected"]] == [
        (1, "m2"),
        (2, None),
        (4, "m4"),
        (5, None),
    ]
    assert "32 KB" in report["rejected"][3]["reason"]
    assert sorted(e.message_id for e in await events_of(t)) == ["m1", "m3"]

    only_bad = await api.http.post(
        "/v1/batch", json={"batch": [{"type": "nope"}]}, headers=basic(t.write_key)
    )
    assert only_bad.status_code == 400 and only_bad.json()["rejected"][0]["field"] == "type"


async def test_batch_limits(api, services):
    t = await new_tenant()
    too_many = [{"type": "track", "userId": "u", "event": "e"}] * 2501
    response = await api.http.post(
        "/v1/batch", json={"batch": too_many}, headers=basic(t.write_key)
    )
    assert response.status_code == 400 and "2500" in response.json()["error"]
    big = [{"type": "track", "userId": "u", "event": "e", "properties": {"p": "x" * 30_000}}] * 18
    response = await api.http.post("/v1/batch", json={"batch": big}, headers=basic(t.write_key))
    assert response.status_code == 413
    response = await api.http.post("/v1/batch", json={"nobatch": []}, headers=basic(t.write_key))
    assert response.status_code == 400 and "batch" in response.json()["error"]
    assert await events_of(t) == []


async def test_retried_batch_stores_nothing_twice(api, services):
    t = await new_tenant()
    batch = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "order_completed", "messageId": f"o{i}"}
            for i in range(5)
        ]
        + [{"type": "track", "userId": "u1", "event": "order_completed", "messageId": "o1"}]
    }
    first = (await api.http.post("/v1/batch", json=batch, headers=basic(t.write_key))).json()
    assert (first["accepted"], first["duplicates"]) == (5, 1)
    again = (await api.http.post("/v1/batch", json=batch, headers=basic(t.write_key))).json()
    assert (again["accepted"], again["duplicates"]) == (0, 6)
    assert len(await events_of(t)) == 5
    [contact] = await contacts_of(t)
    assert contact.event_stats["order_completed"]["count"] == 5  # aggregates not double counted


async def test_gzip_batches_context_and_clock_skew(api, services):
    t = await new_tenant()
    now = datetime.now(UTC)
    client_clock = now - timedelta(hours=2)  # a device two hours behind
    batch = {
        "batch": [
            {
                "type": "track",
                "userId": "u1",
                "event": "opened_app",
                "timestamp": (client_clock - timedelta(minutes=10)).isoformat(),
                "sentAt": client_clock.isoformat(),
                "context": {"app": {"name": "ios"}},
            }
        ],
        "context": {"library": {"name": "analytics-ios"}},
    }
    body = gzip.compress(json.dumps(batch).encode())
    headers = {**basic(t.write_key), "content-encoding": "gzip", "content-type": "application/json"}
    response = await api.http.post("/v1/batch", content=body, headers=headers)
    assert response.status_code == 200, response.text
    [event] = await events_of(t)
    assert event.context == {"library": {"name": "analytics-ios"}, "app": {"name": "ios"}}
    # Corrected by the skew between server and client clocks: about ten minutes ago.
    assert abs((event.timestamp - (now - timedelta(minutes=10))).total_seconds()) < 30
    future = {"userId": "u1", "event": "x", "timestamp": (now + timedelta(days=3)).isoformat()}
    await api.http.post("/v1/track", json=future, headers=basic(t.write_key))
    latest = max(await events_of(t), key=lambda e: e.received_at)
    assert latest.timestamp <= latest.received_at
    bomb = gzip.compress(b" " * 5_000_000)
    response = await api.http.post("/v1/batch", content=bomb, headers=headers)
    assert response.status_code == 413


async def test_events_never_leak_between_workspaces(api, services):
    a, b = await new_tenant("A"), await new_tenant("B")
    same = {"userId": "shared-user", "event": "x", "traits": {}, "messageId": "same-id"}
    await api.http.post("/v1/track", json=same, headers=basic(a.write_key))
    await api.http.post("/v1/track", json=same, headers=basic(b.write_key))
    # The same message id in two workspaces is two events; the same user id two contacts.
    assert len(await events_of(a)) == 1 and len(await events_of(b)) == 1
    [ca], [cb] = await contacts_of(a), await contacts_of(b)
    assert ca.id != cb.id
    query = "query($id: ID!) { contact(id: $id) { id events { totalCount } } }"
    assert (await api.gql(a.secret_key, query, {"id": str(cb.id)}))["contact"] is None
    data = await api.gql(a.secret_key, "{ contacts { totalCount edges { node { id } } } }")
    assert data["contacts"]["totalCount"] == 1 and str(cb.id) not in str(data)


async def test_ingest_outcomes_are_counted_in_metrics(api, services):
    t = await new_tenant()
    batch = {"batch": [{"type": "track", "userId": "m", "event": "x", "messageId": "k"}] * 2 + [{}]}
    await api.http.post("/v1/batch", json=batch, headers=basic(t.write_key))
    text = (await api.http.get("/metrics")).text
    for outcome in ("accepted", "duplicate", "rejected"):
        assert f'reach_ingested_events_total{{outcome="{outcome}"}}' in text


async def test_batch_level_sent_at_corrects_skew_and_errors_carry_a_message(api, services):
    t = await new_tenant()
    now = datetime.now(UTC)
    client_clock = now - timedelta(hours=1)
    batch = {
        "batch": [
            {
                "type": "track",
                "userId": "u",
                "event": "x",
                "timestamp": (client_clock - timedelta(minutes=5)).isoformat(),
            },
            {"type": "page", "userId": "u", "name": "Docs", "category": "Help"},
        ],
        "sentAt": client_clock.isoformat(),
    }
    assert (
        await api.http.post("/v1/batch", json=batch, headers=basic(t.write_key))
    ).status_code == 200
    events = {e.type: e for e in await events_of(t)}
    assert abs((events["track"].timestamp - (now - timedelta(minutes=5))).total_seconds()) < 30
    assert events["page"].properties == {"category": "Help"}
    response = await api.http.post("/v1/track", json={"event": "x"}, headers=basic(t.write_key))
    assert response.status_code == 400 and response.json()["message"]
    response = await api.http.post("/v1/track", json={"event": "x"}, headers=basic("rk_write_no"))
    assert response.status_code == 401 and response.json()["message"]
