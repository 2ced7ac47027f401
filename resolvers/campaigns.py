"""Campaigns of the caller's workspace: define drafts, launch them, approve, pause, resume,
cancel; every transition audited.

Only drafts are editable (anything else answers CAMPAIGN_LOCKED). Scheduling validates
the whole campaign (campaign_launch) and returns every problem; in a workspace with
`approval_required` it also needs an approval by someone with the approve permission
(requestCampaignApproval -> approveCampaign, which launches it, or rejectCampaign with a
comment, which returns it to draft with the comment kept). Transitions are conditional
updates on the status read, so two callers racing cannot both pause, launch or cancel.
Running lives in campaign_runs, reacting to events in campaign_triggers.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from documents.campaign import Campaign
from documents.workspace import Workspace
from engine import recurrence
from engine.access import Permission
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.goals import GOALS
from engine.names import clean_name
from resolvers import (
    audit,
    campaign_analytics,
    campaign_input,
    campaign_launch,
    campaign_runs,
    campaign_triggers,
    live,
    sending,
    templates,
    vault,
)
from resolvers.context import RequestContext, parse_id
from resolvers.locations import get_location
from resolvers.pagination import Page, paginate

EDITABLE = ("draft",)
PAUSABLE = ("scheduled", "sending")
CANCELLABLE = ("pending_approval", "scheduled", "sending", "paused")
PAST_TOLERANCE = timedelta(minutes=1)


class Locked(Conflict):
    code = "CAMPAIGN_LOCKED"


class WrongState(Conflict):
    code = "CAMPAIGN_STATE"


# --- reading ---------------------------------------------------------------------------------


async def get_campaign(ctx: RequestContext, campaign_id: str) -> Campaign | None:
    ctx.require(Permission.READ)
    oid = parse_id(campaign_id)
    if oid is None:
        return None
    return await Campaign.find_one({"_id": oid, "workspace_id": ctx.workspace_id})


async def _existing(ctx: RequestContext, campaign_id: str, field: str = "id") -> Campaign:
    campaign = await get_campaign(ctx, campaign_id)
    if campaign is None:
        raise NotFound("Campaign not found.", field=field)
    return campaign


async def _stored(campaign: Campaign) -> Campaign:
    return await Campaign.find_one({"_id": campaign.id, "workspace_id": campaign.workspace_id})


async def list_campaigns(
    ctx: RequestContext, first: int | None, after: str | None, status: str | None = None
) -> Page:
    ctx.require(Permission.READ)
    query: dict[str, Any] = {"workspace_id": ctx.workspace_id}
    if status is not None:
        query["status"] = status
    return await paginate(Campaign, query, first, after, newest_first=True)


def goal_catalogue() -> list[Any]:
    return list(GOALS.values())


# --- drafts ----------------------------------------------------------------------------------


async def _settings(ctx: RequestContext, data: dict[str, Any]) -> dict[str, Any]:
    """The stored form of the input (every shape problem at once), outlet checked,
    a webhook secret sealed."""
    data = await _picked_templates(ctx, data)
    sets = campaign_input.clean(data)
    if "location_id" in data:
        sets["location_id"] = None
        if data["location_id"] is not None:
            location = await get_location(ctx, data["location_id"])
            if location is None:
                raise NotFound("Location not found.", field="locationId")
            sets["location_id"] = location.id
    paid = sets.get("paid_audience")
    if paid and paid.get("kind") == "webhook":
        paid["secret"] = vault.seal({"secret": paid["secret"]}) if paid.get("secret") else ""
    return sets


async def _picked_templates(ctx: RequestContext, data: dict[str, Any]) -> dict[str, Any]:
    """A variant's `template_ids` ({channel: template id}) copies those templates' fields
    into its content: a copy, because a scheduled campaign is locked and must not change
    when someone edits the template later."""
    variants = data.get("variants")
    if not isinstance(variants, list):
        return data
    expanded = []
    for i, variant in enumerate(variants):
        if not isinstance(variant, dict):
            expanded.append(variant)
            continue
        picked = variant.get("template_ids")
        if not picked:
            expanded.append({k: v for k, v in variant.items() if k != "template_ids"})
            continue
        if not isinstance(picked, dict):
            raise InvalidInput(
                "templateIds maps a channel to a template id.", field=f"variants[{i}].templateIds"
            )
        content = dict(variant.get("content") or {})
        for channel, template_id in picked.items():
            at = f"variants[{i}].templateIds.{channel}"
            template = await templates.get_template(ctx, str(template_id))
            if template is None:
                raise NotFound("No such template in this workspace.", field=at)
            if template.channel != channel:
                raise InvalidInput(f"That template is for {template.channel}.", field=at)
            content[channel] = dict(template.fields)
        expanded.append(
            {k: v for k, v in variant.items() if k != "template_ids"} | {"content": content}
        )
    return {**data, "variants": expanded}


async def create_campaign(ctx: RequestContext, data: dict[str, Any]) -> Campaign:
    ctx.require(Permission.WRITE)
    sets = await _settings(ctx, {**data, "name": data.get("name") or ""})
    campaign = Campaign(workspace_id=ctx.workspace_id, created_by=ctx.principal.label, **sets)
    await campaign.insert()
    await audit.record(
        ctx.principal, "campaign.created", "campaign", campaign.id, {"name": campaign.name}
    )
    return campaign


async def create_from_goal(
    ctx: RequestContext,
    goal_key: str,
    name: str | None = None,
    segment_id: str | None = None,
) -> Campaign:
    """Simple mode: a draft from a goal's starter message, its conversion event, and a
    segment: the one given, or a new one built from the goal's suggested rules."""
    from resolvers import segments  # a campaign creates a segment only here

    ctx.require(Permission.WRITE)
    goal = GOALS.get(goal_key)
    if goal is None:
        raise InvalidInput(f"Unknown goal; one of {', '.join(sorted(GOALS))}.", field="goal")
    if segment_id is not None:
        segment = await segments.get_segment(ctx, segment_id)
        if segment is None:
            raise NotFound("Segment not found.", field="segmentId")
    else:
        segment = await segments.create_segment(
            ctx,
            {
                "name": f"{goal.label} audience",
                "description": f"Suggested for the {goal.label} goal.",
                "rules": goal.suggested_rules,
            },
        )
    data: dict[str, Any] = {
        "name": name or goal.label,
        "goal": goal.key,
        "description": goal.description,
        "mode": "simple",
        "kind": "one_time",
        "segment_ids": [str(segment.id)],
        "channels": list(goal.starter),
        # A copy: the catalogue entry is shared by every campaign made from it.
        "variants": [{"key": "A", "weight": 100, "content": copy.deepcopy(goal.starter)}],
    }
    if goal.conversion_event:
        data["conversion_goal"] = {"event": goal.conversion_event, "window_hours": 72}
    return await create_campaign(ctx, data)


async def update_campaign(ctx: RequestContext, campaign_id: str, data: dict[str, Any]) -> Campaign:
    """Change a draft. An approval given earlier no longer holds for changed content."""
    ctx.require(Permission.WRITE)
    campaign = await _existing(ctx, campaign_id)
    if campaign.status not in EDITABLE:
        raise Locked(f"A {campaign.status} campaign cannot be edited.", field="id")
    sets = await _settings(ctx, data)
    sets["updated_at"] = datetime.now(UTC)
    if (campaign.approval or {}).get("state") == "approved":
        sets["approval"] = None
    moved = await Campaign.get_pymongo_collection().update_one(
        {"_id": campaign.id, "workspace_id": ctx.workspace_id, "status": {"$in": list(EDITABLE)}},
        {"$set": sets},
    )
    if not moved.modified_count:
        raise Locked("The campaign is no longer a draft.", field="id")
    await audit.record(
        ctx.principal,
        "campaign.updated",
        "campaign",
        campaign.id,
        {"fields": sorted(k for k in sets if k != "updated_at")},
    )
    return await _stored(campaign)


DEFINITION = (
    "description",
    "tags",
    "mode",
    "goal",
    "kind",
    "segment_ids",
    "exclude_segment_ids",
    "location_id",
    "all_outlets",
    "channels",
    "variants",
    "ab_test",
    "schedule",
    "trigger",
    "paid_audience",
    "conversion_goal",
)


async def duplicate_campaign(ctx: RequestContext, campaign_id: str, name: str | None) -> Campaign:
    """A new draft with the same definition (no runs, counters or approval)."""
    ctx.require(Permission.WRITE)
    source = await _existing(ctx, campaign_id)
    copy = Campaign(
        workspace_id=ctx.workspace_id,
        name=clean_name(name or f"{source.name} (copy)", "name"),
        created_by=ctx.principal.label,
        **{k: getattr(source, k) for k in DEFINITION},
    )
    await copy.insert()
    await audit.record(
        ctx.principal, "campaign.duplicated", "campaign", copy.id, {"from": str(source.id)}
    )
    return copy


async def delete_campaign(ctx: RequestContext, campaign_id: str) -> str:
    ctx.require(Permission.WRITE)
    campaign = await _existing(ctx, campaign_id)
    deleted = await Campaign.get_pymongo_collection().delete_one(
        {"_id": campaign.id, "workspace_id": ctx.workspace_id, "status": "draft"}
    )
    if not deleted.deleted_count:
        raise Locked("Only drafts can be deleted; cancel the campaign instead.", field="id")
    await campaign_triggers.unregister(campaign)
    await audit.record(
        ctx.principal, "campaign.deleted", "campaign", campaign.id, {"name": campaign.name}
    )
    return str(campaign.id)


# --- launching and approvals ---------------------------------------------------------------


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
        fresh = await _stored(campaign)
        raise WrongState(
            f"A {fresh.status if fresh else 'deleted'} campaign cannot be {action}.", field="id"
        )
    await audit.record(ctx.principal, f"campaign.{action}", "campaign", campaign.id, details or {})
    await live.publish(
        ctx.workspace_id, campaign_runs.progress_topic(campaign.id), {"action": action}
    )
    return await _stored(campaign)


def _first_run(campaign: Campaign, now: datetime) -> datetime:
    schedule = campaign.schedule or {}
    send_at = schedule.get("send_at")
    if send_at is not None and send_at.tzinfo is None:
        send_at = send_at.replace(tzinfo=UTC)
    if send_at is not None and send_at < now - PAST_TOLERANCE:
        raise campaign_input.Problems(
            [InvalidInput("sendAt is in the past.", field="schedule.sendAt")]
        )
    start = max(now, send_at or now)
    if schedule.get("recurrence"):
        first = recurrence.next_run(schedule["recurrence"], start - timedelta(microseconds=1))
        if first is None:
            raise campaign_input.Problems(
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
    await campaign_launch.check(campaign)
    now = datetime.now(UTC)
    first = _first_run(campaign, now)
    sets: dict[str, Any] = {"status": "scheduled", "scheduled_at": now, "next_run_at": first}
    if approval is not None:
        sets["approval"] = approval
    campaign = await _transition(
        ctx, campaign, allowed, sets, action, {"next_run_at": first.isoformat()}
    )
    await campaign_triggers.register(campaign)
    if first <= now:
        await campaign_runs.start_run(campaign, now)
    return await _stored(campaign)


async def schedule_campaign(ctx: RequestContext, campaign_id: str) -> Campaign:
    """Validate everything and schedule (or start now). Needs an approval first when the
    workspace requires one, unless the caller may approve (its launch is its sign-off)."""
    ctx.require(Permission.WRITE)
    campaign = await _existing(ctx, campaign_id)
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
    campaign = await _existing(ctx, campaign_id)
    if campaign.status != "draft":
        raise WrongState(f"A {campaign.status} campaign cannot be sent for approval.", field="id")
    await campaign_launch.check(campaign)
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
    campaign = await _existing(ctx, campaign_id)
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
    campaign = await _existing(ctx, campaign_id)
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


# --- pause, resume, cancel ----------------------------------------------------------------


async def pause_campaign(ctx: RequestContext, campaign_id: str) -> Campaign:
    """Hold every message not yet handed to a provider; the fan-out stops after its page."""
    ctx.require(Permission.WRITE)
    campaign = await _existing(ctx, campaign_id)
    campaign = await _transition(
        ctx,
        campaign,
        PAUSABLE,
        {"status": "paused", "paused_from": campaign.status},
        "paused",
    )
    held = await sending.hold(ctx.workspace_id, str(campaign.id))
    await Campaign.get_pymongo_collection().update_one(
        {"_id": campaign.id, "workspace_id": ctx.workspace_id}, {"$set": {"held_on_pause": held}}
    )
    return await _stored(campaign)


async def resume_campaign(ctx: RequestContext, campaign_id: str) -> Campaign:
    """Release the held messages and continue the fan-out from where it stopped."""
    ctx.require(Permission.WRITE)
    campaign = await _existing(ctx, campaign_id)
    back_to = campaign.paused_from or "sending"
    campaign = await _transition(
        ctx, campaign, ("paused",), {"status": back_to, "paused_from": None}, "resumed"
    )
    await sending.release(ctx.workspace_id, str(campaign.id))
    if back_to == "sending":
        await campaign_runs.resume(campaign)
    return await _stored(campaign)


async def cancel_campaign(ctx: RequestContext, campaign_id: str) -> Campaign:
    """Stop for good: nothing more is queued; messages not yet sent are skipped."""
    ctx.require(Permission.WRITE)
    campaign = await _existing(ctx, campaign_id)
    campaign = await _transition(
        ctx, campaign, CANCELLABLE, {"status": "cancelled", "next_run_at": None}, "cancelled"
    )
    await campaign_runs.drop_unsent(campaign)
    await campaign_triggers.unregister(campaign)
    return campaign


# --- numbers -------------------------------------------------------------------------------


async def campaign_analytics_of(
    ctx: RequestContext, campaign: Campaign, run: int | None = None
) -> campaign_analytics.Analytics:
    ctx.require(Permission.READ)
    if run is not None and not 1 <= run <= max(campaign.run, 1):
        raise InvalidInput("No such run.", field="run")
    return await campaign_analytics.analytics(campaign, run)


async def watch_progress(ctx: RequestContext, campaign_id: str):
    campaign = await _existing(ctx, campaign_id, field="campaignId")
    async for progress in campaign_analytics.watch_progress(ctx.workspace_id, campaign.id):
        yield progress
