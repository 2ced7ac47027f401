"""Campaigns of the caller's workspace: read, create (blank or from a goal template),
edit, duplicate and delete drafts; their numbers and live progress.

Only drafts are editable (anything else answers CAMPAIGN_LOCKED); a draft is cleaned by
campaigns.validation on every save. Moving a campaign out of draft (schedule, approval,
pause, resume, cancel) lives in campaigns.lifecycle, running it in campaigns.runs and
campaigns.fanout, reacting to events in campaigns.listeners.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from documents.campaign import Campaign
from engine.access import Permission
from engine.errors import Conflict, InvalidInput, NotFound
from engine.goals import GOALS
from engine.names import clean_name
from resolvers.accounts.locations import get_location
from resolvers.campaigns import analytics, listeners, validation
from resolvers.campaigns import progress as campaign_progress
from resolvers.core import audit, lookup, vault
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page, paginate
from resolvers.messaging import templates

EDITABLE = ("draft",)


class Locked(Conflict):
    code = "CAMPAIGN_LOCKED"


async def get_campaign(ctx: RequestContext, campaign_id: str) -> Campaign | None:
    ctx.require(Permission.READ)
    oid = parse_id(campaign_id, "Campaign")
    if oid is None:
        return None
    return await Campaign.find_one({"_id": oid, "workspace_id": ctx.workspace_id})


async def require_campaign(ctx: RequestContext, campaign_id: str, field: str = "id") -> Campaign:
    campaign = await get_campaign(ctx, campaign_id)
    if campaign is None:
        raise NotFound("Campaign not found.", field=field)
    return campaign


async def reload_campaign(campaign: Campaign) -> Campaign:
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


async def _settings(ctx: RequestContext, data: dict[str, Any]) -> dict[str, Any]:
    """The stored form of the input (every shape problem at once), outlet checked,
    a webhook secret sealed."""
    data = await _picked_templates(ctx, data)
    sets = validation.clean(data)
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
    from resolvers.segments import define  # a campaign creates a segment only here

    ctx.require(Permission.WRITE)
    goal = GOALS.get(goal_key)
    if goal is None:
        raise InvalidInput(f"Unknown goal; one of {', '.join(sorted(GOALS))}.", field="goal")
    if segment_id is not None:
        segment = await define.get_segment(ctx, segment_id)
        if segment is None:
            raise NotFound("Segment not found.", field="segmentId")
    else:
        segment = await define.create_segment(
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
    campaign = await require_campaign(ctx, campaign_id)
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
    return await reload_campaign(campaign)


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
    source = await require_campaign(ctx, campaign_id)
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
    campaign = await require_campaign(ctx, campaign_id)
    deleted = await Campaign.get_pymongo_collection().delete_one(
        {"_id": campaign.id, "workspace_id": ctx.workspace_id, "status": "draft"}
    )
    if not deleted.deleted_count:
        raise Locked("Only drafts can be deleted; cancel the campaign instead.", field="id")
    await listeners.unregister(campaign)
    await audit.record(
        ctx.principal, "campaign.deleted", "campaign", campaign.id, {"name": campaign.name}
    )
    return str(campaign.id)


async def campaign_analytics_of(
    ctx: RequestContext, campaign: Campaign, run: int | None = None
) -> analytics.Analytics:
    ctx.require(Permission.READ)
    if run is not None and not 1 <= run <= max(campaign.run, 1):
        raise InvalidInput("No such run.", field="run")
    return await analytics.analytics(campaign, run)


async def watch_progress(ctx: RequestContext, campaign_id: str):
    campaign = await require_campaign(ctx, campaign_id, field="campaignId")
    async for progress in campaign_progress.watch_progress(ctx.workspace_id, campaign.id):
        yield progress


async def campaigns_by_ids(ctx: RequestContext, ids: list[str]) -> dict[PydanticObjectId, Campaign]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, Campaign, ids)
