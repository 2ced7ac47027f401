"""Triggered campaigns and conversion goals: what campaigns do with stored events.

resolvers.reactions hands over the events that campaign listeners wait for (the
handler is registered for KIND by reach.wiring):

- trigger: an event (with its `where`) or a `segment_entered` of the trigger segment,
  for a contact in the campaign's audience, queues one message to that contact (key
  f"campaign:{id}:event:{event id}", so a re-delivered event sends nothing twice). The
  re-trigger guard: at most one message per contact and campaign per `cooldown_hours`
  (default 24; 0 = none), held as a Redis key SET NX with that expiry, whose value is
  the event that took it (a retried reaction to the same event passes again).
- goal: last-touch attribution. For a goal event at time T, the contact's latest
  campaign message sent within the goal's window before T, among campaigns with that
  goal, gets `converted_at` (the first conversion) and `revenue` += the event's revenue
  property. Each goal event counts once: its id is pushed onto the row in the same
  atomic update that adds the revenue, guarded by "not already there".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from documents.campaign import Campaign
from documents.contact import Contact
from documents.listener import Listener
from documents.message import OutboundMessage
from engine import ab
from engine.event_names import same_event
from engine.segments.evaluate import where_matches
from resolvers.campaigns import audience
from resolvers.campaigns.progress import progress_topic
from resolvers.core import live, runtime
from resolvers.messaging import deliver, queue
from resolvers.reactions import table

SEGMENT_ENTERED = "segment_entered"


DEFAULT_COOLDOWN_HOURS = 24


KIND = "campaign"  # listener rows "campaign:<id>", handed to on_events by reactions


def owner(campaign_id: Any) -> str:
    return table.owner(KIND, campaign_id)


async def register(campaign: Campaign) -> None:
    """Listen for what the campaign reacts to: its trigger while it may fire, its goal
    for as long as it may convert."""
    wanted: dict[str, list[str]] = {}
    trigger = campaign.trigger or {}
    if campaign.kind == "triggered" and trigger:
        wanted["trigger"] = [SEGMENT_ENTERED if trigger.get("segment_id") else trigger["event"]]
    if campaign.conversion_goal:
        wanted["goal"] = [campaign.conversion_goal["event"]]
    await table.listen(campaign.workspace_id, owner(campaign.id), wanted)


async def unregister(campaign: Campaign) -> None:
    await table.stop_listening(campaign.workspace_id, owner(campaign.id))


def _fires(campaign: Campaign, event: dict[str, Any], now: datetime) -> bool:
    trigger = campaign.trigger or {}
    properties = event.get("properties") or {}
    if trigger.get("segment_id"):
        return (
            event.get("event") == SEGMENT_ENTERED
            and properties.get("segment_id") == trigger["segment_id"]
        )
    if not same_event(event.get("event"), trigger.get("event")):
        return False
    return not trigger.get("where") or where_matches(trigger["where"], properties, now)


async def _guard(campaign: Campaign, contact_id: Any, event_id: str) -> bool:
    hours = (campaign.trigger or {}).get("cooldown_hours", DEFAULT_COOLDOWN_HOURS)
    if not hours:
        return True
    redis = runtime.get().redis
    key = live.channel(campaign.workspace_id, f"campaign-guard:{campaign.id}:{contact_id}")
    if await redis.set(key, event_id, nx=True, ex=int(hours * 3600)):
        return True
    holder = await redis.get(key)
    return holder is not None and holder.decode() == event_id


def _template_event(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(event["_id"]),
        "name": event.get("event"),
        "properties": event.get("properties") or {},
        "timestamp": event["timestamp"].isoformat() if event.get("timestamp") else None,
    }


async def _trigger(
    workspace_id: PydanticObjectId, campaigns: list[Campaign], events: list[dict[str, Any]]
) -> None:
    now = datetime.now(UTC)
    active = [c for c in campaigns if c.status == "sending" and c.kind == "triggered"]
    pairs = [(c, e) for c in active for e in events if _fires(c, e, now)]
    if not pairs:
        return
    ids = list({e["contact_id"] for _, e in pairs})
    contacts = {
        c["_id"]: c
        for c in await Contact.get_pymongo_collection()
        .find(
            {"_id": {"$in": ids}, "workspace_id": workspace_id},
            {"segments": 1, "location_id": 1},
        )
        .to_list(None)
    }
    requests = []
    for campaign, event in pairs:
        contact = contacts.get(event["contact_id"])
        if contact is None or not audience.contact_matches(campaign, contact):
            continue
        if not await _guard(campaign, contact["_id"], str(event["_id"])):
            continue
        weights = [int(v["weight"]) for v in campaign.variants]
        variant = campaign.variants[ab.assign(str(contact["_id"]), str(campaign.id), weights)]
        requests.append(
            queue.SendRequest(
                workspace_id=workspace_id,
                contact_id=contact["_id"],
                source="campaign",
                source_id=str(campaign.id),
                idempotency_key=f"campaign:{campaign.id}:event:{event['_id']}",
                channels=list(campaign.channels),
                content={c: variant["content"].get(c, {}) for c in campaign.channels},
                variant=variant["key"],
                # Per-outlet campaigns send with the contact's outlet's sender mapping.
                location_id=(
                    contact.get("location_id") if campaign.all_outlets else campaign.location_id
                ),
                run=campaign.run,
                event=_template_event(event),
            )
        )
    if not requests:
        return
    results = await queue.queue(requests)
    for campaign in {r.source_id for r in requests}:
        await live.publish(workspace_id, progress_topic(campaign), {"triggered": len(results)})


def _revenue(goal: dict[str, Any], properties: dict[str, Any]) -> float:
    prop = goal.get("revenue_property")
    if not prop:
        return 0.0
    value: Any = properties
    for part in prop.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return 0.0
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return 0.0
    return amount if amount == amount and abs(amount) < 1e12 else 0.0  # no NaN, no absurd


async def _attribute(
    workspace_id: PydanticObjectId, campaigns: list[Campaign], events: list[dict[str, Any]]
) -> None:
    rows = OutboundMessage.get_pymongo_collection()
    for event in events:
        at = event.get("timestamp") or datetime.now(UTC)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        properties = event.get("properties") or {}
        goals = {
            str(c.id): c.conversion_goal
            for c in campaigns
            if c.conversion_goal
            and same_event(c.conversion_goal["event"], event.get("event"))
            and (
                not c.conversion_goal.get("where")
                or where_matches(c.conversion_goal["where"], properties, at)
            )
        }
        if not goals:
            continue
        widest = max(float(g["window_hours"]) for g in goals.values())
        # The contact's sends since the widest window opened, on (workspace_id, contact_id,
        # sent_at); which campaign, and not after the event, are checked here.
        candidates = (
            await rows.find(
                {
                    "workspace_id": workspace_id,
                    "contact_id": event["contact_id"],
                    "sent_at": {"$gte": at - timedelta(hours=widest)},
                },
                {"source": 1, "source_id": 1, "sent_at": 1},
            )
            .sort("sent_at", -1)
            .to_list(None)
        )
        touch = None
        for row in candidates:  # the latest one inside its own campaign's window
            if row.get("source") != "campaign" or row.get("source_id") not in goals:
                continue
            sent_at = (
                row["sent_at"] if row["sent_at"].tzinfo else row["sent_at"].replace(tzinfo=UTC)
            )
            if sent_at > at:
                continue
            if at - sent_at <= timedelta(hours=float(goals[row["source_id"]]["window_hours"])):
                touch = row
                break
        if touch is None:
            continue
        event_id = str(event["_id"])
        amount = _revenue(goals[touch["source_id"]], properties)
        counted = await rows.update_one(
            {
                "_id": touch["_id"],
                "workspace_id": workspace_id,
                "conversion_event_ids": {"$ne": event_id},
            },
            {"$push": {"conversion_event_ids": event_id}, "$inc": {"revenue": amount}},
        )
        if not counted.modified_count:
            continue  # this goal event was counted already
        # A conditional update by _id, then a read (findAndModify scans on SecantusDB).
        first = await rows.update_one(
            {"_id": touch["_id"], "workspace_id": workspace_id, "converted_at": None},
            {"$set": {"converted_at": at}},
        )
        converted = None
        if first.modified_count == 1:
            converted = await rows.find_one({"_id": touch["_id"], "workspace_id": workspace_id})
        if converted is not None:  # the contact's conversion is engagement, like an open
            await deliver.record(
                OutboundMessage.model_validate(converted),
                "converted",
                at=at,
                extra={"goal_event": event_id},
            )
        await live.publish(workspace_id, progress_topic(touch["source_id"]), {"converted": 1})


async def on_events(
    workspace_id: PydanticObjectId, events: list[dict[str, Any]], listeners: list[Listener]
) -> None:
    """Registered for KIND with resolvers.reactions; called with stored events (oldest
    first) and the campaign listeners of their names."""
    ids = {
        PydanticObjectId(table.owner_id(listener.owner))
        for listener in listeners
        if PydanticObjectId.is_valid(table.owner_id(listener.owner))
    }
    campaigns = await Campaign.find(
        {"_id": {"$in": list(ids)}, "workspace_id": workspace_id}
    ).to_list()
    if not campaigns:
        return
    purposes = {(listener.owner, listener.purpose) for listener in listeners}
    triggered = [c for c in campaigns if (owner(c.id), "trigger") in purposes]
    goals = [c for c in campaigns if (owner(c.id), "goal") in purposes]
    if triggered:
        await _trigger(workspace_id, triggered, events)
    if goals:
        await _attribute(workspace_id, goals, events)
