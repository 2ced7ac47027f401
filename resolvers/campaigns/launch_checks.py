"""What must hold before a campaign may be scheduled, checked against the database.

Every problem is returned (never the first only): segments that are not in this
workspace, an unknown outlet, disabled channels, and content that does not render for a
sample contact of the audience (or a synthetic one when the audience is empty), so render
errors surface when the campaign is saved for launch, never at send time to a customer.
"""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from documents.campaign import Campaign
from documents.channel import ChannelConfig
from documents.event import Event
from documents.segment import Segment
from documents.workspace import Location, Workspace
from engine import templates
from engine.errors import DomainError, InvalidInput, NotFound
from engine.event_names import name_key
from resolvers.campaigns import audience, validation

SYNTHETIC_CONTACT: dict[str, Any] = {
    "email": "sample@example.com",
    "phone": "+15555550100",
    "user_id": "sample-user",
    "properties": {},
    "tags": [],
    "devices": [],
}


async def _segment_problems(campaign: Campaign) -> list[DomainError]:
    wanted = {
        "segmentIds": campaign.segment_ids,
        "excludeSegmentIds": campaign.exclude_segment_ids,
    }
    trigger_segment = (campaign.trigger or {}).get("segment_id")
    if trigger_segment:
        wanted["trigger.segmentId"] = [trigger_segment]
    ids = {PydanticObjectId(s) for values in wanted.values() for s in values}
    found = {
        str(row["_id"])
        for row in await Segment.get_pymongo_collection()
        .find({"workspace_id": campaign.workspace_id, "_id": {"$in": list(ids)}}, {"_id": 1})
        .to_list(None)
    }
    problems: list[DomainError] = []
    for field, values in wanted.items():
        for i, value in enumerate(values):
            if value not in found:
                at = field if field == "trigger.segmentId" else f"{field}[{i}]"
                problems.append(NotFound("No such segment in this workspace.", field=at))
    return problems


async def _channel_problems(campaign: Campaign) -> list[DomainError]:
    """A channel with no configuration sends through the sandbox; one configured and
    then disabled would send nowhere, so it cannot be chosen."""
    # A workspace has a handful of configurations: read them on the index prefix.
    configs = ChannelConfig.get_pymongo_collection().find(
        {"workspace_id": campaign.workspace_id}, {"channel": 1, "location_id": 1, "enabled": 1}
    )
    disabled = {
        c["channel"]
        async for c in configs
        if c["channel"] in campaign.channels
        and c.get("location_id") is None
        and not c.get("enabled", True)
    }
    return [
        InvalidInput(f"The {c} channel is disabled in this workspace.", field=f"channels[{i}]")
        for i, c in enumerate(campaign.channels)
        if c in disabled
    ]


async def _sample_event(campaign: Campaign) -> dict[str, Any] | None:
    """The latest stored trigger event, so templates reading event properties are checked
    against real data; segment-entry triggers carry the segment's id and name."""
    trigger = campaign.trigger or {}
    if trigger.get("segment_id"):
        return {"name": "segment_entered", "properties": {"segment_id": trigger["segment_id"]}}
    if not trigger.get("event"):
        return None
    row = await Event.get_pymongo_collection().find_one(
        {"workspace_id": campaign.workspace_id, "name_key": name_key(trigger["event"])},
        {"event": 1, "properties": 1, "timestamp": 1},
        sort=[("timestamp", -1)],
    )
    if row is None:
        return {"name": trigger["event"], "properties": {}}
    return {"name": row["event"], "properties": row.get("properties") or {}}


async def _content_problems(campaign: Campaign) -> list[DomainError]:
    contact = await audience.sample(campaign)
    contact = dict(contact or {**SYNTHETIC_CONTACT, "_id": PydanticObjectId()})
    contact.setdefault("id", str(contact["_id"]))
    workspace = await Workspace.get(campaign.workspace_id)
    location = None
    location_id = campaign.location_id or contact.get("location_id")
    if location_id is not None:
        location = await Location.find_one(
            {"_id": location_id, "workspace_id": campaign.workspace_id}
        )
    sample = templates.context_for(
        contact,
        event=await _sample_event(campaign),
        location=location.model_dump(include={"name", "code", "timezone"}) if location else None,
        workspace={"name": workspace.name, "timezone": workspace.timezone} if workspace else None,
        message={"unsubscribe_url": "https://example.invalid/unsubscribe"},
    )
    problems: list[DomainError] = []
    for i, variant in enumerate(campaign.variants):
        content = {c: f for c, f in variant["content"].items() if c in campaign.channels}
        for problem in templates.check_content(content, sample):
            problem.field = f"variants[{i}].{problem.field}" if problem.field else problem.field
            problems.append(problem)
    return problems


async def problems(campaign: Campaign) -> list[DomainError]:
    found = validation.completeness(campaign)
    found += await _segment_problems(campaign)
    if campaign.location_id is not None:
        location = await Location.find_one(
            {"_id": campaign.location_id, "workspace_id": campaign.workspace_id}
        )
        if location is None:
            found.append(NotFound("No such outlet in this workspace.", field="locationId"))
    found += await _channel_problems(campaign)
    if campaign.variants and campaign.channels:
        found += await _content_problems(campaign)
    return found


async def check(campaign: Campaign) -> None:
    found = await problems(campaign)
    if found:
        raise validation.Problems(found)
