"""The Segment-compatible tracking API: auth, limits, partial batches, dedupe."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.messages import MAX_BATCH_MESSAGES
from engine.payload_limits import IN_CHUNK
from tests.helpers import new_tenant
from tests.query_plans import RECORDER, TEST_CODE
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


# Values no store keeps faithfully, each as the raw JSON of one message (json.dumps cannot
# write most of them): numbers, text, keys, nesting and dates.
POISON = {
    "nan": b'"properties": {"x": NaN}',
    "infinity": b'"properties": {"x": -Infinity}',
    "1e400": b'"properties": {"x": 1e400}',
    "int64_overflow": b'"properties": {"x": 9223372036854775808}',
    "huge_int": b'"properties": {"x": ' + b"9" * 5000 + b"}",
    "lone_surrogate": b'"properties": {"x": "\\ud800"}',
    "surrogate_key": b'"properties": {"\\udfff": 1}',
    "nul_in_key": b'"properties": {"a\\u0000b": 1}',
    "dollar_key": b'"properties": {"$where": 1}',
    "dotted_key": b'"context": {"a.b": 1}',
    "deep_600": b'"properties": ' + b'{"a": ' * 600 + b"1" + b"}" * 600,
    "trait_nan": b'"traits": {"score": NaN}',
    "skew_overflow": b'"timestamp": "9999-12-30T00:00:00Z", "sentAt": "1971-01-01T00:00:00Z"',
    "year_1": b'"timestamp": "0001-01-01T00:00:00Z"',
}


def _poison_message(name: str) -> bytes:
    return (
        b'{"type": "track", "userId": "poison", "event": "e", "messageId": "bad", %s}'
        % (POISON[name])
    )


async def _stored_matches_aggregates(t) -> None:
    """Every contact's aggregate counts exactly the events stored for it."""
    events = await events_of(t)
    for contact in await contacts_of(t):
        mine = [e for e in events if e.contact_id == contact.id and e.event == "e"]
        assert (contact.event_stats or {}).get("e", {}).get("count", 0) == len(mine)


@pytest.mark.parametrize("name", sorted(POISON))
async def test_a_poison_message_is_rejected_by_index_and_the_rest_stored(api, services, name):
    t = await new_tenant()
    headers = {**basic(t.write_key), "content-type": "application/json"}
    good = [
        json.dumps({"type": "track", "userId": f"u{i}", "event": "e", "messageId": f"m{i}"})
        for i in range(5)
    ]
    body = b'{"batch": [%s, %s]}' % (",".join(good[:3]).encode(), _poison_message(name))
    body = body[:-2] + b", " + ",".join(good[3:]).encode() + b"]}"
    response = await api.http.post("/v1/batch", content=body, headers=headers)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["accepted"], report["duplicates"]) == (5, 0)
    [problem] = report["rejected"]
    assert problem["index"] == 3 and problem["reason"], problem
    assert sorted(e.message_id for e in await events_of(t)) == [f"m{i}" for i in range(5)]
    assert sorted(c.user_id for c in await contacts_of(t)) == [f"u{i}" for i in range(5)]
    await _stored_matches_aggregates(t)

    # Alone, it is a 400 with the reason, and nothing is written (no contact without event).
    alone = await api.http.post("/v1/track", content=_poison_message(name), headers=headers)
    assert alone.status_code == 400, alone.text
    assert alone.json()["error"]
    assert "poison" not in {c.user_id for c in await contacts_of(t)}
    # A retry of the valid messages is a duplicate of what is stored, totals unchanged.
    again = await api.http.post("/v1/batch", content=body, headers=headers)
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 5)
    await _stored_matches_aggregates(t)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from(sorted(POISON)), st.integers(0, 3)),
        min_size=1,
        max_size=8,
    )
)
async def test_random_batches_never_answer_5xx_and_store_every_valid_message(api, services, plan):
    """Random batches mixing valid messages (some repeating a user) with poison ones."""
    t = await new_tenant()
    parts, valid = [], set()
    for index, (ok, poison, user) in enumerate(plan):
        if ok:
            message = {
                "type": "track",
                "userId": f"u{user}",
                "event": "e",
                "messageId": f"m{index}",
            }
            parts.append(json.dumps(message).encode())
            valid.add(f"m{index}")
        else:
            parts.append(_poison_message(poison).replace(b'"bad"', b'"b%d"' % index))
    body = b'{"batch": [' + b",".join(parts) + b"]}"
    headers = {**basic(t.write_key), "content-type": "application/json"}
    response = await api.http.post("/v1/batch", content=body, headers=headers)
    assert response.status_code < 500, response.text
    report = response.json()
    assert report["accepted"] == len(valid)
    assert len(report["rejected"]) == len(plan) - len(valid)
    assert {e.message_id for e in await events_of(t)} == valid
    await _stored_matches_aggregates(t)


async def test_a_batch_of_2500_distinct_users_is_stored_with_bounded_queries(api, services):
    t = await new_tenant()
    batch = [{"type": "track", "userId": f"{i}", "event": "e"} for i in range(MAX_BATCH_MESSAGES)]
    with RECORDER.recording() as captured:
        response = await api.http.post(
            "/v1/batch", json={"batch": batch}, headers=basic(t.write_key)
        )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == MAX_BATCH_MESSAGES
    assert len(await contacts_of(t)) == MAX_BATCH_MESSAGES

    def in_sizes(value):  # every $in list anywhere in a filter
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "$in":
                    yield len(child)
                yield from in_sizes(child)
        elif isinstance(value, list):
            for child in value:
                yield from in_sizes(child)

    sizes = [n for c in captured if c.where != TEST_CODE for n in in_sizes(c.filter)]
    assert sizes and max(sizes) <= IN_CHUNK
    reads = [c for c in captured if c.name == "find" and c.where.startswith("events/")]
    assert len(reads) <= -(-4 * MAX_BATCH_MESSAGES // IN_CHUNK)  # round trips stay bounded


async def test_track_events_over_the_batch_limit_is_a_clear_user_error(api, services):
    t = await new_tenant()
    events = [{"type": "TRACK", "userId": f"{i}", "event": "e"} for i in range(3000)]
    data = await api.gql(
        t.secret_key,
        "mutation($e: [EventInput!]!) { trackEvents(events: $e) { accepted userErrors { message field } } }",
        {"e": events},
    )
    [error] = data["trackEvents"]["userErrors"]
    assert str(MAX_BATCH_MESSAGES) in error["message"] and error["field"] == "events"
    assert await events_of(t) == []
