"""Running campaigns: starting runs, the audience fan-out in pages, the A/B test phase and
its winner, the end of a run and completion.

A run starts with one conditional update (status scheduled -> sending where next_run_at
is still the value the starter read), so however many schedulers see it due, one starts
it. The fan-out is a chain of `campaign_fanout` jobs per branch (one branch, or one per
outlet), each handling one page of 500 contacts after the branch's stored cursor and
advancing the cursor with a conditional update: a duplicated job handles a page at most
once more (queueing is idempotent per contact and run) and never forks the chain.
Pausing stops the chain after its page; resuming re-enqueues it from the stored cursor.

Variant and channel are decided once per contact and run, when its message row is
queued (key f"campaign:{id}:{run}:{contact}"), so nothing is sent twice and no contact
changes variant between retries.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from documents.base import EPOCH, up_to
from documents.campaign import Campaign, run_key
from documents.message import LIVE_STATUSES, OutboundMessage
from documents.workspace import Workspace
from engine import ab, recurrence
from resolvers import (
    audit,
    campaign_analytics,
    campaign_audience,
    campaign_sto,
    jobs,
    live,
    sending,
)
from resolvers.context import Principal

log = logging.getLogger("reach.campaigns")

SWEEP_LIMIT = 200  # campaigns handled per scheduler tick and kind of work
STALLED = timedelta(minutes=2)  # a fan-out page takes seconds; this long means a lost job
FANOUT_PROJECTION = {"_id": 1, "location_id": 1, "properties.timezone": 1}


def progress_topic(campaign_id: Any) -> str:
    return f"campaign:{campaign_id}:progress"


def message_key(campaign_id: Any, run: int, contact_id: Any) -> str:
    return f"campaign:{campaign_id}:{run}:{contact_id}"


async def system_principal(workspace_id: PydanticObjectId) -> Principal:
    workspace = await Workspace.get(workspace_id)
    return Principal(
        kind="system",
        workspace_id=workspace_id,
        organization_id=workspace.organization_id if workspace else workspace_id,
        permissions=frozenset(),
        label="Reach scheduler",
    )


async def record(campaign: Campaign, action: str, details: dict[str, Any]) -> None:
    """Audit a transition the system made (runs, winners, completion)."""
    principal = await system_principal(campaign.workspace_id)
    await audit.record(principal, action, "campaign", campaign.id, details)
    await live.publish(campaign.workspace_id, progress_topic(campaign.id), {"action": action})


async def _load(workspace_id: str | PydanticObjectId, campaign_id: str) -> Campaign | None:
    return await Campaign.find_one(
        {"_id": PydanticObjectId(campaign_id), "workspace_id": PydanticObjectId(workspace_id)}
    )


def _collection():
    return Campaign.get_pymongo_collection()


# --- starting runs -----------------------------------------------------------------------


def _has_test_phase(campaign: Campaign) -> bool:
    test = campaign.ab_test or {}
    return bool(test.get("test_fraction")) and campaign.kind != "triggered"


async def start_run(campaign: Campaign, now: datetime | None = None) -> bool:
    """Start the campaign's next run if it is (still) due; True if this call started it."""
    now = now or datetime.now(UTC)
    due = campaign.next_run_at
    if campaign.status != "scheduled" or due is None or due > now:
        return False
    schedule = campaign.schedule or {}
    run = campaign.run + 1
    next_at = None
    if schedule.get("recurrence"):
        next_at = recurrence.next_run(schedule["recurrence"], max(now, due))
    state: dict[str, Any] = {
        "phase": "test" if _has_test_phase(campaign) else "all",
        "branches": {},
        "started_at": now,
        "sto_hour": None,
        "winner": None,
    }
    if campaign.kind != "triggered":
        state["branches"] = {
            b: {"cursor": None, "done": False} for b in await campaign_audience.branches(campaign)
        }
    sto = schedule.get("sto") or {}
    if sto.get("enabled"):
        workspace = await Workspace.get(campaign.workspace_id)
        tz = schedule.get("timezone") or (workspace.timezone if workspace else "UTC")
        state["sto_hour"] = await campaign_sto.workspace_hour(campaign.workspace_id, tz, now)
    # A conditional update by _id, then a read (findAndModify scans on SecantusDB).
    moved = await _collection().update_one(
        {
            "_id": campaign.id,
            "workspace_id": campaign.workspace_id,
            "status": "scheduled",
            "next_run_at": due,
        },
        {
            "$set": {
                "status": "sending",
                "run": run,
                f"runs.{run_key(run)}": state,
                "next_run_at": next_at,
                "started_at": now,
                "decide_at": None,
                "fanout_at": now if state["branches"] else None,
            }
        },
    )
    if moved.modified_count != 1:
        return False
    started = await _load(campaign.workspace_id, str(campaign.id))
    if started is None:  # deleted right after the start
        return False
    campaign = started
    await record(campaign, "campaign.run_started", {"run": run, "phase": state["phase"]})
    if campaign.kind == "triggered":
        return True  # active: each trigger event queues its own message
    if campaign.paid_audience:
        await jobs.enqueue(
            "campaign_paid_audience", str(campaign.workspace_id), str(campaign.id), run
        )
    if not state["branches"]:
        await _phase_finished(campaign, run)
    await jobs.enqueue_many(
        "campaign_fanout",
        [(str(campaign.workspace_id), str(campaign.id), run, b) for b in state["branches"]],
    )
    return True


async def start_due(now: datetime | None = None) -> int:
    """Scheduler: start every run whose time has come (scheduled and recurring)."""
    now = now or datetime.now(UTC)
    due = (
        # On (status, next_run_at); a range never matches a null next_run_at.
        await Campaign.find({"status": "scheduled", "next_run_at": up_to(now)})
        .limit(SWEEP_LIMIT)
        .to_list()
    )
    started = 0
    for campaign in due:
        try:
            started += await start_run(campaign, now)
        except Exception:
            log.exception("starting campaign %s failed", campaign.id)
    return started


# --- fan-out -------------------------------------------------------------------------------


def _weights(campaign: Campaign) -> list[int]:
    return [int(v["weight"]) for v in campaign.variants]


def _variant_for(campaign: Campaign, state: dict[str, Any], contact_id: str) -> dict | None:
    """The variant this contact gets in this phase, or None when the phase skips it."""
    salt = str(campaign.id)
    phase = state["phase"]
    if phase in ("test", "rest"):
        in_test = ab.in_test_group(contact_id, salt, float(campaign.ab_test["test_fraction"]))
        if (phase == "test") != in_test:
            return None
        if phase == "rest":
            return next(v for v in campaign.variants if v["key"] == state["winner"])
    return campaign.variants[ab.assign(contact_id, salt, _weights(campaign))]


def _reason_key(reason: str | None) -> str:
    """The reason's leading word ("no_channel (email: unsubscribed)" -> "no_channel")."""
    head = re.match(r"[a-z0-9_]+", (reason or "").strip().lower())
    return head.group(0)[:40] if head else "unknown"


def tally(results: list[Any]) -> dict[str, int]:
    """Counter increments from sending.queue's answers."""
    counts: dict[str, int] = {}
    for result in results:
        if result.status == "skipped":
            key = f"counters.skipped:{_reason_key(result.reason)}"
        elif result.status == "scheduled" and result.reason:
            key = f"counters.held:{_reason_key(result.reason)}"
        else:
            continue
        counts[key] = counts.get(key, 0) + 1
    return counts


async def _send_times(
    campaign: Campaign, state: dict[str, Any], contacts: list[dict[str, Any]], now: datetime
) -> dict[str, datetime | None]:
    sto = (campaign.schedule or {}).get("sto") or {}
    if not sto.get("enabled") or state["phase"] == "rest":
        return {}
    workspace = await Workspace.get(campaign.workspace_id)
    tz = (campaign.schedule or {}).get("timezone") or (workspace.timezone if workspace else "UTC")
    started = state["started_at"]
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    end = started + timedelta(hours=float(sto.get("window_hours") or 24))
    return await campaign_sto.send_times(
        campaign.workspace_id,
        contacts,
        fallback_tz=tz,
        fallback_hour=state.get("sto_hour"),
        start=max(now, started),
        end=end,
    )


async def fanout_page(workspace_id: str, campaign_id: str, run: int, branch: str) -> None:
    """Queue one page of a branch's audience and move its cursor; enqueue the next page,
    or finish the branch (and the phase, when it was the last branch)."""
    campaign = await _load(workspace_id, campaign_id)
    if campaign is None or campaign.status != "sending" or campaign.run != run:
        return  # paused, cancelled or superseded: resume re-enqueues from the cursor
    state = campaign.runs.get(run_key(run)) or {}
    position = (state.get("branches") or {}).get(branch)
    if state.get("phase") not in ("all", "test", "rest") or not position or position["done"]:
        return
    cursor = position["cursor"]
    now = datetime.now(UTC)
    contacts = await campaign_audience.page(campaign, branch, cursor, FANOUT_PROJECTION)
    location_id = campaign_audience.branch_location(campaign, branch)
    send_at = await _send_times(campaign, state, contacts, now)
    requests = []
    for contact in contacts:
        contact_id = str(contact["_id"])
        variant = _variant_for(campaign, state, contact_id)
        if variant is None:
            continue
        requests.append(
            sending.SendRequest(
                workspace_id=campaign.workspace_id,
                contact_id=contact["_id"],
                source="campaign",
                source_id=str(campaign.id),
                idempotency_key=message_key(campaign.id, run, contact_id),
                channels=list(campaign.channels),
                content={c: variant["content"].get(c, {}) for c in campaign.channels},
                variant=variant["key"],
                location_id=location_id,
                run=run,
                not_before=send_at.get(contact_id),
            )
        )
    results = await sending.queue(requests) if requests else []
    done = len(contacts) < campaign_audience.PAGE
    path = f"runs.{run_key(run)}.branches.{branch}"
    moved = await _collection().update_one(
        {"_id": campaign.id, "workspace_id": campaign.workspace_id, f"{path}.cursor": cursor},
        {
            "$set": {
                f"{path}.cursor": str(contacts[-1]["_id"]) if contacts else cursor,
                f"{path}.done": done,
                "fanout_at": now,
            },
            "$inc": {f"runs.{run_key(run)}.targeted": len(requests), **tally(results)},
        },
    )
    if moved.modified_count == 0:
        return  # a duplicate of this job handled the page first
    await live.publish(campaign.workspace_id, progress_topic(campaign.id), {"run": run})
    fresh = await _load(workspace_id, campaign_id)
    if fresh is None:
        return
    if fresh.status == "paused":
        # Paused while this page was queued: hold what the page just added.
        await sending.hold(campaign.workspace_id, str(campaign.id))
        return
    if fresh.status == "cancelled":
        await drop_unsent(fresh)
        return
    if not done:
        await jobs.enqueue("campaign_fanout", workspace_id, campaign_id, run, branch)
        return
    branches = (fresh.runs.get(run_key(run)) or {}).get("branches") or {}
    if all(b["done"] for b in branches.values()):
        await _phase_finished(fresh, run)


async def drop_unsent(campaign: Campaign) -> None:
    """A cancelled campaign's messages not yet handed to a provider are skipped."""
    await sending.cancel(campaign.workspace_id, str(campaign.id))


async def resume(campaign: Campaign) -> None:
    """Continue every unfinished branch of the current run from its stored cursor (a
    duplicate of a job still on its way is harmless: one of them moves the cursor)."""
    state = campaign.runs.get(run_key(campaign.run)) or {}
    if state.get("phase") not in ("all", "test", "rest"):
        return
    await _collection().update_one(
        {"_id": campaign.id, "workspace_id": campaign.workspace_id},
        {"$set": {"fanout_at": datetime.now(UTC)}},
    )
    ws, cid = str(campaign.workspace_id), str(campaign.id)
    await jobs.enqueue_many(
        "campaign_fanout",
        [
            (ws, cid, campaign.run, branch)
            for branch, position in (state.get("branches") or {}).items()
            if not position["done"]
        ],
    )


# --- the end of a phase, the A/B decision, the end of a run ------------------------------


async def _phase_finished(campaign: Campaign, run: int) -> None:
    state = campaign.runs.get(run_key(run)) or {}
    if state.get("phase") == "test":
        decide_at = datetime.now(UTC) + timedelta(hours=float(campaign.ab_test["window_hours"]))
        moved = await _collection().update_one(
            {
                "_id": campaign.id,
                "workspace_id": campaign.workspace_id,
                f"runs.{run_key(run)}.phase": "test",
            },
            {
                "$set": {
                    f"runs.{run_key(run)}.phase": "waiting",
                    "decide_at": decide_at,
                    "fanout_at": None,
                }
            },
        )
        if moved.modified_count:
            await record(campaign, "campaign.test_sent", {"run": run, "decide_at": str(decide_at)})
        return
    await finish_run(campaign, run)


async def finish_run(campaign: Campaign, run: int, reason: str = "queued") -> None:
    """Every message of the run is queued: sent (or scheduled again when it recurs)."""
    now = datetime.now(UTC)
    status = "scheduled" if campaign.next_run_at is not None else "sent"
    moved = await _collection().update_one(
        {
            "_id": campaign.id,
            "workspace_id": campaign.workspace_id,
            "run": run,
            "status": "sending",
            f"runs.{run_key(run)}.phase": {"$in": ["all", "rest", "waiting"]},
        },
        {
            "$set": {
                f"runs.{run_key(run)}.phase": "done",
                f"runs.{run_key(run)}.finished_at": now,
                "decide_at": None,
                "fanout_at": None,
                "status": status,
                "sent_at": now,
            }
        },
    )
    if moved.modified_count:
        await record(campaign, "campaign.sent", {"run": run, "status": status, "why": reason})
        await complete_if_done(campaign.workspace_id, campaign.id)


def _winner_phase(campaign: Campaign, run: int, winner: str) -> dict[str, Any]:
    state = campaign.runs[run_key(run)]
    return {
        f"runs.{run_key(run)}.phase": "rest",
        f"runs.{run_key(run)}.winner": winner,
        f"runs.{run_key(run)}.branches": {
            b: {"cursor": None, "done": False} for b in state.get("branches") or {}
        },
        "decide_at": None,
    }


async def decide(workspace_id: str, campaign_id: str, run: int) -> None:
    """Compare the variants of a run's test phase; with a winner (significant, or the best
    when the window closed), send it to the rest of the audience; `stop` ends the run."""
    campaign = await _load(workspace_id, campaign_id)
    if campaign is None or campaign.status != "sending" or campaign.run != run:
        return
    state = campaign.runs.get(run_key(run)) or {}
    if state.get("phase") != "waiting":
        return
    test = campaign.ab_test or {}
    now = datetime.now(UTC)
    decide_at = campaign.decide_at or now
    if decide_at.tzinfo is None:
        decide_at = decide_at.replace(tzinfo=UTC)
    final = now >= decide_at
    stats = await campaign_analytics.variant_metric(campaign, run, test.get("metric", "open"))
    keys = [v["key"] for v in campaign.variants]
    pairs = [stats.get(k, (0, 0)) for k in keys]
    decision = ab.decide(pairs, final=final, on_timeout=test.get("on_timeout", "best"))
    if decision.winner is None and not final:
        return
    details = {
        "run": run,
        "winner": keys[decision.winner] if decision.winner is not None else None,
        "p_value": decision.p_value,
        "reason": decision.reason,
        "variants": {
            k: {"successes": s, "trials": t} for k, (s, t) in zip(keys, pairs, strict=True)
        },
    }
    if decision.winner is None:
        await _collection().update_one(
            {"_id": campaign.id, "workspace_id": campaign.workspace_id},
            {"$set": {f"runs.{run_key(run)}.decision": details}},
        )
        await record(campaign, "campaign.test_stopped", details)
        await finish_run(campaign, run, reason="ab_test_stopped")
        return
    winner = keys[decision.winner]
    moved = await _collection().update_one(
        {
            "_id": campaign.id,
            "workspace_id": campaign.workspace_id,
            f"runs.{run_key(run)}.phase": "waiting",
        },
        {
            "$set": {
                **_winner_phase(campaign, run, winner),
                f"runs.{run_key(run)}.decision": details,
            }
        },
    )
    if not moved.modified_count:
        return
    await record(campaign, "campaign.winner_chosen", details)
    fresh = await _load(workspace_id, campaign_id)
    if fresh is not None:
        await resume(fresh)


async def complete_if_done(workspace_id: PydanticObjectId, campaign_id: PydanticObjectId) -> bool:
    """sent -> completed once none of its messages is still live."""
    live_rows = await OutboundMessage.get_pymongo_collection().count_documents(
        {
            "workspace_id": workspace_id,
            "source_id": str(campaign_id),
            "status": {"$in": list(LIVE_STATUSES)},
        },
        limit=1,
    )
    if live_rows:
        return False
    moved = await _collection().update_one(
        {"_id": campaign_id, "workspace_id": workspace_id, "status": "sent"},
        {"$set": {"status": "completed", "completed_at": datetime.now(UTC)}},
    )
    if moved.modified_count != 1:
        return False
    completed = await _load(workspace_id, str(campaign_id))
    if completed is not None:
        await record(completed, "campaign.completed", {})
    return True


async def revive_stalled(now: datetime) -> int:
    """A fan-out whose job was lost (a worker killed, a Redis message gone) has not moved
    its cursor for STALLED: continue it from the stored cursor."""
    stalled = (
        await Campaign.find(
            # On (status, fanout_at); a range never matches the None of a waiting A/B test.
            {"status": "sending", "fanout_at": up_to(now - STALLED, inclusive=False)}
        )
        .limit(SWEEP_LIMIT)
        .to_list()
    )
    for campaign in stalled:
        log.warning("campaign %s fan-out stalled; continuing from its cursor", campaign.id)
        await resume(campaign)
    return len(stalled)


async def tick(now: datetime | None = None) -> None:
    """The periodic campaign job: start due runs, check A/B tests, complete finished ones,
    continue stalled fan-outs."""
    now = now or datetime.now(UTC)
    await start_due(now)
    await revive_stalled(now)
    waiting = (
        await _collection()
        # Every waiting A/B test, due or not (decide may pick a significant winner before
        # its window closes): any date, on (status, decide_at); a range never matches None.
        .find({"status": "sending", "decide_at": {"$gte": EPOCH}}, {"workspace_id": 1, "run": 1})
        .limit(SWEEP_LIMIT)
        .to_list(None)
    )
    for row in waiting:
        await jobs.enqueue(
            "campaign_decide_winner", str(row["workspace_id"]), str(row["_id"]), row["run"]
        )
    sent = (
        await _collection()
        .find({"status": "sent"}, {"workspace_id": 1})
        .limit(SWEEP_LIMIT)
        .to_list(None)
    )
    for row in sent:
        await complete_if_done(row["workspace_id"], row["_id"])
