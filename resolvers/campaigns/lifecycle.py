"""Campaign lifecycle: schedule, approval, pause, resume, cancel; every transition audited.

Scheduling validates the whole campaign (campaigns.launch_checks) and returns every
problem; in a workspace with `approval_required` it also needs an approval by someone
with the approve permission (requestCampaignApproval -> approveCampaign, which launches
it, or rejectCampaign with a comment, which returns it to draft with the comment kept).
Transitions are conditional updates on the status read, so two callers racing cannot
both pause, launch or cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from documents.campaign import Campaign
from documents.workspace import Workspace
from engine import recurrence
from engine.access import Permission
from engine.errors import Conflict, Forbidden, InvalidInput
from resolvers.campaigns import fanout, launch_checks, listeners, progress, runs, validation
from resolvers.campaigns.define import reload_campaign, require_campaign
from resolvers.core import audit, live
from resolvers.core.context import RequestContext
from resolvers.messaging import queue

# "sent": the fan-out has queued everything, deliveries may still go on for hours.
PAUSABLE = ("scheduled", "sending", "sent")


CANCELLABLE = ("pending_approval", "scheduled", "sending", "paused")


PAST_TOLERANCE = timedelta(minutes=1)


class WrongState(Conflict):
    code = "CAMPAIGN_STATE"


async def _transition(
    ctx: RequestContext,
    campaign: Campaign,
    allowed: tuple[str, ...],
    sets: dict[str, Any],
    action: str,
    details: dict[str, Any] | None = None,
) -> Campaign:
    moved = await Campaign.get_pymongo_collection().update_one(
        {"_id": campaign.id, "workspace_id": ctx.workspace_id, "status": {"$in": list(allowed)}},
        {"$set": {**sets, "updated_at": datetime.now(UTC)}},
    )
    if not moved.modified_count:
        fresh = await reload_campaign(campaign)
        raise WrongState(
            f"A {fresh.status if fresh else 'deleted'} campaign cannot be {action}.", field="id"
        )
    await audit.record(ctx.principal, f"campaign.{action}", "campaign", campaign.id, details or {})
    if "status" in sets:
        await runs.status_changed(ctx.workspace_id, campaign.id, sets["status"], action)
    await live.publish(ctx.workspace_id, progress.progress_topic(campaign.id), {"action": action})
    return await reload_campaign(campaign)


def _first_run(campaign: Campaign, now: datetime) -> datetime:
    schedule = campaign.schedule or {}
    send_at = schedule.get("send_at")
    if send_at is not None and send_at.tzinfo is None:
        send_at = send_at.replace(tzinfo=UTC)
    if send_at is not None and send_at < now - PAST_TOLERANCE:
        raise validation.Problems([InvalidInput("sendAt is in the past.", field="schedule.sendAt")])
    start = max(now, send_at or now)
    if schedule.get("recurrence"):
        first = recurrence.next_run(schedule["recurrence"], start - timedelta(microseconds=1))
        if first is None:
            raise validation.Problems(
                [InvalidInput("The recurrence has no run left.", field="schedule.recurrence")]
            )
        return first
    return start


async def _approval_needed(ctx: RequestContext) -> bool:
    workspace = await Workspace.get(ctx.workspace_id)
    return bool(workspace and workspace.approval_required)


async def _launch(
    ctx: RequestContext,
    campaign: Campaign,
    allowed: tuple[str, ...],
    approval: dict[str, Any] | None,
    action: str,
) -> Campaign:
    await launch_checks.check(campaign)
    now = datetime.now(UTC)
    first = _first_run(campaign, now)
    sets: dict[str, Any] = {"status": "scheduled", "scheduled_at": now, "next_run_at": first}
    if approval is not None:
        sets["approval"] = approval
    campaign = await _transition(
        ctx, campaign, allowed, sets, action, {"next_run_at": first.isoformat()}
    )
    await listeners.register(campaign)
    if first <= now:
        await runs.start_run(campaign, now)
    return await reload_campaign(campaign)


async def schedule_campaign(ctx: RequestContext, campaign_id: str) -> Campaign:
    """Validate everything and schedule (or start now). Needs an approval first when the
    workspace requires one, unless the caller may approve (its launch is its sign-off)."""
    ctx.require(Permission.WRITE)
    campaign = await require_campaign(ctx, campaign_id)
    if campaign.status != "draft":
        raise WrongState(f"A {campaign.status} campaign cannot be scheduled.", field="id")
    approval = None
    if await _approval_needed(ctx) and (campaign.approval or {}).get("state") != "approved":
        if not ctx.principal.can(Permission.APPROVE):
            raise Forbidden(
                "This workspace requires an approval before scheduling; request one.",
                field="id",
                code="APPROVAL_REQUIRED",
            )
        approval = {
            "state": "approved",
            "requested_by": ctx.principal.label,
            "decided_by": ctx.principal.label,
            "comment": "scheduled by an approver",
            "at": datetime.now(UTC),
        }
    return await _launch(ctx, campaign, ("draft",), approval, "scheduled")


async def request_approval(ctx: RequestContext, campaign_id: str) -> Campaign:
    ctx.require(Permission.WRITE)
    campaign = await require_campaign(ctx, campaign_id)
    if campaign.status != "draft":
        raise WrongState(f"A {campaign.status} campaign cannot be sent for approval.", field="id")
    await launch_checks.check(campaign)
    approval = {
        "state": "pending",
        "requested_by": ctx.principal.label,
        "decided_by": None,
        "comment": None,
        "at": datetime.now(UTC),
    }
    return await _transition(
        ctx,
        campaign,
        ("draft",),
        {"status": "pending_approval", "approval": approval},
        "approval_requested",
    )


def _comment(comment: str | None, required: bool) -> str | None:
    text = (comment or "").strip()
    if required and not text:
        raise InvalidInput("Say why the campaign is rejected.", field="comment")
    if len(text) > 2000:
        raise InvalidInput("A comment may be at most 2000 characters.", field="comment")
    return text or None


async def approve_campaign(
    ctx: RequestContext, campaign_id: str, comment: str | None = None
) -> Campaign:
    """Sign off a pending campaign: it is validated again and scheduled as requested."""
    ctx.require(Permission.APPROVE)
    campaign = await require_campaign(ctx, campaign_id)
    if campaign.status != "pending_approval":
        raise WrongState(f"A {campaign.status} campaign is not waiting for approval.", field="id")
    approval = {
        **(campaign.approval or {}),
        "state": "approved",
        "decided_by": ctx.principal.label,
        "comment": _comment(comment, required=False),
        "at": datetime.now(UTC),
    }
    return await _launch(ctx, campaign, ("pending_approval",), approval, "approved")


async def reject_campaign(ctx: RequestContext, campaign_id: str, comment: str) -> Campaign:
    ctx.require(Permission.APPROVE)
    text = _comment(comment, required=True)
    campaign = await require_campaign(ctx, campaign_id)
    approval = {
        **(campaign.approval or {}),
        "state": "rejected",
        "decided_by": ctx.principal.label,
        "comment": text,
        "at": datetime.now(UTC),
    }
    return await _transition(
        ctx,
        campaign,
        ("pending_approval",),
        {"status": "draft", "approval": approval},
        "rejected",
        {"comment": text},
    )


async def pause_campaign(ctx: RequestContext, campaign_id: str) -> Campaign:
    """Hold every message not yet handed to a provider; the fan-out stops after its page.
    Works while deliveries go on after the fan-out queued everything (status sent): rows
    a delivery batch has already claimed go out, every other one waits for resume."""
    ctx.require(Permission.WRITE)
    campaign = await require_campaign(ctx, campaign_id)
    try:
        campaign = await _pause(ctx, campaign)
    except WrongState:  # the fan-out moved sending -> sent between the read and the update
        fresh = await reload_campaign(campaign)
        if fresh is None or fresh.status == campaign.status or fresh.status not in PAUSABLE:
            raise
        campaign = await _pause(ctx, fresh)
    held = await queue.hold(ctx.workspace_id, str(campaign.id))
    await Campaign.get_pymongo_collection().update_one(
        {"_id": campaign.id, "workspace_id": ctx.workspace_id}, {"$set": {"held_on_pause": held}}
    )
    return await reload_campaign(campaign)


async def _pause(ctx: RequestContext, campaign: Campaign) -> Campaign:
    """Conditional on the status read, so that resume returns to what was paused."""
    allowed = (campaign.status,) if campaign.status in PAUSABLE else PAUSABLE
    sets = {"status": "paused", "paused_from": campaign.status}
    return await _transition(ctx, campaign, allowed, sets, "paused")


async def resume_campaign(ctx: RequestContext, campaign_id: str) -> Campaign:
    """Release the held messages and continue the fan-out from where it stopped (a
    campaign paused after its fan-out returns to sent and completes as its rows do)."""
    ctx.require(Permission.WRITE)
    campaign = await require_campaign(ctx, campaign_id)
    back_to = campaign.paused_from or "sending"
    campaign = await _transition(
        ctx, campaign, ("paused",), {"status": back_to, "paused_from": None}, "resumed"
    )
    await queue.release(ctx.workspace_id, str(campaign.id))
    if back_to == "sending":
        await runs.resume(campaign)
    return await reload_campaign(campaign)


async def cancel_campaign(ctx: RequestContext, campaign_id: str) -> Campaign:
    """Stop for good: nothing more is queued; messages not yet sent are skipped."""
    ctx.require(Permission.WRITE)
    campaign = await require_campaign(ctx, campaign_id)
    campaign = await _transition(
        ctx, campaign, CANCELLABLE, {"status": "cancelled", "next_run_at": None}, "cancelled"
    )
    await fanout.drop_unsent(campaign)
    await listeners.unregister(campaign)
    return campaign
