"""Journeys at brand scale, on the real database and queue: a run's instant transitions in
one conditional update, enrolment of a page of contacts at once (duplicates, live runs,
re-entry and entry keys honoured), wake-up sweeps in bounded pages, and the sweep leaving
alone a run whose step message the broker still holds.
"""

from __future__ import annotations

from datetime import timedelta

from documents.journey import Enrollment
from resolvers.core import runtime
from resolvers.journeys import analytics, handoff
from resolvers.journeys import enroll as journey_enroll
from resolvers.journeys import wakeups as journey_wakeups
from tests.journeys.test_runner import (
    EMAIL,
    T0,
    chain,
    contact,
    edge,
    messages,
    node,
    published,
    run_of,
    tenant_ctx,
)
from tests.query_plans import RECORDER

CHAIN_NODES = [
    node("t", "trigger", kind="api"),
    node("vip", "branch", cases=[{"key": "vip", "rules": {"tag": "vip"}}]),
    node("ab", "split", cohorts=[{"key": "a", "percent": 50}, {"key": "b", "percent": 50}]),
    node("zero", "wait", kind="duration", seconds=0),
    node("x", "exit"),
]
CHAIN_EDGES = [
    edge("t", "vip"),
    edge("vip", "ab", "vip"),
    edge("vip", "ab", "default"),
    edge("ab", "zero", "a"),
    edge("ab", "zero", "b"),
    edge("zero", "x"),
]


def moves_of(captured, run_id) -> list:
    """The update statements that targeted this run (a bulk write's are one each)."""
    return [
        c
        for c in captured
        if c.name == "update" and c.collection == "enrollments" and c.filter.get("_id") == run_id
    ]


async def test_branch_split_wait_exit_chain_is_one_update(services):
    ctx = await tenant_ctx()
    journey = await published(ctx, CHAIN_NODES, CHAIN_EDGES)
    who = await contact(ctx)
    with RECORDER.recording() as captured:
        [run] = await journey_enroll.enroll_many(
            ctx.workspace_id,
            journey,
            [journey_enroll.Entry(who.id, {"name": "api"})],
            now=T0,
            inline=True,
        )
    assert run.status == "completed" and run.outcome == "exit" and run.node_id == "x"
    [move] = moves_of(captured, run.id)
    assert move.filter["step"] == 0 and move.filter["workspace_id"] == ctx.workspace_id
    history = [(h["node"], h["outcome"]) for h in run.history]
    assert [n for n, _ in history] == ["t", "vip", "ab", "zero", "x"]
    assert history[1] == ("vip", "default") and history[2][1] in ("a", "b")
    assert history[3] == ("zero", "waited") and history[4] == ("x", "exit")
    assert run.step == 5  # one per transition, as if each had been its own update
    data = await analytics.analytics(ctx.workspace_id, journey.id)
    assert (data["entered"], data["completed"], data["active"]) == (1, 1, 0)


async def test_a_send_on_the_path_is_queued_first_and_the_run_still_moves_once(services):
    ctx = await tenant_ctx()
    nodes = [
        node("t", "trigger", kind="api"),
        node("hi", "send", channels=["email"], content=EMAIL),
        node("opened", "branch", cases=[{"key": "y", "rules": {"engaged": "sent", "node": "hi"}}]),
        node("x", "exit"),
    ]
    edges = [*chain("t", "hi", "opened"), edge("opened", "x", "y"), edge("opened", "x", "default")]
    journey = await published(ctx, nodes, edges)
    people = [await contact(ctx) for _ in range(3)]
    entries = [journey_enroll.Entry(p.id, {"name": "api"}) for p in people]
    with RECORDER.recording() as captured:
        runs = await journey_enroll.enroll_many(
            ctx.workspace_id, journey, entries, now=T0, inline=True
        )
    assert len(runs) == 3 and all(r.status == "completed" for r in runs)
    for run in runs:
        assert len(moves_of(captured, run.id)) == 1
        # The message was queued (not yet sent) when the branch read its engagement.
        assert [(h["node"], h["outcome"]) for h in run.history] == [
            ("t", "entered"),
            ("hi", "queued:email"),
            ("opened", "default"),
            ("x", "exit"),
        ]
    # One queue call for the page: one read of existing keys for the three messages.
    lookups = [c for c in captured if c.collection == "outbound_messages" and c.name == "find"]
    assert len([c for c in lookups if "idempotency_key" in c.filter]) == 2  # queue; the branch
    sent = await messages(ctx, journey)
    assert sorted(m.contact_id for m in sent) == sorted(p.id for p in people)


async def test_bulk_enrolment_honours_duplicates_live_runs_and_reentry(services):
    ctx = await tenant_ctx()
    nodes = [
        node("t", "trigger", kind="api"),
        node("w", "wait", kind="duration", seconds=600),
        node("x", "exit"),
    ]
    never = await published(ctx, nodes, chain("t", "w", "x"))
    again = await published(ctx, nodes, chain("t", "w", "x"), {"reentry": "after_exit"})
    a, b, c = [await contact(ctx) for _ in range(3)]
    api = {"name": "api"}

    def entries(*people):
        return [journey_enroll.Entry(p.id, api) for p in people]

    # A contact twice in one page gets one run.
    first = await journey_enroll.enroll_many(
        ctx.workspace_id, never, entries(a, b, a), now=T0, inline=True
    )
    assert sorted(r.contact_id for r in first) == sorted([a.id, b.id])
    assert all(r.status == "waiting" for r in first)
    # A live run blocks a second one; the others of the page still enter.
    second = await journey_enroll.enroll_many(
        ctx.workspace_id, never, entries(a, b, c), now=T0 + timedelta(minutes=1), inline=True
    )
    assert [r.contact_id for r in second] == [c.id]
    # After the runs end: "never" refuses everyone, "after_exit" takes them back.
    await journey_wakeups.run_wakeups(T0 + timedelta(hours=1), inline=True)
    assert (await run_of(ctx, first[0].id)).status == "completed"
    assert (
        await journey_enroll.enroll_many(
            ctx.workspace_id, never, entries(a, b), now=T0 + timedelta(hours=2)
        )
        == []
    )
    await journey_enroll.enroll_many(ctx.workspace_id, again, entries(a), now=T0, inline=True)
    await journey_wakeups.run_wakeups(T0 + timedelta(hours=1), inline=True)
    back = await journey_enroll.enroll_many(
        ctx.workspace_id, again, entries(a), now=T0 + timedelta(hours=2), inline=True
    )
    assert [r.contact_id for r in back] == [a.id]
    # An entry key starts one run, however often the page is offered.
    keyed = [journey_enroll.Entry(b.id, api, entry_key="date:2026-01-01")]
    once = await journey_enroll.enroll_many(
        ctx.workspace_id, again, keyed, now=T0 + timedelta(hours=3), inline=True
    )
    await journey_wakeups.run_wakeups(T0 + timedelta(hours=4), inline=True)
    twice = await journey_enroll.enroll_many(
        ctx.workspace_id, again, keyed, now=T0 + timedelta(hours=5), inline=True
    )
    assert len(once) == 1 and twice == []


async def test_wakeups_sweep_in_bounded_pages(services):
    """Oldest due first, `page` runs a page, at most `pages` pages a sweep; runs here are
    due 20 days before the other tests' (and still weeks ahead of the real scheduler's)."""
    ctx = await tenant_ctx()
    early = T0 - timedelta(days=20)
    nodes = [
        node("t", "trigger", kind="api"),
        node("w", "wait", kind="duration", seconds=600),
        node("x", "exit"),
    ]
    journey = await published(ctx, nodes, chain("t", "w", "x"))
    people = [await contact(ctx) for _ in range(7)]
    entries = [journey_enroll.Entry(p.id, {"name": "api"}) for p in people]
    runs = await journey_enroll.enroll_many(
        ctx.workspace_id, journey, entries, now=early, inline=True
    )
    assert all(r.status == "waiting" for r in runs)
    later = early + timedelta(minutes=11)
    # Two pages of three: six runs this sweep, the seventh in the next.
    with RECORDER.recording() as captured:
        assert await journey_wakeups.run_wakeups(later, inline=True, page=3, pages=2) == 6
    sweeps = [c for c in captured if c.collection == "enrollments" and "due_at" in c.filter]
    assert sweeps and all(c.sort == [("due_at", 1)] for c in sweeps if c.name == "find")
    states = [(await run_of(ctx, r.id)).status for r in runs]
    assert states.count("completed") == 6 and states.count("waiting") == 1
    assert await journey_wakeups.run_wakeups(later, inline=True, page=3, pages=2) == 1
    assert [(await run_of(ctx, r.id)).status for r in runs] == ["completed"] * 7
    assert await journey_wakeups.run_wakeups(later, inline=True, page=3, pages=2) == 0


async def test_the_sweep_leaves_runs_whose_step_message_is_still_queued(services):
    """A lease that ran out while the run's step message waits in a long queue is renewed,
    not answered with a second message (that made the queue longer: no-op steps); a run
    whose message the broker no longer holds is handed to a new one."""
    ctx = await tenant_ctx()
    nodes = [node("t", "trigger", kind="api"), node("x", "exit")]
    journey = await published(ctx, nodes, chain("t", "x"))
    queued_for, lost_for = await contact(ctx), await contact(ctx)
    # Still on its way: marked as handed out, its job not finished (queued, or retrying).
    pending = handoff.step_message(ctx.workspace_id, [])
    await runtime.get().redis.set(handoff._marker(pending.token), 1, ex=600)

    async def leased(who, handed):
        return await Enrollment(
            workspace_id=ctx.workspace_id,
            journey_id=journey.id,
            version=1,
            contact_id=who.id,
            node_id="t",
            entered_at=T0,
            due_at=T0,  # in the future for the real scheduler: only this test's sweep
            handed=handed,
        ).insert()

    queued = await leased(queued_for, pending.token)
    lost = await leased(lost_for, "a-message-nobody-holds")
    assert await handoff.still_on_the_way({pending.token, "a-message-nobody-holds"}) == {
        pending.token
    }
    sweep_at = T0 + timedelta(minutes=5)
    await journey_wakeups.run_wakeups(sweep_at)
    kept = await run_of(ctx, queued.id)
    assert kept.handed == pending.token and kept.status == "active"
    assert kept.due_at == sweep_at + journey_wakeups.LEASE  # leased again, no new message
    resent = await run_of(ctx, lost.id)
    assert resent.handed not in (None, "a-message-nobody-holds")
