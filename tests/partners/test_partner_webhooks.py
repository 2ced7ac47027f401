"""Partner webhooks end to end: a local receiver gets Standard Webhooks-signed events,
survives an outage (retries driven by the dispatcher's `now`, never by sleeping), and the
delivery log shows every attempt. The receiver (tests/provider_server.py) verifies the
signature with its own code, written from the spec apart from resolvers/partners."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import httpx
from beanie import PydanticObjectId

from channels import transport
from documents.audit import AuditEntry
from documents.contact import Contact
from documents.partner_webhook import WebhookDelivery
from resolvers.events import store
from resolvers.partners import delivery as dispatcher
from tests.campaign_helpers import add_segment, call, create, definition
from tests.helpers import eventually, new_tenant, raw
from tests.query_plans import RECORDER
from tests.segments.test_segments import create_segment
from tests.tracking_helpers import basic

CREATE = """
mutation($url: String!, $types: [String!]!, $secret: String) {
  createWebhookEndpoint(url: $url, eventTypes: $types, secret: $secret) {
    endpoint { id url eventTypes status disabledReason }
    secret
    userErrors { field message code }
  }
}"""

DELIVERIES = """
query($id: ID!, $status: WebhookDeliveryStatus) {
  webhookDeliveries(endpointId: $id, status: $status, first: 50) {
    edges { node { id eventId type status payload attempts { statusCode error } } }
  }
}"""

ENDPOINTS = "{ webhookEndpoints { edges { node { id status disabledReason } } } }"
REPLAY = """mutation($id: ID!) { replayWebhookDelivery(id: $id) {
  delivery { id status } userErrors { field code } } }"""
DISABLE = """mutation($id: ID!) { disableWebhookEndpoint(id: $id) {
  endpoint { status } userErrors { field code } } }"""
ROTATE = """mutation($id: ID!) { rotateWebhookSecret(id: $id) {
  secret userErrors { code } } }"""


async def subscribe(api, tenant, server, types, name="default") -> dict:
    data = await api.gql(
        tenant.secret_key, CREATE, {"url": server.partner_url(name), "types": types}
    )
    payload = data["createWebhookEndpoint"]
    assert payload["userErrors"] == [], payload
    assert payload["secret"].startswith("whsec_")
    server.partner_secrets[name] = [payload["secret"]]
    return payload


async def identify(api, tenant, user_id: str, traits: dict) -> None:
    batch = [{"type": "identify", "userId": user_id, "traits": traits}]
    response = await api.http.post(
        "/v1/batch", json={"batch": batch}, headers=basic(tenant.write_key)
    )
    assert response.status_code == 200, response.text


async def log(api, tenant, endpoint_id: str, status: str | None = None) -> list[dict]:
    data = await api.gql(tenant.secret_key, DELIVERIES, {"id": endpoint_id, "status": status})
    return [e["node"] for e in data["webhookDeliveries"]["edges"]]


async def settled(api, tenant, endpoint_id: str, count: int) -> list[dict]:
    """The log once `count` deliveries exist and none is still untried (the first try may
    be the background sweep's or ours: the row's claim lets only one of them post)."""

    async def probe():
        await dispatcher.dispatch_due()
        rows = await log(api, tenant, endpoint_id)
        return rows if len(rows) == count and all(r["attempts"] for r in rows) else None

    return await eventually(probe)


async def test_partner_receives_signed_contact_and_segment_events(api, provider_server):
    t = await new_tenant()
    endpoint = (await subscribe(api, t, provider_server, ["contact.created", "segment.entered"]))[
        "endpoint"
    ]
    segment = await create_segment(api, t, "Pro", {"property": "plan", "op": "eq", "value": "pro"})
    await identify(api, t, "u1", {"plan": "pro", "email": "u1@example.com"})
    rows = await settled(api, t, endpoint["id"], 2)
    assert {r["type"] for r in rows} == {"contact.created", "segment.entered"}
    assert all(r["status"] == "SUCCEEDED" for r in rows)
    assert all(r["attempts"][0]["statusCode"] == 200 for r in rows)
    received = provider_server.of("partner")
    assert len(received) == 2 and all(r.signature_ok for r in received)
    by_type = {r.json["type"]: r for r in received}
    entered = by_type["segment.entered"]
    assert entered.json["data"]["segment_id"] == raw(segment["id"])  # webhooks: raw ids
    assert entered.headers["webhook-id"].startswith("msg_")
    assert {r.headers["webhook-id"] for r in received} == {r["eventId"] for r in rows}
    assert by_type["contact.created"].json["data"]["user_id"] == "u1"


async def test_outage_is_retried_with_backoff_and_recovery_delivers(api, provider_server):
    t = await new_tenant()
    subscribed = await subscribe(api, t, provider_server, ["contact.created"], name="outage")
    endpoint_id = subscribed["endpoint"]["id"]
    # Only this endpoint's requests fail: another test's late delivery cannot use them up.
    outage = httpx.URL(provider_server.partner_url("outage")).path
    provider_server.fail_next(3, 500, kind="partner", path=outage)
    await identify(api, t, "u-outage", {"plan": "free"})
    [row] = await settled(api, t, endpoint_id, 1)
    assert row["status"] == "PENDING" and row["attempts"][0]["statusCode"] == 500
    stored = await WebhookDelivery.get(PydanticObjectId(raw(row["id"])))
    first_retry = stored.next_attempt_at - stored.attempts[0]["at"]
    assert timedelta(seconds=5) <= first_retry <= timedelta(seconds=5.5)
    # Not yet due: a sweep just before the retry time sends nothing.
    before = stored.next_attempt_at - timedelta(seconds=1)
    await dispatcher.dispatch_due(before)
    assert len((await WebhookDelivery.get(stored.id)).attempts) == 1
    later = datetime.now(UTC) + timedelta(hours=1)
    for _ in range(3):  # two more 500s, then the receiver is back
        later += timedelta(hours=7)
        await dispatcher.dispatch_due(later)
    [row] = await log(api, t, endpoint_id)
    assert [a["statusCode"] for a in row["attempts"]] == [500, 500, 500, 200]
    assert row["status"] == "SUCCEEDED"
    ids = {
        r.headers["webhook-id"]
        for r in provider_server.of("partner")
        if httpx.URL(r.url).path == outage
    }
    assert ids == {row["eventId"]}  # every retry carries the same webhook-id
    assert row["attempts"][-1]["error"] is None


def test_backoff_grows_to_a_last_try():
    waits = [dispatcher.retry_delay(n) for n in range(1, len(dispatcher.BACKOFF) + 2)]
    assert waits[-1] is None  # 8 attempts in all
    assert all(a < b for a, b in itertools.pairwise(waits[:-1]))


async def test_connection_refused_is_logged_without_a_status_code(api, provider_server):
    t = await new_tenant()
    data = await api.gql(
        t.secret_key, CREATE, {"url": "http://127.0.0.1:9/hook", "types": ["contact.created"]}
    )
    endpoint_id = data["createWebhookEndpoint"]["endpoint"]["id"]
    await identify(api, t, "u-refused", {})
    [row] = await settled(api, t, endpoint_id, 1)
    assert row["attempts"][0] == {"statusCode": None, "error": "endpoint unreachable"}


async def test_repeated_failure_disables_the_endpoint_with_a_notice(api, provider_server):
    t = await new_tenant()
    endpoint_id = (await subscribe(api, t, provider_server, ["contact.created"]))["endpoint"]["id"]
    provider_server.fail_next(100, 503, kind="partner")
    for n in range(3):
        await identify(api, t, f"u-fail-{n}", {})
    await settled(api, t, endpoint_id, 3)
    later = datetime.now(UTC)
    while (await log(api, t, endpoint_id, "PENDING")) and later < datetime.now(UTC) + timedelta(
        days=30
    ):
        later += timedelta(hours=7)
        await dispatcher.dispatch_due(later)
    [endpoint] = [
        e["node"] for e in (await api.gql(t.secret_key, ENDPOINTS))["webhookEndpoints"]["edges"]
    ]
    assert endpoint["status"] == "DISABLED"
    assert "in a row failed" in endpoint["disabledReason"]
    attempts = sum(len(r["attempts"]) for r in await log(api, t, endpoint_id))
    assert attempts == dispatcher.FAILURE_STREAK
    assert {r["status"] for r in await log(api, t, endpoint_id)} == {"DEAD"}
    notice = await AuditEntry.find_one(
        {
            "workspace_id": PydanticObjectId(t.workspace_id),
            "action": "webhook_endpoint.auto_disabled",
        }
    )
    assert notice is not None and notice.target_id == raw(endpoint_id)


async def test_410_gone_disables_at_once(api, provider_server):
    t = await new_tenant()
    endpoint_id = (await subscribe(api, t, provider_server, ["contact.created"]))["endpoint"]["id"]
    provider_server.fail_next(1, 410, kind="partner")
    await identify(api, t, "u-gone", {})
    [row] = await settled(api, t, endpoint_id, 1)
    assert row["status"] == "DEAD"
    [edge] = (await api.gql(t.secret_key, ENDPOINTS))["webhookEndpoints"]["edges"]
    assert edge["node"]["status"] == "DISABLED" and "410" in edge["node"]["disabledReason"]


async def test_replay_sends_again_with_the_same_webhook_id(api, provider_server):
    t = await new_tenant()
    endpoint_id = (await subscribe(api, t, provider_server, ["contact.created"]))["endpoint"]["id"]
    await identify(api, t, "u-replay", {})
    [row] = await settled(api, t, endpoint_id, 1)
    data = await api.gql(t.secret_key, REPLAY, {"id": row["id"]})
    assert data["replayWebhookDelivery"]["userErrors"] == []

    async def twice():
        await dispatcher.dispatch_due()
        received = [
            r for r in provider_server.of("partner") if r.headers["webhook-id"] == row["eventId"]
        ]
        return received if len(received) == 2 else None

    received = await eventually(twice)
    assert received[0].headers["webhook-id"] == received[1].headers["webhook-id"]
    assert all(r.signature_ok for r in received)


async def test_rotation_signs_with_both_secrets_during_the_grace(api, provider_server):
    t = await new_tenant()
    payload = await subscribe(api, t, provider_server, ["contact.created"])
    old = payload["secret"]
    data = await api.gql(t.secret_key, ROTATE, {"id": payload["endpoint"]["id"]})
    new = data["rotateWebhookSecret"]["secret"]
    assert new.startswith("whsec_") and new != old
    for accepted in ([old], [new]):  # a receiver still on either secret verifies it
        provider_server.partner_secrets["default"] = accepted
        provider_server.requests.clear()
        user = f"u-rot-{accepted[0][-6:]}"
        await identify(api, t, user, {})

        async def one(user=user):
            await dispatcher.dispatch_due()
            return [r for r in provider_server.of("partner") if user_of(r) == user]

        [received] = await eventually(one)
        assert received.signature_ok
        assert len(received.headers["webhook-signature"].split()) == 2


def user_of(recorded) -> str | None:
    return ((recorded.json or {}).get("data") or {}).get("user_id")


async def test_workspaces_cannot_touch_each_others_webhooks(api, provider_server):
    a, b = await new_tenant("A"), await new_tenant("B")
    endpoint_id = (await subscribe(api, a, provider_server, ["contact.created"]))["endpoint"]["id"]
    await identify(api, a, "u-a", {})
    [row] = await settled(api, a, endpoint_id, 1)
    assert (await api.gql(b.secret_key, ENDPOINTS))["webhookEndpoints"]["edges"] == []
    errors = await api.raw(b.secret_key, DELIVERIES, {"id": endpoint_id})
    assert errors.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    replay = await api.gql(b.secret_key, REPLAY, {"id": row["id"]})
    assert replay["replayWebhookDelivery"]["userErrors"][0]["code"] == "NOT_FOUND"
    disable = await api.gql(b.secret_key, DISABLE, {"id": endpoint_id})
    assert disable["disableWebhookEndpoint"]["userErrors"][0]["code"] == "NOT_FOUND"
    [edge] = (await api.gql(a.secret_key, ENDPOINTS))["webhookEndpoints"]["edges"]
    assert edge["node"]["status"] == "ACTIVE"
    # B's events never reach A's endpoint.
    await identify(api, b, "u-b", {})
    assert len(await settled(api, a, endpoint_id, 1)) == 1


async def test_bad_input_gets_user_errors(api, monkeypatch):
    t = await new_tenant()
    cases = [
        ({"url": "ftp://example.com/x", "types": ["contact.created"]}, "url"),
        ({"url": "https://example.com/x", "types": ["contact.exploded"]}, "eventTypes"),
        ({"url": "https://example.com/x", "types": []}, "eventTypes"),
        ({"url": "https://example.com/x", "types": ["contact.created"], "secret": "x"}, "secret"),
    ]
    for variables, field in cases:
        data = await api.gql(t.secret_key, CREATE, variables)
        payload = data["createWebhookEndpoint"]
        assert payload["endpoint"] is None
        assert [e["field"] for e in payload["userErrors"]] == [field], payload
    monkeypatch.setattr(transport, "allow_private_hosts", False)  # as in production
    data = await api.gql(
        t.secret_key, CREATE, {"url": "http://127.0.0.1:8080/x", "types": ["contact.created"]}
    )
    assert (
        data["createWebhookEndpoint"]["userErrors"][0]["message"] == "url must name a public host"
    )


async def test_emitting_costs_one_read_when_no_endpoint_subscribes(api):
    t = await new_tenant()
    with RECORDER.recording() as commands:
        await identify(api, t, "u-quiet", {})
    partner = [c for c in commands if c.collection.startswith("webhook_")]
    assert [c.name for c in partner] == ["find"]


LATER = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S+00:00")


async def queued_types(tenant) -> list[str]:
    rows = await WebhookDelivery.find(
        {"workspace_id": PydanticObjectId(tenant.workspace_id)}
    ).to_list()
    return sorted(r.type for r in rows)


async def test_merges_engagement_and_campaign_status_are_emitted(api, provider_server):
    t = await new_tenant()
    await subscribe(
        api,
        t,
        provider_server,
        ["contact.merged", "message.opened", "campaign.status_changed"],
    )
    # Two contacts, then one message naming both: a merge.
    await identify(api, t, "m1", {})
    batch = [{"type": "identify", "anonymousId": "anon-m2", "traits": {"email": "m2@example.com"}}]
    response = await api.http.post("/v1/batch", json={"batch": batch}, headers=basic(t.write_key))
    assert response.status_code == 200, response.text
    await identify(api, t, "m1", {"email": "m2@example.com"})
    assert await queued_types(t) == ["contact.merged"]
    [contact] = await Contact.find({"workspace_id": PydanticObjectId(t.workspace_id)}).to_list()
    workspace = PydanticObjectId(t.workspace_id)
    for _ in range(2):  # a provider's retry is the same engagement: one delivery
        await store.record_engagement(
            workspace, contact.id, "opened", "email", message_id="opened:m-1"
        )
    segment = await add_segment(api, t, "All", {"property": "plan", "op": "eq", "value": "x"})
    draft = await create(api, t.secret_key, definition([segment], schedule={"sendAt": LATER}))
    assert (await call(api, t.secret_key, "scheduleCampaign", draft["id"]))["userErrors"] == []
    assert (await call(api, t.secret_key, "pauseCampaign", draft["id"]))["userErrors"] == []
    assert await queued_types(t) == [
        "campaign.status_changed",
        "campaign.status_changed",
        "contact.merged",
        "message.opened",
    ]
    statuses = [
        r.payload["data"]["status"]
        for r in await WebhookDelivery.find(
            {"workspace_id": workspace, "type": "campaign.status_changed"}
        ).to_list()
    ]
    assert sorted(statuses) == ["paused", "scheduled"]
