"""Running campaigns: starting runs, resuming them, the end of a phase and of a run, and
completion (the fan-out itself is campaigns.fanout, the A/B winner campaigns.ab_test).

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
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from documents.base import EPOCH, up_to
from documents.campaign import Campaign, run_key
from documents.message import LIVE_STATUSES, OutboundMessage
from documents.workspace import Workspace
from engine import recurrence
from resolvers.campaigns import audience, send_times
from resolvers.campaigns.progress import progress_topic
from resolvers.core import audit, jobs, live
from resolvers.core.context import Principal
from resolvers.partners import outbox

log = logging.getLogger("reach.campaigns")


SWEEP_LIMIT = 200  # campaigns handled per scheduler tick and kind of work


STALLED = timedelta(minutes=2)  # a fan-out page takes seconds; this long means a lost job


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


async def status_changed(
    workspace_id: PydanticObjectId, campaign_id: PydanticObjectId, status: str, action: str
) -> None:
    """campaign.status_changed for partners, whoever moved the status (a user or a run)."""
    data = {"campaign_id": str(campaign_id), "status": status, "action": action}
    await outbox.emit(workspace_id, "campaign.status_changed", data)


async def load_campaign(workspace_id: str | PydanticObjectId, campaign_id: str) -> Campaign | None:
    return await Campaign.find_one(
        {"_id": PydanticObjectId(campaign_id), "workspace_id": PydanticObjectId(workspace_id)}
    )


def campaigns_collection():
    return Campaign.get_pymongo_collection()


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
            b: {"cursor": None, "done": False} for b in await audience.branches(campaign)
        }
    sto = schedule.get("sto") or {}
    if sto.get("enabled"):
        workspace = await Workspace.get(campaign.workspace_id)
        tz = schedule.get("timezone") or (workspace.timezone if workspace else "UTC")
        state["sto_hour"] = await send_times.workspace_hour(campaign.workspace_id, tz, now)
    # A conditional update by _id, then a read (findAndModify scans on SecantusDB).
    moved = await campaigns_collection().update_one(
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
    started = await load_campaign(campaign.workspace_id, str(campaign.id))
    if started is None:  # deleted right after the start
        return False
    campaign = started
    await record(campaign, "campaign.run_started", {"run": run, "phase": state["phase"]})
    await status_changed(campaign.workspace_id, campaign.id, "sending", "run_started")
    if campaign.kind == "triggered":
        return True  # active: each trigger event queues its own message
    if campaign.paid_audience:
        await jobs.enqueue(
            "campaign_paid_audience", str(campaign.workspace_id), str(campaign.id), run
        )
    if not state["branches"]:
        await phase_finished(campaign, run)
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


async def resume(campaign: Campaign) -> None:
    """Continue every unfinished branch of the current run from its stored cursor (a
    duplicate of a job still on its way is harmless: one of them moves the cursor)."""
    state = campaign.runs.get(run_key(campaign.run)) or {}
    if state.get("phase") not in ("all", "test", "rest"):
        return
    await campaigns_collection().update_one(
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


async def finish_run(campaign: Campaign, run: int, reason: str = "queued") -> None:
    """Every message of the run is queued: sent (or scheduled again when it recurs)."""
    now = datetime.now(UTC)
    status = "scheduled" if campaign.next_run_at is not None else "sent"
    moved = await campaigns_collection().update_one(
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
        await status_changed(campaign.workspace_id, campaign.id, status, "run_finished")
        await complete_if_done(campaign.workspace_id, campaign.id)


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
    moved = await campaigns_collection().update_one(
        {"_id": campaign_id, "workspace_id": workspace_id, "status": "sent"},
        {"$set": {"status": "completed", "completed_at": datetime.now(UTC)}},
    )
    if moved.modified_count != 1:
        return False
    completed = await load_campaign(workspace_id, str(campaign_id))
    if completed is not None:
        await record(completed, "campaign.completed", {})
        await status_changed(workspace_id, campaign_id, "completed", "completed")
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
        await campaigns_collection()
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
        await campaigns_collection()
        .find({"status": "sent"}, {"workspace_id": 1})
        .limit(SWEEP_LIMIT)
        .to_list(None)
    )
    for row in sent:
        await complete_if_done(row["workspace_id"], row["_id"])


async def phase_finished(campaign: Campaign, run: int) -> None:
    state = campaign.runs.get(run_key(run)) or {}
    if state.get("phase") == "test":
        decide_at = datetime.now(UTC) + timedelta(hours=float(campaign.ab_test["window_hours"]))
        moved = await campaigns_collection().update_one(
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
