"""Every hot query is served by an index (DESIGN.md, "Query plans").

Two workspaces are seeded through the tracking API; each test then drives one family of
hot paths through the code that really issues it (HTTP, GraphQL, the worker, the
sweeps), captures the commands with PyMongo's command monitoring and checks every filter
against the indexes the documents declare (tests/query_plans.py). The last tests show
the check is not vacuous: without the index it relies on, or with a filter wrapped in
`$and`, the same captured commands fail.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from beanie import PydanticObjectId

from documents.campaign import Campaign
from documents.contact import Contact
from documents.journey import Enrollment
from documents.message import OutboundMessage
from resolvers.campaigns import analytics
from resolvers.core.context import RequestContext
from resolvers.journeys import analytics as journey_analytics
from resolvers.journeys import define, lifecycle, wakeups
from resolvers.journeys import enroll as journey_enroll
from resolvers.messaging import dispatch, queue
from resolvers.partners import delivery as partner_delivery
from resolvers.segments import recompute
from tests.campaign_helpers import add_segment, create, definition, until_status
from tests.helpers import eventually, full_access, new_tenant, raw
from tests.query_plans import RECORDER, Index, declared_indexes, problem, violations
from tests.tracking_helpers import basic

CONTACTS = {"a": 240, "b": 60}
EMAIL = {"email": {"subject": "Hi {{ contact.first_name | default('there') }}", "text": "Hi"}}


def _identify(n: int, tag: str) -> dict:
    return {
        "type": "identify",
        "userId": f"{tag}-user-{n}",
        "messageId": uuid.uuid4().hex,
        "traits": {
            "email": f"{tag}-{n}@example.com",
            "first_name": f"P{n}",
            "plan": "pro" if n % 3 == 0 else "free",
        },
    }


def _track(n: int, tag: str, event: str, **properties) -> dict:
    return {
        "type": "track",
        "userId": f"{tag}-user-{n}",
        "messageId": uuid.uuid4().hex,
        "event": event,
        "properties": properties,
    }


async def _batch(api, tenant, batch: list[dict]) -> None:
    for start in range(0, len(batch), 100):
        response = await api.http.post(
            "/v1/batch", json={"batch": batch[start : start + 100]}, headers=basic(tenant.write_key)
        )
        assert response.status_code == 200, response.text


def _ctx(tenant) -> RequestContext:
    return full_access(tenant, "plans")


@pytest.fixture(scope="module")
async def seeded(services, base_url):
    """Two workspaces with contacts, events, segments and a live journey each."""
    import httpx

    from tests.helpers import Client

    tenants = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        api = Client(http)
        for tag, size in CONTACTS.items():
            tenant = await new_tenant(f"Plans {tag}")
            batch = [_identify(n, tag) for n in range(size)]
            batch += [_track(n, tag, "viewed_item", sku=f"s{n % 7}") for n in range(size)]
            await _batch(api, tenant, batch)
            pro = await add_segment(
                api, tenant, "Pro", {"property": "plan", "op": "eq", "value": "pro"}
            )
            await add_segment(api, tenant, "Viewed", {"event": "viewed_item", "within_days": 30})
            nodes = [
                {
                    "id": "t",
                    "type": "trigger",
                    "settings": {"kind": "event", "event": "cart_abandoned"},
                },
                {
                    "id": "w",
                    "type": "wait",
                    "settings": {
                        "kind": "event",
                        "event": "order_completed",
                        "timeout_seconds": 3600,
                    },
                },
                {"id": "s", "type": "send", "settings": {"channels": ["email"], "content": EMAIL}},
                {"id": "x", "type": "exit", "settings": {}},
                {"id": "g", "type": "exit", "settings": {}},
            ]
            edges = [
                {"from": "t", "to": "w", "label": "next"},
                {"from": "w", "to": "g", "label": "next"},
                {"from": "w", "to": "s", "label": "timeout"},
                {"from": "s", "to": "x", "label": "next"},
            ]
            ctx = _ctx(tenant)
            journey, problems = await define.create_journey(
                ctx,
                {
                    "name": "Cart",
                    "nodes": nodes,
                    "edges": edges,
                    "settings": {"goal": {"event": "order_completed"}, "exit_event": "refund"},
                },
            )
            assert problems == [], problems
            journey = await lifecycle.publish_journey(ctx, str(journey.id))
            tenants[tag] = (tenant, pro, journey)
    return tenants


def _check(captured) -> None:
    found = violations(captured)
    assert found == [], "filters no index serves:\n" + "\n".join(found)


async def test_ingest_identity_dedupe_aggregates_listeners_and_segments(api, seeded):
    tenant, _, journey = seeded["a"]
    size = CONTACTS["a"]
    batch = [_identify(n, "a") for n in range(0, size, 4)]  # known contacts
    batch += [_identify(n, "a") for n in range(size, size + 20)]  # new ones
    batch += [_track(n, "a", "cart_abandoned", value=n) for n in range(0, 40)]
    batch.append({**batch[0]})  # a duplicate messageId: event dedupe
    batch.append(
        {"type": "alias", "userId": "a-user-1", "previousId": "a-user-2", "messageId": "al-1"}
    )
    with RECORDER.recording() as captured:
        await _batch(api, tenant, batch)

        async def enrolled():  # the worker's reaction: listeners, journey entry
            count = await Enrollment.find(
                {"workspace_id": journey.workspace_id, "journey_id": journey.id}
            ).count()
            return count >= 39 or None

        await eventually(enrolled, timeout=60)
    _check(captured)
    assert any(c.collection == "contacts" and "identity_keys" in c.filter for c in captured)


async def test_segment_evaluation_and_time_window_refresh(api, seeded):
    tenant, _, _ = seeded["a"]
    with RECORDER.recording() as captured:
        await add_segment(api, tenant, "Free", {"property": "plan", "op": "eq", "value": "free"})
        await recompute.refresh_time_windows(PydanticObjectId(tenant.workspace_id))
        await recompute.refresh_time_windows()
        preview = await api.gql(
            tenant.secret_key,
            "query($r: JSON!) { previewSegment(rules: $r, sampleSize: 3) { count } }",
            {"r": {"tag": "nobody"}},
        )
    assert preview["previewSegment"]["count"] == 0
    _check(captured)


async def test_campaign_audience_send_claims_dispatch_and_attribution(api, seeded):
    tenant, pro, _ = seeded["a"]
    conversion = {"event": "order_completed", "windowHours": 24}
    with RECORDER.recording() as captured:
        campaign = await create(
            api,
            tenant.secret_key,
            definition([pro], channels=["email"], conversionGoal=conversion, name="Pro news"),
        )
        scheduled = await api.gql(
            tenant.secret_key,
            "mutation($id: ID!) { scheduleCampaign(id: $id) { userErrors { code } } }",
            {"id": campaign["id"]},
        )
        assert scheduled["scheduleCampaign"]["userErrors"] == []
        await until_status(tenant, campaign["id"], "completed")
        await dispatch.dispatch_due()
        await wakeups.run_wakeups(datetime.now(UTC), inline=True)
        # A conversion after the send is attributed to it.
        await _batch(api, tenant, [_track(0, "a", "order_completed", revenue=12.5)])

        async def attributed():
            row = await OutboundMessage.find_one(
                {
                    "workspace_id": PydanticObjectId(tenant.workspace_id),
                    "source_id": raw(campaign["id"]),
                    "converted_at": {"$ne": None},
                }
            )
            return row

        await eventually(attributed, timeout=60)
        stored = await Campaign.get(PydanticObjectId(raw(campaign["id"])))
        await analytics.analytics(stored)
        await analytics.analytics(stored, run=1)
    _check(captured)
    assert any(c.name == "update" and c.collection == "outbound_messages" for c in captured)


async def test_pause_hold_and_paged_release_of_a_campaign(api, seeded):
    """hold, release's two sweeps (later rows, then due rows a page at a time) and the
    delivery batches release enqueues."""
    tenant, _, _ = seeded["a"]
    wid = PydanticObjectId(tenant.workspace_id)
    contacts = (
        await Contact.get_pymongo_collection()
        .find({"workspace_id": wid}, {"_id": 1})
        .limit(60)
        .to_list(None)
    )
    source = f"plans-{uuid.uuid4().hex[:6]}"
    later = datetime.now(UTC) + timedelta(days=1)
    requests = [
        queue.SendRequest(
            workspace_id=wid,
            contact_id=c["_id"],
            source="campaign",
            source_id=source,
            idempotency_key=f"{source}:{c['_id']}",
            channels=["email"],
            content=EMAIL,
            not_before=later,
        )
        for c in contacts
    ]
    await queue.queue(requests)
    with RECORDER.recording() as captured:
        assert await queue.hold(wid, source) == len(contacts)
        released = await queue.release(wid, source, now=later + timedelta(hours=1))
        assert released == len(contacts)

        async def delivered():
            rows = await OutboundMessage.find({"workspace_id": wid, "source_id": source}).to_list()
            return all(r.status == "sent" for r in rows) or None

        await eventually(delivered, timeout=60)
    _check(captured)
    assert any(c.name == "update" and c.collection == "outbound_messages" for c in captured)


async def test_journey_transitions_goals_exits_and_wakeups(api, seeded):
    tenant, _, journey = seeded["b"]
    with RECORDER.recording() as captured:
        await _batch(api, tenant, [_track(n, "b", "cart_abandoned") for n in range(30)])

        async def entered():
            count = await Enrollment.find(
                {"workspace_id": journey.workspace_id, "journey_id": journey.id}
            ).count()
            return count >= 30 or None

        await eventually(entered, timeout=60)
        goals = [_track(n, "b", "order_completed", revenue=5) for n in range(10)]
        exits = [_track(n, "b", "refund") for n in range(10, 20)]
        await _batch(api, tenant, goals + exits)

        async def moved():
            runs = await Enrollment.find(
                {"workspace_id": journey.workspace_id, "journey_id": journey.id}
            ).to_list()
            return sum(r.status == "exited" for r in runs) >= 20 or None

        await eventually(moved, timeout=60)
        # The rest time out an hour later and are sent the reminder.
        await wakeups.run_wakeups(datetime.now(UTC) + timedelta(hours=2), inline=True)
        await journey_analytics.analytics(journey.workspace_id, journey.id)
    _check(captured)


async def test_journey_bulk_enrolment_page_steps_and_hand_out(api, seeded):
    _, _, journey = seeded["b"]
    wid = journey.workspace_id
    people = await Contact.find(
        {"workspace_id": wid, "user_id": {"$in": [f"b-user-{n}" for n in range(40, 60)]}}
    ).to_list()
    entries = [journey_enroll.Entry(p.id, {"name": "api"}) for p in people]
    scope = {
        "workspace_id": wid,
        "journey_id": journey.id,
        "contact_id": {"$in": [p.id for p in people]},
    }
    with RECORDER.recording() as captured:
        started = await journey_enroll.enroll_many(wid, journey, entries)
        assert len(started) == len(people) == 20

        async def parked():
            runs = await Enrollment.find(scope).to_list()
            return all(r.status == "waiting" for r in runs) or None

        await eventually(parked, timeout=60)
        # The sweep hands the runs to page messages (not inline); the worker, on the real
        # clock, finds their waits not over and puts their wake-up back.
        before = {r.id: r.handed for r in await Enrollment.find(scope).to_list()}
        await wakeups.run_wakeups(datetime.now(UTC) + timedelta(hours=2))

        async def looked_at():
            runs = await Enrollment.find(scope).to_list()
            moved = all(r.handed != before[r.id] and r.due_at == r.wake_at for r in runs)
            return moved or None

        await eventually(looked_at, timeout=60)
    _check(captured)


async def test_reads_contacts_activity_message_log_and_cursors(api, seeded):
    tenant, pro, _ = seeded["a"]
    page = "pageInfo { endCursor hasNextPage }"
    queries = [
        "{ contacts(first: 5) { edges { node { id } } %s } }",
        "{ contacts(first: 5, orderBy: OLDEST) { edges { node { id } } %s } }",
        "{ contacts(first: 5, orderBy: RECENTLY_ACTIVE) { edges { node { id } } %s } }",
        '{ contacts(first: 5, tag: "none") { edges { node { id } } %s } }',
        '{ contacts(first: 5, segmentId: "%s") { edges { node { id } } %%s } }' % pro,
        "{ messages(first: 5) { edges { node { id } } %s } }",
    ]
    with RECORDER.recording() as captured:
        for text in queries:
            first = await api.gql(tenant.secret_key, text % page)
            name = next(iter(first))
            cursor = first[name]["pageInfo"]["endCursor"]
            if cursor:
                paged = text.replace("first: 5", f'first: 5, after: "{cursor}"') % page
                await api.gql(tenant.secret_key, paged)
        one = await api.gql(tenant.secret_key, "{ contacts(first: 1) { edges { node { id } } } }")
        contact_id = one["contacts"]["edges"][0]["node"]["id"]
        activity = (
            "query($id: ID!) { contact(id: $id) { events(first: 2) { edges { node { id } } %s } } }"
            % page
        )
        await api.gql(tenant.secret_key, activity, {"id": contact_id})
        for text in (
            "query($id: ID!) { messages(first: 5, contactId: $id) { edges { node { id } } } }",
            "query($id: ID!) { contactInbox(contactId: $id) { edges { node { id } } } }",
            "query($id: ID!) { contactInbox(contactId: $id, unreadOnly: true) { totalCount } }",
            '{ contacts(first: 5, search: "a-1") { edges { node { id } } totalCount } }',
        ):
            data = await api.gql(tenant.secret_key, text, {"id": contact_id})
            assert data, text
    _check(captured)


async def test_partner_webhook_emit_dispatch_and_delivery_log(api, provider_server):
    tenant = await new_tenant()
    created = await api.gql(
        tenant.secret_key,
        """mutation($url: String!) { createWebhookEndpoint(url: $url,
             eventTypes: ["contact.created"]) { endpoint { id } } }""",
        {"url": provider_server.partner_url()},
    )
    endpoint_id = created["createWebhookEndpoint"]["endpoint"]["id"]
    log = """query($id: ID!, $status: WebhookDeliveryStatus) { webhookDeliveries(endpointId: $id,
        status: $status, first: 5) { edges { node { id } } } }"""
    with RECORDER.recording() as captured:
        await _batch(api, tenant, [_identify(n, "hooks") for n in range(3)])
        await partner_delivery.dispatch_due(datetime.now(UTC) + timedelta(minutes=5))
        await api.gql(tenant.secret_key, log, {"id": endpoint_id})
        await api.gql(tenant.secret_key, log, {"id": endpoint_id, "status": "SUCCEEDED"})
    assert any(c.collection == "webhook_deliveries" and c.name == "find" for c in captured)
    _check(captured)


# --- the check fails where it should ---------------------------------------------------------


async def test_the_check_fails_without_the_index_or_with_a_wrapped_filter(api, seeded):
    tenant, _, _ = seeded["b"]
    with RECORDER.recording() as captured:
        await _batch(api, tenant, [_identify(n, "b") for n in range(0, 60, 6)])
    lookups = [c for c in captured if c.collection == "contacts" and "identity_keys" in c.filter]
    assert lookups, "the batch looked its contacts up by identity key"
    indexes = declared_indexes()["contacts"]
    assert all(problem(c.filter, indexes, c.sort) is None for c in lookups)
    # Without the identity index the lookup is a workspace scan:
    without = [i for i in indexes if "identity_keys" not in i.fields]
    assert all(problem(c.filter, without, c.sort) for c in lookups)
    # and the same filter wrapped in $and is a full scan on SecantusDB:
    for command in lookups:
        wrapped = {"$and": [copy.deepcopy(command.filter)]}
        assert "top-level $and" in problem(wrapped, indexes)
    assert violations([*lookups]) == []
    broken = copy.copy(lookups[0])
    broken.filter = {"$and": [lookups[0].filter]}
    assert violations([broken]) != []


def test_rule_follows_the_planners() -> None:
    idx = [
        Index((("_id", 1),)),
        Index((("workspace_id", 1), ("segments", 1), ("_id", 1))),
        Index((("status", 1), ("due_at", 1))),
        Index((("workspace_id", 1), ("email", 1)), {"email": {"$gt": ""}}),
    ]
    ws = PydanticObjectId()
    assert problem({"_id": ws, "workspace_id": ws}, idx) is None  # point lookup
    assert problem({"workspace_id": ws, "segments": "s"}, idx, [("_id", 1)]) is None
    assert problem({"workspace_id": ws, "segments": "s", "_id": {"$gt": ws}}, idx) is None
    assert problem({"segments": "s", "workspace_id": ws}, idx, [("_id", -1)]) is None
    assert problem({"status": "q", "due_at": {"$lte": 1}}, idx) is None
    now = datetime.now(UTC)
    assert problem({"status": "q", "due_at": {"$lte": now}}, idx)  # reads the nulls first
    assert problem({"status": "q", "due_at": {"$gte": now, "$lte": now}}, idx) is None
    assert problem({"workspace_id": ws, "email": "a@x.io"}, idx) is None  # implies $gt ""
    assert problem({"workspace_id": ws, "email": {"$in": ["a"]}}, idx)  # $in never implies
    assert problem({"workspace_id": ws, "segments": {"$ne": "s"}}, idx)
    assert problem({"workspace_id": ws, "segments": "s"}, idx, [("created_at", 1)])
    assert problem({"status": "q", "due_at": {"$type": "date", "$lte": 1}}, idx)
    assert problem({"workspace_id": ws, "_id": {"$in": [ws]}}, idx[:1])  # _id not first
    assert problem({"workspace_id": ws, "$or": [{"segments": "a"}]}, idx)
    assert problem({}, idx)


async def test_analytics_pipelines_start_on_an_index(api, seeded):
    """Trends (segment, contact breakdown, unique), funnels, retention, the report with
    attribution and the live bucket: every first $match is served by an index, the event
    ones by {workspace_id, name_key, timestamp}."""
    from resolvers.analytics import funnels, reports, retention, trend_updates, trends

    tenant, pro, _ = seeded["a"]
    ctx = _ctx(tenant)
    now = datetime.now(UTC)
    start, end = now - timedelta(days=2), now + timedelta(hours=1)
    with RECORDER.recording() as captured:
        await trends.trend(
            ctx,
            trends.TrendQuery(
                events=["viewed_item", "cart_abandoned"],
                start=start,
                end=end,
                time_zone="Europe/Paris",
                measure="unique_contacts",
                breakdown=trends.Breakdown("contact", "plan", 3),
                where=[{"property": "sku", "op": "in", "value": ["s1", "s2"]}],
                segment_id=pro,
                location_id="loc-1",
            ),
        )
        trend = await trends.trend(
            ctx,
            trends.TrendQuery(
                events=["viewed_item"],
                start=start,
                end=end,
                breakdown=trends.Breakdown("event", "sku", 3),
            ),
        )
        await funnels.funnel(
            ctx,
            funnels.FunnelQuery(
                steps=[funnels.Step("viewed_item"), funnels.Step("cart_abandoned")],
                start=start,
                end=end,
                breakdown=trends.Breakdown("contact", "plan", 3),
                segment_id=pro,
            ),
        )
        await retention.retention(
            ctx, retention.RetentionQuery("viewed_item", "cart_abandoned", start, end)
        )
        await reports.report(
            ctx, reports.ReportQuery(start, end, conversion_event="order_completed")
        )
        await trend_updates.current(
            ctx.workspace_id, trends.TrendQuery(events=["viewed_item"], start=start, end=end), now
        )
    assert [s.total for s in trend.series] == [35, 35, 34, 136]  # s0, s1, s2 (ties by label), other
    _check(captured)
    events = [c for c in captured if c.collection == "events" and c.name == "aggregate"]
    assert len(events) >= 8
    assert {tuple(c.filter) for c in events} == {("workspace_id", "name_key", "timestamp")}
    without = [i for i in declared_indexes()["events"] if "name_key" not in i.fields[1:2]]
    assert all(problem(c.filter, without, c.sort) for c in events)
    assert any(c.collection == "outbound_messages" and "_id" in c.filter for c in captured)
