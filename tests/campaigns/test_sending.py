"""Campaigns sending through the real worker and the sandbox provider: audiences with
exclusions, channel fallback, consent, pause and resume without duplicates, analytics and
the live progress stream, per-outlet execution, recurring runs in a timezone."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import websockets
from beanie import PydanticObjectId

from documents.audit import AuditEntry
from documents.campaign import Campaign
from documents.event import Event
from engine import recurrence
from resolvers.campaigns import audience, runs
from resolvers.messaging import queue
from tests.campaign_helpers import (
    ANALYTICS,
    add_contact,
    add_segment,
    call,
    create,
    definition,
    get,
    rows,
    stored,
    until_status,
)
from tests.helpers import as_raw, eventually, new_tenant, raw
from tests.sending_helpers import configure

UNSUBSCRIBE = (
    "mutation($id: ID!, $channel: Channel!) { unsubscribeContact(id: $id, channel: $channel) "
    "{ userErrors { code } } }"
)


async def _unsubscribe(api, tenant, contact_id: str, channel: str) -> None:
    data = await api.gql(tenant.secret_key, UNSUBSCRIBE, {"id": contact_id, "channel": channel})
    assert data["unsubscribeContact"]["userErrors"] == []


async def _sent_events(tenant, campaign_id: str) -> Counter:
    """email_sent / sms_sent events per contact for the campaign (what really went out)."""
    events = await Event.find(
        {
            "workspace_id": PydanticObjectId(tenant.workspace_id),
            "event": {"$in": ["email_sent", "sms_sent"]},
            "properties.source_id": as_raw(campaign_id),
        }
    ).to_list()
    return Counter(str(e.contact_id) for e in events)


async def test_audience_exclusions_fallback_and_consent(api, services):
    t = await new_tenant()
    ana = await add_contact(api, t, email="ana@example.com", phone="+14155550101", tags=["vip"])
    bo = await add_contact(api, t, phone="+14155550102", tags=["vip"])  # no email: SMS
    cy = await add_contact(api, t, email="cy@example.com", phone="+14155550103", tags=["vip"])
    await add_contact(api, t, email="di@example.com", tags=["vip", "staff"])  # excluded
    ed = await add_contact(api, t, email="ed@example.com", tags=["vip"])
    await add_contact(api, t, email="fy@example.com")  # not in the audience
    await _unsubscribe(api, t, cy, "ALL")  # nothing at all
    await _unsubscribe(api, t, ed, "EMAIL")  # email only, and no phone
    vip = await add_segment(api, t, "VIP", {"tag": "vip"})
    staff = await add_segment(api, t, "Staff", {"tag": "staff"})

    campaign = await create(
        api, t.secret_key, definition([vip], excludeSegmentIds=[staff], name="Now")
    )
    started = await call(api, t.secret_key, "scheduleCampaign", campaign["id"])
    assert started["userErrors"] == [], started
    assert started["campaign"]["status"] in ("SENDING", "SENT", "COMPLETED")
    done = await until_status(t, campaign["id"], "completed")

    by_contact = {str(r.contact_id): r for r in await rows(t, campaign["id"])}
    assert set(by_contact) == {ana, bo, cy, ed}  # di excluded, fy not targeted
    assert (by_contact[ana].channel, by_contact[ana].status) == ("email", "sent")
    assert (by_contact[bo].channel, by_contact[bo].status) == ("sms", "sent")  # fallback
    for opted_out in (cy, ed):
        assert by_contact[opted_out].status == "skipped"
        assert by_contact[opted_out].sent_at is None
        assert by_contact[opted_out].reason.startswith("no_channel")
    assert await _sent_events(t, campaign["id"]) == Counter({ana: 1, bo: 1})
    assert by_contact[ana].idempotency_key == f"campaign:{raw(campaign['id'])}:1:{ana}"
    assert done.counters == {"skipped:no_channel": 2}
    assert done.runs["run1"]["targeted"] == 4

    data = await api.gql(t.secret_key, ANALYTICS, {"id": campaign["id"], "run": None})
    numbers = data["campaign"]["analytics"]
    assert numbers["totals"]["targeted"] == 4 and numbers["totals"]["sent"] == 2
    assert numbers["totals"]["failed"] == 0 and numbers["totals"]["opened"] == 0
    channels = {c["key"]: c["numbers"]["sent"] for c in numbers["channels"]}
    assert channels["email"] == 1 and channels["sms"] == 1
    reasons = {r["reason"]: (r["status"], r["count"]) for r in numbers["reasons"]}
    assert reasons == {
        by_contact[cy].reason: ("skipped", 1),
        by_contact[ed].reason: ("skipped", 1),
    }
    audit = await AuditEntry.find({"workspace_id": PydanticObjectId(t.workspace_id)}).to_list()
    actions = [e.action for e in audit]
    assert "campaign.run_started" in actions and "campaign.sent" in actions
    assert "campaign.completed" in actions


async def test_pause_and_resume_send_nothing_twice(api, services, monkeypatch):
    monkeypatch.setattr(audience, "PAGE", 1)  # many pages from a small audience
    t = await new_tenant()
    ids = [await add_contact(api, t, email=f"p{i}@example.com", tags=["all"]) for i in range(40)]
    everyone = await add_segment(api, t, "All", {"tag": "all"})
    campaign = await create(api, t.secret_key, definition([everyone], channels=["email"]))
    cid = raw(campaign["id"])
    await call(api, t.secret_key, "scheduleCampaign", cid)

    async def some_rows():
        return len(await rows(t, cid)) >= 2

    await eventually(some_rows)
    paused = await call(api, t.secret_key, "pauseCampaign", cid)
    assert paused["userErrors"] == [], paused
    assert paused["campaign"]["status"] == "PAUSED"
    await asyncio.sleep(1.5)  # a page in flight finishes; nothing after it starts
    at_pause = await rows(t, cid)
    sent_at_pause = {str(r.contact_id) for r in at_pause if r.status == "sent"}
    await asyncio.sleep(1.0)
    still = await rows(t, cid)
    assert len(still) == len(at_pause) < 40, "the fan-out went on while paused"
    assert {str(r.contact_id) for r in still if r.status == "sent"} == sent_at_pause
    assert all(r.status in ("paused", "sent", "skipped") for r in still)
    cursor = (await stored(t, cid)).runs["run1"]["branches"]["brand"]["cursor"]
    assert cursor is not None

    resumed = await call(api, t.secret_key, "resumeCampaign", cid)
    assert resumed["campaign"]["status"] in ("SENDING", "SENT", "COMPLETED")
    await until_status(t, cid, "completed")
    final = await rows(t, cid)
    assert sorted(str(r.contact_id) for r in final) == sorted(ids)  # one row each
    assert all(r.status == "sent" for r in final)
    assert await _sent_events(t, cid) == Counter(dict.fromkeys(ids, 1))  # one send each


async def test_pause_after_the_fanout_holds_what_is_still_to_deliver(
    api, services, provider_server
):
    """The seed's "Paused — manually paused mid-send (resume anytime)" after the fan-out
    queued everything (status SENT) while a rate-limited provider is still delivering:
    the rows not yet handed over are held, nothing more goes out until resume, and
    resume sends each of the rest once."""
    t = await new_tenant()
    config = {**provider_server.twilio_config(), "rate_per_second": 2}
    assert (await configure(api, t, "sms", config))["userErrors"] == []
    phones = [f"+1415555020{i}" for i in range(6)]
    for phone in phones:
        await add_contact(api, t, phone=phone, tags=["slow"])
    everyone = await add_segment(api, t, "Slow", {"tag": "slow"})
    campaign = await create(api, t.secret_key, definition([everyone], channels=["sms"]))
    cid = raw(campaign["id"])
    await call(api, t.secret_key, "scheduleCampaign", cid)
    await until_status(t, cid, "sent")  # every row queued; at most 2 a second go out

    async def some_sent():
        return len(await rows(t, cid, status="sent")) >= 1

    await eventually(some_sent)
    paused = await call(api, t.secret_key, "pauseCampaign", cid)
    assert paused["userErrors"] == [], paused
    assert paused["campaign"]["status"] == "PAUSED"
    assert (await stored(t, cid)).paused_from == "sent"

    async def settled():  # what was in flight at the pause has finished
        return not await rows(t, cid, status={"$in": ["sending", "queued", "scheduled"]})

    await eventually(settled)
    at_pause = len(provider_server.of("twilio"))
    held = await rows(t, cid, status="paused")
    assert held, "nothing was left to hold: the provider was not slow enough"
    await asyncio.sleep(6)  # longer than a dispatcher round: nothing wakes the held rows
    assert len(provider_server.of("twilio")) == at_pause
    assert len(await rows(t, cid, status="paused")) == len(held)

    resumed = await call(api, t.secret_key, "resumeCampaign", cid)
    assert resumed["userErrors"] == [], resumed
    assert resumed["campaign"]["status"] in ("SENT", "COMPLETED")
    await until_status(t, cid, "completed", timeout=90)
    final = await rows(t, cid)
    assert len(final) == len(phones) and all(r.status == "sent" for r in final)
    sent_to = Counter(r.form["To"] for r in provider_server.of("twilio"))
    assert sent_to == Counter(dict.fromkeys(phones, 1))  # each once, none twice


async def test_progress_subscription_streams_until_done(api, base_url, services):
    t = await new_tenant()
    for i in range(3):
        await add_contact(api, t, email=f"s{i}@example.com", tags=["all"])
    everyone = await add_segment(api, t, "All", {"tag": "all"})
    campaign = await create(api, t.secret_key, definition([everyone], channels=["email"]))
    ws = await websockets.connect(
        base_url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    try:
        init = {"authorization": f"Bearer {t.secret_key}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        query = (
            "subscription($id: ID!) { campaignProgress(campaignId: $id) "
            "{ status targeted live sent skipped } }"
        )
        message = {"id": "1", "type": "subscribe", "payload": {"query": query}}
        message["payload"]["variables"] = {"id": campaign["id"]}
        await ws.send(json.dumps(message))
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["payload"]["data"]["campaignProgress"]["status"] == "DRAFT"
        await call(api, t.secret_key, "scheduleCampaign", campaign["id"])
        seen = []
        while not seen or seen[-1]["status"] != "COMPLETED":
            update = json.loads(await asyncio.wait_for(ws.recv(), 30))
            seen.append(update["payload"]["data"]["campaignProgress"])
        assert seen[-1] == {
            "status": "COMPLETED",
            "targeted": 3,
            "live": 0,
            "sent": 3,
            "skipped": 0,
        }
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
    finally:
        await ws.close()
    # Another workspace cannot watch it.
    other = await new_tenant()
    response = await api.raw(other.secret_key, '{ campaign(id: "%s") { id } }' % campaign["id"])
    assert response.json()["data"]["campaign"] is None


async def test_per_outlet_execution(api, services, provider_server):
    t = await new_tenant()
    make = (
        "mutation($c: String!) { createLocation(input: {name: $c, code: $c}) "
        "{ location { id } userErrors { code } } }"
    )
    bandra = (await api.gql(t.secret_key, make, {"c": "bandra"}))["createLocation"]["location"][
        "id"
    ]
    juhu = (await api.gql(t.secret_key, make, {"c": "juhu"}))["createLocation"]["location"]["id"]
    b1 = await add_contact(api, t, email="b1@example.com", tags=["all"], locationId=bandra)
    b2 = await add_contact(api, t, email="b2@example.com", tags=["all"], locationId=bandra)
    j1 = await add_contact(api, t, email="j1@example.com", tags=["all"], locationId=juhu)
    await add_contact(api, t, email="brand@example.com", tags=["all"])  # no outlet
    everyone = await add_segment(api, t, "All", {"tag": "all"})

    outlets = definition(
        [everyone],
        channels=["email"],
        allOutlets=True,
        variants=[
            {
                "key": "A",
                "weight": 100,
                "content": {
                    "email": {
                        "subject": "News from {{ location.name | default('us') }}",
                        "text": "x",
                    }
                },
            }
        ],
    )
    campaign = await create(api, t.secret_key, outlets)
    await call(api, t.secret_key, "scheduleCampaign", campaign["id"])
    done = await until_status(t, campaign["id"], "completed")
    bandra, juhu = raw(bandra), raw(juhu)  # stored rows hold raw ids
    assert sorted(done.runs["run1"]["branches"]) == sorted([bandra, juhu])
    sent = {str(r.contact_id): r for r in await rows(t, campaign["id"])}
    assert set(sent) == {b1, b2, j1}  # one execution per outlet, each its own contacts
    assert str(sent[b1].location_id) == bandra and str(sent[j1].location_id) == juhu
    assert sent[j1].subject == "News from juhu" and sent[b2].subject == "News from bandra"

    one = await create(
        api, t.secret_key, definition([everyone], channels=["email"], locationId=juhu)
    )
    await call(api, t.secret_key, "scheduleCampaign", one["id"])
    await until_status(t, one["id"], "completed")
    assert [str(r.contact_id) for r in await rows(t, one["id"])] == [j1]

    # Each outlet's sender mapping: juhu posts to its partner, bandra has none (sandbox).
    configure = (
        "mutation($config: JSON!, $loc: ID) { configureChannel(channel: WEBHOOK, "
        'provider: "webhook", config: $config, locationId: $loc) { userErrors { message } } }'
    )
    hook = provider_server.webhook_config("juhu")
    data = await api.gql(t.secret_key, configure, {"config": hook, "loc": juhu})
    assert data["configureChannel"]["userErrors"] == [], data
    mapped = definition(
        [everyone],
        channels=["webhook"],
        allOutlets=True,
        variants=[{"key": "A", "weight": 100, "content": {}}],
    )
    mapped = await create(api, t.secret_key, mapped)
    await call(api, t.secret_key, "scheduleCampaign", mapped["id"])
    await until_status(t, mapped["id"], "completed")
    providers = {str(r.contact_id): r.provider for r in await rows(t, mapped["id"])}
    assert providers == {b1: "sandbox", b2: "sandbox", j1: "webhook"}
    [posted] = provider_server.of("webhook")
    assert posted.signature_ok is True and posted.json["data"]["contact_id"] == j1

    # A channel configured and then disabled cannot be chosen.
    off = (
        'mutation { configureChannel(channel: EMAIL, provider: "sandbox", config: {}, '
        "enabled: false) { userErrors { message } } }"
    )
    assert (await api.gql(t.secret_key, off))["configureChannel"]["userErrors"] == []
    blocked = await create(api, t.secret_key, definition([everyone], channels=["email"]))
    refused = await call(api, t.secret_key, "scheduleCampaign", blocked["id"])
    assert [e["field"] for e in refused["userErrors"]] == ["channels[0]"]


async def test_recurring_runs_in_a_timezone(api, services):
    t = await new_tenant()
    ana = await add_contact(api, t, email="ana@example.com", tags=["all"])
    everyone = await add_segment(api, t, "All", {"tag": "all"})
    rule = {"every": "day", "at": "09:30"}
    data = definition(
        [everyone],
        channels=["email"],
        kind="RECURRING",
        schedule={"timezone": "America/New_York", "recurrence": rule},
    )
    campaign = await create(api, t.secret_key, data)
    assert campaign["schedule"]["recurrence"]["timezone"] == "America/New_York"
    scheduled = await call(api, t.secret_key, "scheduleCampaign", campaign["id"])
    assert scheduled["userErrors"] == [], scheduled
    first = datetime.fromisoformat(scheduled["campaign"]["nextRunAt"])
    local = first.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 30)
    assert timedelta(0) < first - datetime.now(UTC) <= timedelta(days=1)

    # The scheduler's moment comes: of two starters racing, one starts the run.
    doc = await stored(t, campaign["id"])
    moment = first + timedelta(seconds=1)
    results = await asyncio.gather(runs.start_run(doc, moment), runs.start_run(doc, moment))
    assert sorted(results) == [False, True]
    back = await until_status(t, campaign["id"], "scheduled")
    assert back.run == 1
    second = back.next_run_at.replace(tzinfo=UTC)
    assert second == recurrence.next_run({**rule, "timezone": "America/New_York"}, moment)
    assert second.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M") == "09:30"
    await eventually(lambda: _sent_rows(t, campaign["id"], 1))
    assert await runs.start_run(back, second + timedelta(seconds=1))
    await eventually(lambda: _sent_rows(t, campaign["id"], 2))
    keys = sorted(r.idempotency_key for r in await rows(t, campaign["id"]))
    assert keys == [f"campaign:{raw(campaign['id'])}:{n}:{ana}" for n in (1, 2)]
    # Not due yet: the tick leaves it alone.
    assert (
        await runs.start_due(datetime.now(UTC)) == 0 or (await stored(t, campaign["id"])).run == 2
    )


async def _sent_rows(tenant, campaign_id: str, count: int) -> bool:
    return len([r for r in await rows(tenant, campaign_id) if r.status == "sent"]) >= count


async def test_cancel_skips_what_was_not_sent(api, services):
    t = await new_tenant()
    for i in range(3):
        await add_contact(api, t, email=f"c{i}@example.com", tags=["all"])
    everyone = await add_segment(api, t, "All", {"tag": "all"})
    data = definition(
        [everyone], channels=["email"], schedule={"sto": {"enabled": True, "windowHours": 48}}
    )
    campaign = await create(api, t.secret_key, data)
    # With STO and no engagement anywhere, the campaign time is used: sent now.
    await call(api, t.secret_key, "scheduleCampaign", campaign["id"])
    await until_status(t, campaign["id"], "completed")
    assert all(r.status == "sent" for r in await rows(t, campaign["id"]))
    cancelled = await call(api, t.secret_key, "cancelCampaign", campaign["id"])
    assert cancelled["userErrors"][0]["code"] == "CAMPAIGN_STATE"
    assert (await get(api, t.secret_key, campaign["id"]))["status"] == "COMPLETED"


async def test_held_and_skipped_by_reason(api, services):
    """Quiet hours hold messages until the window opens; frequency caps skip them; the
    campaign counts both by reason."""
    t = await new_tenant()
    now = datetime.now(UTC)
    quiet = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=2)).strftime("%H:%M"),
    }
    rules = (
        "mutation($quiet: QuietHoursInput!) { updateSendingRules(quietHours: $quiet, "
        'frequencyCaps: [{channel: "email", limit: 1, days: 7}]) { userErrors { field } } }'
    )
    data = await api.gql(t.secret_key, rules, {"quiet": quiet})
    assert data["updateSendingRules"]["userErrors"] == [], data
    ana = await add_contact(api, t, email="ana@example.com", tags=["all"])
    everyone = await add_segment(api, t, "All", {"tag": "all"})
    first = await create(api, t.secret_key, definition([everyone], channels=["email"]))
    await call(api, t.secret_key, "scheduleCampaign", first["id"])
    done = await until_status(t, first["id"], "sent")
    [held] = await rows(t, first["id"])
    assert (held.status, held.reason) == ("scheduled", "quiet_hours")
    assert held.due_at.replace(tzinfo=UTC) > now and held.sent_at is None
    assert done.counters == {"held:quiet_hours": 1}
    # The same contact again this week: over the cap.
    second = await create(api, t.secret_key, definition([everyone], channels=["email"]))
    await call(api, t.secret_key, "scheduleCampaign", second["id"])
    done = await until_status(t, second["id"], "completed")
    [capped] = await rows(t, second["id"])
    assert str(capped.contact_id) == ana
    assert (capped.status, capped.reason) == ("skipped", "frequency_cap")
    assert done.counters == {"skipped:frequency_cap": 1}
    numbers = await api.gql(t.secret_key, ANALYTICS, {"id": first["id"], "run": 1})
    assert numbers["campaign"]["analytics"]["reasons"] == [
        {"status": "held", "reason": "quiet_hours", "count": 1}
    ]


async def test_a_lost_fanout_job_is_revived_without_duplicates(api, services):
    """A worker dies after queueing part of a page, before moving the cursor, and its job
    is gone: the scheduler's sweep continues from the cursor; nobody gets two messages."""
    t = await new_tenant()
    ids = [await add_contact(api, t, email=f"k{i}@example.com", tags=["all"]) for i in range(5)]
    everyone = await add_segment(api, t, "All", {"tag": "all"})
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    data = definition([everyone], channels=["email"], schedule={"sendAt": later})
    campaign = await create(api, t.secret_key, data)
    cid = raw(campaign["id"])
    await call(api, t.secret_key, "scheduleCampaign", cid)
    # The state a killed worker leaves: the run started, two messages queued, no cursor.
    now = datetime.now(UTC)
    state = {
        "phase": "all",
        "branches": {"brand": {"cursor": None, "done": False}},
        "started_at": now - timedelta(minutes=10),
        "sto_hour": None,
        "winner": None,
    }
    await Campaign.get_pymongo_collection().update_one(
        {"_id": PydanticObjectId(cid)},
        {
            "$set": {
                "status": "sending",
                "run": 1,
                "runs": {"run1": state},
                "next_run_at": None,
                "fanout_at": now - timedelta(minutes=10),
            }
        },
    )
    early = [
        queue.SendRequest(
            workspace_id=PydanticObjectId(t.workspace_id),
            contact_id=PydanticObjectId(contact),
            source="campaign",
            source_id=cid,
            idempotency_key=runs.message_key(cid, 1, contact),
            channels=["email"],
            content={"email": {"subject": "s", "text": "t"}},
            variant="A",
            run=1,
        )
        for contact in sorted(ids)[:2]
    ]
    await queue.queue(early)
    assert await runs.revive_stalled(datetime.now(UTC)) == 1
    await until_status(t, cid, "completed")
    final = await rows(t, cid)
    assert sorted(str(r.contact_id) for r in final) == sorted(ids)
    assert await _sent_events(t, cid) == Counter(dict.fromkeys(ids, 1))
