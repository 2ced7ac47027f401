"""Campaigns that learn from engagement: A/B winners from seeded opens, send-time
optimisation choosing the learned hour, triggered campaigns on events and segment entry,
conversion attribution with revenue, and the hybrid paid-audience export."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from beanie import PydanticObjectId

from documents.audit import AuditEntry
from documents.campaign import Campaign
from documents.event import Event
from documents.message import OutboundMessage
from engine.send_time import hour_of_week
from resolvers.campaigns import ab_test, runs
from resolvers.core import runtime
from tests.campaign_helpers import (
    ANALYTICS,
    UPDATE,
    add_contact,
    add_segment,
    call,
    create,
    definition,
    rows,
    stored,
    until_status,
)
from tests.helpers import eventually, new_tenant, raw

TRACK = (
    "mutation($events: [EventInput!]!) { trackEvents(events: $events) { accepted duplicates "
    "userErrors { code } } }"
)
EMAIL_A = {"subject": "Version A", "text": "a"}
EMAIL_B = {"subject": "Version B", "text": "b"}


async def _track(api, tenant, user_id: str, event: str, message_id: str, **extra) -> dict:
    payload = {"type": "TRACK", "event": event, "userId": user_id, "messageId": message_id}
    payload.update(extra)
    data = await api.gql(tenant.secret_key, TRACK, {"events": [payload]})
    return data["trackEvents"]


async def _actions(tenant) -> list[AuditEntry]:
    return await AuditEntry.find(
        {"workspace_id": PydanticObjectId(tenant.workspace_id), "target_type": "campaign"}
    ).to_list()


def _ab(fraction: float, on_timeout: str) -> dict:
    return definition(
        [],
        channels=["email"],
        variants=[
            {"key": "A", "weight": 50, "content": {"email": EMAIL_A}},
            {"key": "B", "weight": 50, "content": {"email": EMAIL_B}},
        ],
        abTest={
            "testFraction": fraction,
            "metric": "OPEN",
            "windowHours": 1,
            "onTimeout": on_timeout,
        },
    )


async def _all_sent(tenant, campaign_id: str) -> list[OutboundMessage]:
    found = await rows(tenant, campaign_id)
    return found if found and all(r.status == "sent" for r in found) else []


DECISION = (
    "query($id: ID!) { campaign(id: $id) { runs { winner decision { method reason winner "
    "pValue alpha decidedAt variants { key successes trials rate } } decisionDetails } } }"
)


async def test_ab_test_sends_the_winner_to_the_rest(api, services):
    t = await new_tenant()
    # 80 contacts: ~40 in the test, so "every B opened, no A" convinces the sequential test
    # however the hash splits them (with 40 contacts ~4.5% of splits would not).
    ids = [await add_contact(api, t, email=f"ab{i}@example.com", tags=["all"]) for i in range(80)]
    everyone = await add_segment(api, t, "All", {"tag": "all"})
    campaign = await create(api, t.secret_key, {**_ab(0.5, "BEST"), "segmentIds": [everyone]})
    cid, ws = raw(campaign["id"]), t.workspace_id
    await call(api, t.secret_key, "scheduleCampaign", cid)

    async def waiting():
        doc = await stored(t, cid)
        return doc if doc.runs.get("run1", {}).get("phase") == "waiting" else None

    doc = await eventually(waiting)
    assert doc.status == "sending" and doc.decide_at is not None
    test_rows = await eventually(lambda: _all_sent(t, cid))
    assert 20 <= len(test_rows) <= 60  # the test phase reached a fraction, not everyone
    variants = {r.variant for r in test_rows}
    assert variants == {"A", "B"}

    # Before the window closes, no winner without significance.
    await ab_test.decide(ws, cid, 1)
    assert (await stored(t, cid)).runs["run1"]["phase"] == "waiting"

    # Seeded engagement: every B was opened, no A.
    await OutboundMessage.get_pymongo_collection().update_many(
        {"workspace_id": PydanticObjectId(ws), "source_id": cid, "variant": "B"},
        {"$set": {"opened_at": datetime.now(UTC)}},
    )
    await ab_test.decide(ws, cid, 1)
    doc = await stored(t, cid)
    assert doc.runs["run1"]["winner"] == "B"
    assert doc.runs["run1"]["decision"]["reason"] == "significant"
    assert doc.runs["run1"]["decision"]["p_value"] <= 0.05
    data = await api.gql(t.secret_key, DECISION, {"id": cid})
    (run,) = data["campaign"]["runs"]
    decision = run["decision"]
    assert run["winner"] == decision["winner"] == "B"
    assert (decision["method"], decision["reason"], decision["alpha"]) == (
        "always_valid_mixture",
        "significant",
        0.05,
    )
    assert 0 < decision["pValue"] <= 0.05 and decision["decidedAt"]
    shown = {v["key"]: v for v in decision["variants"]}
    b_rows = len([r for r in test_rows if r.variant == "B"])
    assert shown["B"] == {"key": "B", "successes": b_rows, "trials": b_rows, "rate": 1.0}
    assert (shown["A"]["successes"], shown["A"]["rate"]) == (0, 0.0)
    assert shown["A"]["trials"] == len(test_rows) - b_rows
    assert run["decisionDetails"]["p_value"] == decision["pValue"]  # deprecated, still there
    await until_status(t, cid, "completed")
    final = await rows(t, cid)
    assert sorted(str(r.contact_id) for r in final) == sorted(ids)
    tested = {r.id for r in test_rows}
    assert all(r.variant == "B" for r in final if r.id not in tested)
    assert "campaign.winner_chosen" in [e.action for e in await _actions(t)]

    data = await api.gql(t.secret_key, ANALYTICS, {"id": cid, "run": 1})
    by_variant = {v["key"]: v["numbers"] for v in data["campaign"]["analytics"]["variants"]}
    assert by_variant["B"]["opened"] == len([r for r in test_rows if r.variant == "B"])
    assert by_variant["A"]["opened"] == 0
    assert by_variant["A"]["sent"] + by_variant["B"]["sent"] == 80


async def test_ab_test_that_times_out_can_stop(api, services):
    t = await new_tenant()
    for i in range(10):
        await add_contact(api, t, email=f"st{i}@example.com", tags=["all"])
    everyone = await add_segment(api, t, "All", {"tag": "all"})
    campaign = await create(api, t.secret_key, {**_ab(0.5, "STOP"), "segmentIds": [everyone]})
    cid = raw(campaign["id"])
    await call(api, t.secret_key, "scheduleCampaign", cid)

    async def waiting():
        doc = await stored(t, cid)
        return doc.runs.get("run1", {}).get("phase") == "waiting"

    await eventually(waiting)
    tested = len(await rows(t, cid))
    # The window closes; the scheduler's next tick decides: no significance -> stop.
    await Campaign.get_pymongo_collection().update_one(
        {"_id": PydanticObjectId(cid)}, {"$set": {"decide_at": datetime.now(UTC) - timedelta(1)}}
    )
    doc = await until_status(t, cid, "sent", "completed", timeout=30)
    assert doc.runs["run1"]["decision"]["reason"] == "timeout_stop"
    assert len(await rows(t, cid)) == tested  # the rest got nothing
    assert "campaign.test_stopped" in [e.action for e in await _actions(t)]
    decision = (await api.gql(t.secret_key, DECISION, {"id": cid}))["campaign"]["runs"][0][
        "decision"
    ]
    assert (decision["method"], decision["reason"], decision["winner"]) == (
        "always_valid_mixture",
        "timeout_stop",
        None,
    )

    # A decision stored by the chi-squared test before: no method, alpha or time.
    legacy = {"run": 1, "winner": "A", "p_value": 0.01, "reason": "significant"}
    legacy["variants"] = {"A": {"successes": 3, "trials": 4}, "B": {"successes": 0, "trials": 0}}
    await Campaign.get_pymongo_collection().update_one(
        {"_id": PydanticObjectId(cid)}, {"$set": {"runs.run1.decision": legacy}}
    )
    decision = (await api.gql(t.secret_key, DECISION, {"id": cid}))["campaign"]["runs"][0][
        "decision"
    ]
    assert decision == {
        "method": "chi_squared",
        "reason": "significant",
        "winner": "A",
        "pValue": 0.01,
        "alpha": 0.05,
        "decidedAt": None,
        "variants": [
            {"key": "A", "successes": 3, "trials": 4, "rate": 0.75},
            {"key": "B", "successes": 0, "trials": 0, "rate": None},
        ],
    }


async def test_send_time_optimisation_uses_the_learned_hour(api, services):
    t = await new_tenant()
    ana = await add_contact(
        api,
        t,
        userId="ana",
        email="ana@example.com",
        tags=["all"],
        properties={"timezone": "Asia/Kolkata"},
    )
    bo = await add_contact(api, t, userId="bo", email="bo@example.com", tags=["all"])
    now = datetime.now(UTC)
    habit = (now - timedelta(days=3)).replace(minute=12, second=0, microsecond=0)
    for week in range(3):  # ana opens at the same hour of the week, three weeks running
        moment = habit - timedelta(days=7 * week)
        await _track(api, t, "ana", "email_opened", f"open-{week}", timestamp=moment.isoformat())
    everyone = await add_segment(api, t, "All", {"tag": "all"})
    data = definition(
        [everyone], channels=["email"], schedule={"sto": {"enabled": True, "windowHours": 168}}
    )
    campaign = await create(api, t.secret_key, data)
    await call(api, t.secret_key, "scheduleCampaign", campaign["id"])
    await until_status(t, campaign["id"], "sent")
    found = {str(r.contact_id): r for r in await rows(t, campaign["id"])}
    zones = {ana: "Asia/Kolkata", bo: "UTC"}
    for contact_id, row in found.items():
        assert (row.status, row.reason) == ("scheduled", "send_time")
        due = row.due_at.replace(tzinfo=UTC)
        assert now < due <= now + timedelta(hours=168)
        assert due.astimezone(ZoneInfo(zones[contact_id])).minute == 0  # on the local hour
    # ana: her own hour, in her timezone.
    due_ana = found[ana].due_at.replace(tzinfo=UTC)
    assert hour_of_week(due_ana, "Asia/Kolkata") == hour_of_week(habit, "Asia/Kolkata")
    # bo has no history: the workspace's best hour (learned from everyone, here ana).
    due_bo = found[bo].due_at.replace(tzinfo=UTC)
    assert hour_of_week(due_bo, "UTC") == hour_of_week(habit, "UTC")
    # Still waiting for their hour: sent (all queued), not completed.
    assert (await stored(t, campaign["id"])).status == "sent"
    wid, oid = PydanticObjectId(t.workspace_id), PydanticObjectId(raw(campaign["id"]))
    assert not await runs.complete_if_done(wid, oid)


async def test_triggered_campaign_fires_once_per_contact_and_cooldown(api, services):
    t = await new_tenant()
    await add_contact(api, t, userId="ana", email="ana@example.com")
    await add_contact(api, t, userId="bo", email="bo@example.com")
    await add_contact(api, t, userId="cy", email="cy@example.com")
    staff_id = await add_contact(api, t, userId="di", email="di@example.com", tags=["staff"])
    staff = await add_segment(api, t, "Staff", {"tag": "staff"})
    data = definition(
        [],
        name="Cart",
        kind="TRIGGERED",
        excludeSegmentIds=[staff],
        channels=["email"],
        trigger={
            "event": "cart_abandoned",
            "where": [{"property": "value", "op": "gt", "value": 10}],
            "cooldownHours": 24,
        },
        variants=[
            {
                "key": "A",
                "weight": 100,
                "content": {
                    "email": {
                        "subject": "Your cart of {{ event.properties.value }}",
                        "text": "Come back, {{ contact.email }}",
                    }
                },
            }
        ],
    )
    campaign = await create(api, t.secret_key, data)
    cid = raw(campaign["id"])
    # No cart_abandoned event stored yet: the sample has no value, and the template must
    # say what to print then (at send time an event without it would fail the same way).
    refused = await call(api, t.secret_key, "scheduleCampaign", cid)
    assert [e["field"] for e in refused["userErrors"]] == ["variants[0].content.email.subject"]
    data["variants"][0]["content"]["email"]["subject"] = (
        "Your cart of {{ event.properties.value | default('items') }}"
    )
    fixed = await api.gql(
        t.secret_key, UPDATE, {"id": cid, "input": {"variants": data["variants"]}}
    )
    assert fixed["updateCampaign"]["userErrors"] == []
    started = await call(api, t.secret_key, "scheduleCampaign", cid)
    assert started["userErrors"] == [], started
    assert started["campaign"]["status"] == "SENDING", started

    await _track(api, t, "ana", "cart_abandoned", "c1", properties={"value": 20})
    await _track(api, t, "cy", "cart_abandoned", "c2", properties={"value": 5})  # too small
    await _track(api, t, "di", "cart_abandoned", "c3", properties={"value": 50})  # excluded

    async def ana_sent():
        found = await rows(t, cid, status="sent")
        return found if found else None

    [first] = await eventually(ana_sent)
    assert first.subject == "Your cart of 20" and first.to == "ana@example.com"
    # Again within the cooldown: nothing; bo's first time: a message.
    await _track(api, t, "ana", "cart_abandoned", "c4", properties={"value": 30})
    await _track(api, t, "bo", "cart_abandoned", "c5", properties={"value": 11})

    async def two_sent():
        found = await rows(t, cid, status="sent")
        return found if len(found) >= 2 else None

    await eventually(two_sent)
    await asyncio.sleep(1.0)  # let the other reactions finish (they were queued earlier)
    found = await rows(t, cid)
    assert sorted(r.to for r in found) == ["ana@example.com", "bo@example.com"]
    assert all(str(r.contact_id) != staff_id for r in found)

    # Another workspace's identical event reaches nothing here.
    other = await new_tenant()
    await add_contact(api, other, userId="ana", email="ana@example.com")
    await _track(api, other, "ana", "cart_abandoned", "c1", properties={"value": 99})
    await asyncio.sleep(0.5)
    assert len(await rows(t, cid)) == 2

    # Segment entry as a trigger.
    gold = await add_segment(api, t, "Gold", {"tag": "gold"})
    entry = definition(
        [], name="Welcome gold", kind="TRIGGERED", channels=["email"], trigger={"segmentId": gold}
    )
    welcome = await create(api, t.secret_key, entry)
    await call(api, t.secret_key, "scheduleCampaign", welcome["id"])
    tag = 'mutation($id: ID!) { tagContact(id: $id, tags: ["gold"]) { userErrors { code } } }'
    await api.gql(t.secret_key, tag, {"id": staff_id})

    async def welcomed():
        return await rows(t, welcome["id"], status="sent")

    [welcome_row] = await eventually(welcomed)
    assert str(welcome_row.contact_id) == staff_id

    # Paused: triggers are ignored; cancelled: nobody listens any more.
    await call(api, t.secret_key, "cancelCampaign", cid)
    await _track(api, t, "cy", "cart_abandoned", "c6", properties={"value": 99})
    await asyncio.sleep(1.0)
    assert len(await rows(t, cid)) == 2


async def test_conversions_are_attributed_last_touch_with_revenue(api, services):
    t = await new_tenant()
    ana = await add_contact(api, t, userId="ana", email="ana@example.com", tags=["all"])
    await add_contact(api, t, userId="cy", email="cy@example.com")  # never messaged
    everyone = await add_segment(api, t, "All", {"tag": "all"})
    goal = {"event": "order_completed", "windowHours": 24, "revenueProperty": "amount"}
    first = await create(
        api, t.secret_key, definition([everyone], channels=["email"], conversionGoal=goal)
    )
    await call(api, t.secret_key, "scheduleCampaign", first["id"])
    await until_status(t, first["id"], "completed")
    [row] = await rows(t, first["id"])
    sent_at = row.sent_at.replace(tzinfo=UTC)

    before = (sent_at - timedelta(hours=1)).isoformat()  # an order before the message
    await _track(
        api, t, "ana", "order_completed", "o0", properties={"amount": 99}, timestamp=before
    )
    await _track(api, t, "ana", "order_completed", "o1", properties={"amount": 40})
    await _track(api, t, "cy", "order_completed", "o2", properties={"amount": 70})

    async def converted():
        [fresh] = await rows(t, first["id"])
        return fresh if fresh.converted_at else None

    fresh = await eventually(converted)
    await asyncio.sleep(0.5)
    [fresh] = await rows(t, first["id"])
    assert fresh.revenue == 40.0
    converted_at = fresh.converted_at
    # The same order again (a retried delivery): counted once. A second order adds up.
    again = await _track(api, t, "ana", "order_completed", "o1", properties={"amount": 40})
    assert again["duplicates"] == 1
    await _track(api, t, "ana", "order_completed", "o3", properties={"amount": "10.5"})

    async def added():
        [fresh] = await rows(t, first["id"])
        return fresh if fresh.revenue == 50.5 else None

    fresh = await eventually(added)
    assert fresh.converted_at == converted_at  # the first conversion stays
    conversions = await Event.find(
        {"workspace_id": PydanticObjectId(t.workspace_id), "event": "email_converted"}
    ).to_list()
    assert len(conversions) == 1 and str(conversions[0].contact_id) == ana

    # A later campaign with the same goal is the last touch now.
    second = await create(
        api, t.secret_key, definition([everyone], channels=["email"], conversionGoal=goal, name="2")
    )
    await call(api, t.secret_key, "scheduleCampaign", second["id"])
    await until_status(t, second["id"], "completed")
    await _track(api, t, "ana", "order_completed", "o4", properties={"amount": 5})

    async def moved():
        [row] = await rows(t, second["id"])
        return row if row.revenue == 5 else None

    await eventually(moved)
    await asyncio.sleep(0.5)
    assert (await rows(t, first["id"]))[0].revenue == 50.5
    data = await api.gql(t.secret_key, ANALYTICS, {"id": first["id"], "run": None})
    totals = data["campaign"]["analytics"]["totals"]
    assert (totals["converted"], totals["revenue"]) == (1, 50.5)


async def test_hybrid_exports_the_paid_audience(
    api, services, provider_server, monkeypatch, tmp_path
):
    monkeypatch.setattr(runtime.get(), "data_dir", str(tmp_path))
    t = await new_tenant()
    await add_contact(api, t, email="Ana@Example.com", phone="+14155550111", tags=["all"])
    gone = await add_contact(api, t, email="gone@example.com", tags=["all"])
    unsubscribe = (
        "mutation($id: ID!) { unsubscribeContact(id: $id, channel: ALL) { userErrors { code } } }"
    )
    await api.gql(t.secret_key, unsubscribe, {"id": gone})
    everyone = await add_segment(api, t, "All", {"tag": "all"})
    hook = provider_server.webhook_config("paid")
    data = definition(
        [everyone],
        channels=["email"],
        kind="HYBRID",
        paidAudience={"kind": "WEBHOOK", "url": hook["url"], "secret": hook["secret"]},
    )
    campaign = await create(api, t.secret_key, data)
    assert campaign["id"]
    await call(api, t.secret_key, "scheduleCampaign", campaign["id"])

    async def exported():
        doc = await stored(t, campaign["id"])
        return (doc.runs.get("run1") or {}).get("paid_audience", {}).get("done")

    await eventually(exported)
    [posted] = provider_server.of("webhook")
    assert posted.signature_ok is True
    body = posted.json
    assert body["campaign_id"] == raw(campaign["id"]) and body["last"] is True  # raw: not GraphQL
    digest = hashlib.sha256(b"ana@example.com").hexdigest()
    assert [c["email_sha256"] for c in body["contacts"]] == [digest]  # the unsubscribed left out
    assert "Ana@Example.com" not in posted.body.decode()

    to_file = definition(
        [everyone], channels=["email"], kind="HYBRID", paidAudience={"kind": "CSV"}
    )
    csv_campaign = await create(api, t.secret_key, to_file)
    await call(api, t.secret_key, "scheduleCampaign", csv_campaign["id"])

    async def written():
        doc = await stored(t, csv_campaign["id"])
        return (doc.runs.get("run1") or {}).get("paid_audience", {}).get("file")

    path = await eventually(written)
    assert path.startswith(str(tmp_path))
    text = await asyncio.to_thread(Path(path).read_text)
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["email_sha256"] for r in table] == [digest]
