"""Journeys running on the real database and queue, with time passed in: each node type,
the abandoned-cart flow, versions with contacts in flight, re-entry, waits for events
with timeouts, waits in the contact's time zone, pause and resume, a lost step message
and a restart in the middle of a wait, duplicated messages, exits and goals, date
triggers.

Runs here are moved by calling the runner with `now` (inline), far enough in the future
that the scheduler of the in-process worker (which uses the real clock) never finds them
due; one test lets that scheduler and worker do the work for real.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from beanie import PydanticObjectId

from documents.contact import Contact, CustomField
from documents.event import Event
from documents.journey import Enrollment, Journey
from documents.listener import Listener
from documents.message import OutboundMessage
from engine.access import Permission
from engine.errors import Conflict
from resolvers.core.context import Principal, RequestContext
from resolvers.journeys import analytics, define, lifecycle, step, versions
from resolvers.journeys import enroll as journey_enroll
from resolvers.journeys import listeners as journey_listeners
from resolvers.journeys import wakeups as journey_wakeups
from tests.helpers import eventually, new_tenant

EMAIL = {
    "email": {"subject": "Hi {{ contact.first_name | default('there') }}", "text": "Come back"}
}


def future_monday() -> datetime:
    """Midnight UTC of a Monday at least 30 days ahead: never due for the real scheduler."""
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day += timedelta(days=30)
    return day + timedelta(days=(7 - day.weekday()) % 7)


T0 = future_monday()


def node(node_id: str, node_type: str, /, **settings: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "settings": settings}


def edge(source: str, target: str, label: str = "next") -> dict[str, Any]:
    return {"from": source, "to": target, "label": label}


def chain(*ids: str) -> list[dict[str, Any]]:
    return [edge(a, b) for a, b in pairwise(ids)]


async def tenant_ctx() -> RequestContext:
    t = await new_tenant()
    principal = Principal(
        kind="secret_key",
        workspace_id=PydanticObjectId(t.workspace_id),
        organization_id=PydanticObjectId(t.organization_id),
        permissions=frozenset(Permission),
        label="test",
    )
    return RequestContext(principal)


async def contact(ctx: RequestContext, **properties: Any) -> Contact:
    tag = uuid.uuid4().hex[:8]
    return await Contact(
        workspace_id=ctx.workspace_id,
        email=f"c-{tag}@example.com",
        phone=None,
        properties={"first_name": "Ana", **properties},
    ).insert()


async def published(
    ctx: RequestContext, nodes: list, edges: list, settings: dict | None = None
) -> Journey:
    journey, problems = await define.create_journey(
        ctx, {"name": "J", "nodes": nodes, "edges": edges, "settings": settings}
    )
    assert problems == [], problems
    return await lifecycle.publish_journey(ctx, str(journey.id))


async def enroll(ctx, journey, who: Contact, now: datetime, data: dict | None = None) -> Enrollment:
    return await lifecycle.enroll_contact(
        ctx, str(journey.id), str(who.id), data, now=now, inline=True
    )


async def run_of(ctx, run_id) -> Enrollment:
    return await Enrollment.find_one({"_id": run_id, "workspace_id": ctx.workspace_id})


async def messages(ctx, journey) -> list[OutboundMessage]:
    return await OutboundMessage.find(
        {"workspace_id": ctx.workspace_id, "source": "journey", "source_id": str(journey.id)}
    ).to_list()


async def store_event(ctx, who: Contact, name: str, at: datetime, **properties) -> dict:
    """An event as ingest stores it (without the live reaction path: tests call on_events
    with their own clock)."""
    doc = Event(
        workspace_id=ctx.workspace_id,
        contact_id=who.id,
        type="track",
        message_id=uuid.uuid4().hex,
        event=name,
        properties=properties,
        timestamp=at,
        received_at=at,
    )
    await doc.insert()
    return await Event.get_pymongo_collection().find_one({"_id": doc.id})


async def deliver(ctx, events: list[dict], now: datetime) -> None:
    names = sorted({e["event"] for e in events})
    listeners = await Listener.find(
        {"workspace_id": ctx.workspace_id, "event": {"$in": names}}
    ).to_list()
    await journey_listeners.on_events(ctx.workspace_id, events, listeners, now=now)


async def wakeups(now: datetime) -> None:
    await journey_wakeups.run_wakeups(now, inline=True)


# --- flows -------------------------------------------------------------------------------


async def test_abandoned_cart_flow(services):
    """Event trigger, wait one hour or until order_completed, then a branch sends the
    reminder only to whoever has not bought."""
    ctx = await tenant_ctx()
    nodes = [
        node("cart", "trigger", kind="event", event="cart_abandoned"),
        node("hour", "wait", kind="event", event="order_completed", timeout_seconds=3600),
        node(
            "bought",
            "branch",
            cases=[{"key": "yes", "rules": {"since_entry": "order_completed"}}],
        ),
        node("remind", "send", channels=["email"], content=EMAIL),
        node("done", "exit"),
        node("converted", "exit"),
    ]
    edges = [
        edge("cart", "hour"),
        edge("hour", "converted"),
        edge("hour", "bought", "timeout"),
        edge("bought", "converted", "yes"),
        edge("bought", "remind", "default"),
        edge("remind", "done"),
    ]
    journey = await published(ctx, nodes, edges, {"goal": {"event": "order_completed"}})
    buyer, browser = await contact(ctx), await contact(ctx)
    carts = [
        await store_event(ctx, who, "cart_abandoned", T0, value=40) for who in (buyer, browser)
    ]
    await deliver(ctx, carts, T0)
    runs = await Enrollment.find({"journey_id": journey.id}).to_list()
    assert {r.contact_id for r in runs} == {buyer.id, browser.id}
    assert all(r.status == "waiting" and r.node_id == "hour" for r in runs)
    assert all(r.wake_at == T0 + timedelta(hours=1) for r in runs)
    # The buyer orders 20 minutes later: their run moves on through the event edge.
    order = await store_event(ctx, buyer, "order_completed", T0 + timedelta(minutes=20))
    await deliver(ctx, [order], T0 + timedelta(minutes=20))
    by_contact = {
        r.contact_id: r for r in await Enrollment.find({"journey_id": journey.id}).to_list()
    }
    bought = by_contact[buyer.id]
    assert bought.status == "exited" and bought.outcome == "goal" and bought.converted_at
    # An hour later the other run times out, takes the default branch and is messaged.
    await wakeups(T0 + timedelta(hours=1, seconds=1))
    run = await run_of(ctx, by_contact[browser.id].id)
    assert run.status == "completed" and run.node_id == "done"
    steps = [(h["node"], h["outcome"]) for h in run.history]
    assert steps == [
        ("cart", "entered"),
        ("hour", "waiting"),
        ("hour", "timeout"),
        ("bought", "default"),
        ("remind", "queued:email"),
        ("done", "exit"),
    ]
    sent = await messages(ctx, journey)
    assert [(m.contact_id, m.step, m.channel) for m in sent] == [(browser.id, "remind", "email")]
    assert sent[0].idempotency_key == f"journey:{journey.id}:{run.id}:remind"
    data = await analytics.analytics(ctx.workspace_id, journey.id)
    assert data["entered"] == 2 and data["completed"] == 1 and data["exited"] == 1
    assert data["converted"] == 1 and data["sends"]["remind"]["messages"] == 1


async def test_each_node_type_through_one_run(services):
    """API trigger, a zero wait, a send, a branch on engagement with that send, a split
    and the exits, with the history of every step."""
    ctx = await tenant_ctx()
    nodes = [
        node("api", "trigger", kind="api"),
        node("now", "wait", kind="duration", seconds=0),
        node("hello", "send", channels=["sms", "email"], content={**EMAIL, "sms": {"text": "hi"}}),
        node("day", "wait", kind="duration", seconds=86400),
        node(
            "opened_q",
            "branch",
            cases=[
                {"key": "vip", "rules": {"trigger_property": "tier", "op": "eq", "value": "vip"}},
                {"key": "opened", "rules": {"engaged": "opened", "node": "hello"}},
            ],
        ),
        node("ab", "split", cohorts=[{"key": "a", "percent": 50}, {"key": "b", "percent": 50}]),
        node("end", "exit"),
    ]
    edges = [
        *chain("api", "now", "hello", "day", "opened_q"),
        edge("opened_q", "end", "vip"),
        edge("opened_q", "end", "opened"),
        edge("opened_q", "ab", "default"),
        edge("ab", "end", "a"),
        edge("ab", "end", "b"),
    ]
    journey = await published(ctx, nodes, edges, {"reentry": "after_exit"})
    people = [await contact(ctx) for _ in range(12)]
    runs = [await enroll(ctx, journey, who, T0) for who in people]
    assert all(r.status == "waiting" and r.node_id == "day" for r in runs)
    sent = await messages(ctx, journey)
    # No phone: the send fell back to email (channel priority, resolvers.sending).
    assert len(sent) == 12 and {m.channel for m in sent} == {"email"}
    opened = sent[0]
    await OutboundMessage.get_pymongo_collection().update_one(
        {"_id": opened.id}, {"$set": {"opened_at": T0 + timedelta(hours=2)}}
    )
    await wakeups(T0 + timedelta(days=1, minutes=1))
    done = {r.contact_id: await run_of(ctx, r.id) for r in runs}
    assert all(r.status == "completed" for r in done.values())
    outcomes = {c: {h["node"]: h["outcome"] for h in r.history} for c, r in done.items()}
    assert outcomes[opened.contact_id]["opened_q"] == "opened"
    cohorts = [o["ab"] for c, o in outcomes.items() if c != opened.contact_id]
    assert set(cohorts) == {"a", "b"}  # 11 contacts, 50/50: both cohorts are used
    # The split is the same for a contact every time (a second run of the same people).
    again = await enroll(ctx, journey, people[1], T0 + timedelta(days=2))
    await wakeups(T0 + timedelta(days=3, minutes=1))
    again = await run_of(ctx, again.id)
    if people[1].id != opened.contact_id:
        assert {h["node"]: h["outcome"] for h in again.history}["ab"] == outcomes[people[1].id][
            "ab"
        ]
    # A trigger property routes a VIP past the split.
    vip = await enroll(ctx, journey, people[2], T0 + timedelta(days=4), {"tier": "vip"})
    await wakeups(T0 + timedelta(days=5, minutes=1))
    vip = await run_of(ctx, vip.id)
    assert {h["node"]: h["outcome"] for h in vip.history}["opened_q"] == "vip"
    data = await analytics.analytics(ctx.workspace_id, journey.id)
    assert data["sends"]["hello"]["messages"] == 14 and data["sends"]["hello"]["opened"] == 1


async def test_versions_keep_contacts_in_flight_on_theirs(services):
    ctx = await tenant_ctx()

    def graph(step_id: str) -> tuple[list, list]:
        nodes = [
            node("t", "trigger", kind="api"),
            node("w", "wait", kind="duration", seconds=3600),
            node(step_id, "send", channels=["email"], content=EMAIL),
            node("x", "exit"),
        ]
        return nodes, chain("t", "w", step_id, "x")

    journey = await published(ctx, *graph("old_send"))
    early, late = await contact(ctx), await contact(ctx)
    first = await enroll(ctx, journey, early, T0)
    nodes, edges = graph("new_send")
    journey, problems = await define.save_journey(
        ctx, str(journey.id), {"nodes": nodes, "edges": edges}
    )
    assert problems == [] and journey.version == 2 and journey.published_version == 2
    # An invalid edit of a live journey is refused and changes nothing.
    try:
        await define.save_journey(ctx, str(journey.id), {"nodes": nodes, "edges": []})
        raise AssertionError("an invalid live edit was accepted")
    except define.JourneyErrors as error:
        assert any("needs an edge" in e.message for e in error.errors)
    assert (await Journey.get(journey.id)).version == 2
    second = await enroll(ctx, journey, late, T0)
    assert (first.version, second.version) == (1, 2)
    await wakeups(T0 + timedelta(hours=2))
    steps = {m.contact_id: m.step for m in await messages(ctx, journey)}
    assert steps == {early.id: "old_send", late.id: "new_send"}


async def test_reentry_rules_and_redelivered_events(services):
    ctx = await tenant_ctx()
    nodes = [
        node("t", "trigger", kind="event", event="visited"),
        node("w", "wait", kind="duration", seconds=60),
        node("x", "exit"),
    ]
    never = await published(ctx, nodes, chain("t", "w", "x"))
    again = await published(ctx, nodes, chain("t", "w", "x"), {"reentry": "after_exit"})
    cool = await published(
        ctx, nodes, chain("t", "w", "x"), {"reentry": "cooldown", "cooldown_hours": 24}
    )
    who = await contact(ctx)

    async def visit(at: datetime) -> None:
        await deliver(ctx, [await store_event(ctx, who, "visited", at)], at)

    async def runs(journey) -> int:
        return await Enrollment.find({"journey_id": journey.id}).count()

    first = await store_event(ctx, who, "visited", T0)
    await deliver(ctx, [first], T0)
    await deliver(ctx, [first], T0)  # the same event delivered twice starts one run each
    assert [await runs(j) for j in (never, again, cool)] == [1, 1, 1]
    await visit(T0 + timedelta(seconds=10))  # live runs block every rule
    assert [await runs(j) for j in (never, again, cool)] == [1, 1, 1]
    await wakeups(T0 + timedelta(minutes=2))  # all three runs complete
    await visit(T0 + timedelta(minutes=3))
    assert [await runs(j) for j in (never, again, cool)] == [1, 2, 1]
    await wakeups(T0 + timedelta(minutes=5))
    await visit(T0 + timedelta(hours=25))
    assert [await runs(j) for j in (never, again, cool)] == [1, 3, 2]
    try:
        await enroll(ctx, never, who, T0 + timedelta(days=3))
        raise AssertionError("re-entry 'never' let the contact in again")
    except Conflict:
        pass


async def test_wait_for_event_with_property_filter_and_timeout(services):
    ctx = await tenant_ctx()
    nodes = [
        node("t", "trigger", kind="api"),
        node(
            "paid",
            "wait",
            kind="event",
            event="invoice_paid",
            where=[{"property": "amount", "op": "gte", "value": 100}],
            timeout_seconds=7200,
        ),
        node("thanks", "exit"),
        node("late", "exit"),
    ]
    edges = [edge("t", "paid"), edge("paid", "thanks"), edge("paid", "late", "timeout")]
    journey = await published(ctx, nodes, edges)
    payer, small, silent = await contact(ctx), await contact(ctx), await contact(ctx)
    runs = {who.id: await enroll(ctx, journey, who, T0) for who in (payer, small, silent)}
    at = T0 + timedelta(minutes=30)
    await deliver(
        ctx,
        [
            await store_event(ctx, payer, "invoice_paid", at, amount=120),
            await store_event(ctx, small, "invoice_paid", at, amount=20),
        ],
        at,
    )
    assert (await run_of(ctx, runs[payer.id].id)).history[-1]["node"] == "thanks"
    assert (await run_of(ctx, runs[small.id].id)).status == "waiting"
    await wakeups(T0 + timedelta(hours=1))  # not yet
    assert (await run_of(ctx, runs[silent.id].id)).status == "waiting"
    await wakeups(T0 + timedelta(hours=2))
    for who in (small, silent):
        run = await run_of(ctx, runs[who.id].id)
        assert run.status == "completed" and run.history[-1]["node"] == "late"
        assert run.history[-2]["outcome"] == "timeout"


async def test_waits_in_the_contacts_time_zone(services):
    ctx = await tenant_ctx()
    from documents.workspace import Workspace

    await Workspace.get_pymongo_collection().update_one(
        {"_id": ctx.workspace_id}, {"$set": {"timezone": "America/New_York"}}
    )
    versions._zones.clear()
    nodes = [
        node("t", "trigger", kind="api"),
        node("morning", "wait", kind="time_of_day", at="09:00", weekdays=[1, 2, 3, 4]),
        node("x", "exit"),
    ]
    journey = await published(ctx, nodes, chain("t", "morning", "x"))
    kolkata = await contact(ctx, timezone="Asia/Kolkata")
    nowhere = await contact(ctx, timezone="Mars/Olympus")  # not a zone: the workspace's
    now = T0 + timedelta(hours=10)  # Monday 10:00 UTC; weekdays Tuesday to Friday
    a = await enroll(ctx, journey, kolkata, now)
    b = await enroll(ctx, journey, nowhere, now)
    tuesday = T0.date() + timedelta(days=1)
    assert a.wake_at == datetime.combine(tuesday, datetime.min.time(), UTC) + timedelta(
        hours=3, minutes=30
    )  # 09:00 IST
    offset = 4 if T0.month in range(4, 11) else 5  # EDT or EST (whole months only)
    if T0.month not in (3, 11):
        assert b.wake_at == datetime.combine(tuesday, datetime.min.time(), UTC) + timedelta(
            hours=9 + offset
        )
    await wakeups(a.wake_at - timedelta(seconds=1))
    assert (await run_of(ctx, a.id)).status == "waiting"
    await wakeups(a.wake_at)
    assert (await run_of(ctx, a.id)).status == "completed"


async def test_pause_keeps_places_and_resume_continues(services):
    ctx = await tenant_ctx()
    nodes = [
        node("t", "trigger", kind="api"),
        node("w", "wait", kind="event", event="order_completed", timeout_seconds=600),
        node("s", "send", channels=["email"], content=EMAIL),
        node("x", "exit"),
    ]
    edges = [edge("t", "w"), edge("w", "s"), edge("w", "s", "timeout"), edge("s", "x")]
    journey = await published(ctx, nodes, edges)
    waiter, buyer, newcomer = await contact(ctx), await contact(ctx), await contact(ctx)
    r1 = await enroll(ctx, journey, waiter, T0)
    r2 = await enroll(ctx, journey, buyer, T0)
    await lifecycle.pause_journey(ctx, str(journey.id))
    try:
        await enroll(ctx, journey, newcomer, T0)
        raise AssertionError("a paused journey took a new run")
    except Conflict:
        pass
    # The timeout passes during the pause: nothing moves, nothing is due.
    await wakeups(T0 + timedelta(hours=1))
    assert (await run_of(ctx, r1.id)).status == "waiting"
    assert (await run_of(ctx, r1.id)).due_at is None
    # The awaited event still moves its run along the event edge, but no step runs.
    at = T0 + timedelta(hours=1)
    await deliver(ctx, [await store_event(ctx, buyer, "order_completed", at)], at)
    paused = await run_of(ctx, r2.id)
    assert (paused.status, paused.node_id, paused.due_at) == ("active", "s", None)
    assert await messages(ctx, journey) == []
    await lifecycle.resume_journey(ctx, str(journey.id), now=T0 + timedelta(hours=2))
    await wakeups(T0 + timedelta(hours=2))
    for run in (r1, r2):
        assert (await run_of(ctx, run.id)).status == "completed"
    assert sorted(m.contact_id for m in await messages(ctx, journey)) == sorted(
        [waiter.id, buyer.id]
    )


async def test_restart_in_the_middle_of_a_wait_and_duplicate_messages(services):
    """Nothing about a wait lives in Redis: a run parked before a restart is found by the
    wake-up sweep, and two workers running the same step move (and send) once."""
    ctx = await tenant_ctx()
    nodes = [
        node("t", "trigger", kind="api"),
        node("w", "wait", kind="duration", seconds=600),
        node("s", "send", channels=["email"], content=EMAIL),
        node("x", "exit"),
    ]
    journey = await published(ctx, nodes, chain("t", "w", "s", "x"))
    who = await contact(ctx)
    run = await enroll(ctx, journey, who, T0)
    assert run.status == "waiting" and run.due_at == T0 + timedelta(minutes=10)
    # "Restart": forget everything in process memory; the sweep finds the run by due_at.
    versions._versions.clear()
    later = T0 + timedelta(minutes=11)
    stored = await run_of(ctx, run.id)
    results = await asyncio.gather(
        *[step.step(str(ctx.workspace_id), str(run.id), stored.step, now=later) for _ in range(4)]
    )
    assert sum(1 for r in results if r) == 1  # one of the four moved it
    final = await run_of(ctx, run.id)
    assert final.status == "completed" and final.step == stored.step + 3
    assert len(await messages(ctx, journey)) == 1
    # A stale message (an old step number) does nothing.
    assert await step.step(str(ctx.workspace_id), str(run.id), 0, now=later) == 0
    # Scripts (the benchmark) enroll with plain ids.
    ws, jid = str(ctx.workspace_id), str(journey.id)
    assert await journey_enroll.enroll_by_id(ws, jid, "nope") is None
    other = await contact(ctx)
    assert await journey_enroll.enroll_by_id(str(PydanticObjectId()), jid, str(other.id)) is None
    scripted = await journey_enroll.enroll_by_id(ws, jid, str(other.id), now=T0, inline=True)
    assert scripted.status == "waiting" and scripted.node_id == "w"


async def test_lost_step_message_is_recovered_by_the_scheduler(api, services):
    """Real time, real worker and scheduler: a run whose step message never reached Redis
    is picked up by the journey_wakeups job within seconds of its lease."""
    ctx = await tenant_ctx()
    nodes = [
        node("t", "trigger", kind="api"),
        node("w", "wait", kind="duration", seconds=1),
        node("x", "exit"),
    ]
    journey = await published(ctx, nodes, chain("t", "w", "x"))
    who = await contact(ctx)
    now = datetime.now(UTC)
    lost = await Enrollment(
        workspace_id=ctx.workspace_id,
        journey_id=journey.id,
        version=1,
        contact_id=who.id,
        node_id="t",
        entered_at=now,
        due_at=now - timedelta(seconds=1),  # its lease ran out: the message was lost
    ).insert()

    async def done():
        run = await run_of(ctx, lost.id)
        return run.status == "completed" and run

    run = await eventually(done, timeout=60)
    assert [h["node"] for h in run.history] == ["t", "w", "w", "x"]  # entered, parked, woke


async def test_the_sweep_never_picks_ended_runs(api, services):
    """Ended runs have no due_at; the embedded engine matches null <= date, so the sweep
    must say what MongoDB means or it re-leases every ended run on every tick."""
    ctx = await tenant_ctx()
    nodes = [node("t", "trigger", kind="api"), node("x", "exit")]
    journey = await published(ctx, nodes, chain("t", "x"))
    who = await contact(ctx)
    ended = await Enrollment(
        workspace_id=ctx.workspace_id,
        journey_id=journey.id,
        version=1,
        contact_id=who.id,
        node_id="x",
        status="completed",
        step=2,
        due_at=None,
    ).insert()
    await journey_wakeups.run_wakeups(datetime.now(UTC) + timedelta(days=1))
    run = await run_of(ctx, ended.id)
    assert (run.status, run.step, run.due_at) == ("completed", 2, None)


async def test_exit_event_exit_segment_and_archive(services):
    ctx = await tenant_ctx()
    from documents.segment import Segment

    segment = await Segment(workspace_id=ctx.workspace_id, name="S", rules={"tag": "x"}).insert()
    nodes = [
        node("t", "trigger", kind="api"),
        node("w", "wait", kind="duration", seconds=86400),
        node("x", "exit"),
    ]
    journey = await published(
        ctx,
        nodes,
        chain("t", "w", "x"),
        {"exit_event": "unsubscribed_all", "exit_segment_id": str(segment.id)},
    )
    quitter, leaver, other, stayer = [await contact(ctx) for _ in range(4)]
    runs = {who.id: await enroll(ctx, journey, who, T0) for who in (quitter, leaver, other, stayer)}
    at = T0 + timedelta(minutes=5)
    await deliver(
        ctx,
        [
            await store_event(ctx, quitter, "unsubscribed_all", at),
            await store_event(ctx, leaver, "segment_exited", at, segment_id=str(segment.id)),
            await store_event(ctx, other, "segment_exited", at, segment_id="somewhere-else"),
        ],
        at,
    )
    outcome = {c: (await run_of(ctx, r.id)).outcome for c, r in runs.items()}
    assert outcome == {
        quitter.id: "exit_event",
        leaver.id: "segment_exited",
        other.id: None,
        stayer.id: None,
    }
    await lifecycle.archive_journey(ctx, str(journey.id))
    assert (await run_of(ctx, runs[stayer.id].id)).outcome == "archived"
    assert await Listener.find({"owner": f"journey:{journey.id}"}).count() == 0


async def test_date_triggers_enroll_once_per_day(services):
    ctx = await tenant_ctx()
    await CustomField(workspace_id=ctx.workspace_id, key="renewal_date", type="date").insert()
    nodes = [
        node("t", "trigger", kind="date", property="renewal_date", offset_days=-3, at="09:00"),
        node("x", "exit"),
    ]
    journey = await published(ctx, nodes, chain("t", "x"))
    due = await contact(ctx, renewal_date=T0 + timedelta(days=3))
    await contact(ctx, renewal_date=T0 + timedelta(days=4))
    await contact(ctx, renewal_date="not a date")
    assert await journey_wakeups.run_date_triggers(T0 + timedelta(hours=8), inline=True) == 0
    assert await journey_wakeups.run_date_triggers(T0 + timedelta(hours=10), inline=True) == 1
    assert await journey_wakeups.run_date_triggers(T0 + timedelta(hours=11), inline=True) == 0
    [run] = await Enrollment.find({"journey_id": journey.id}).to_list()
    assert run.contact_id == due.id and run.entry_key == f"date:{T0.date().isoformat()}"
    assert run.status == "completed"
    # A date trigger that names no DATE field is refused.
    bad = [node("t", "trigger", kind="date", property="city"), node("x", "exit")]
    _, problems = await define.create_journey(
        ctx, {"name": "bad", "nodes": bad, "edges": chain("t", "x")}
    )
    assert [p.field for p in problems] == ["nodes[0].settings.property"]
