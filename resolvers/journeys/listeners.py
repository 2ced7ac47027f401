"""What journeys do with stored events: triggers start runs, waits resume, exits and goals end
them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from documents.journey import LIVE, Enrollment, Journey, JourneyVersion
from documents.listener import Listener
from engine.event_names import name_key, same_event
from engine.journeys import step as stepping
from engine.journeys.step import trigger_event_name
from resolvers.core.context import parse_id
from resolvers.journeys import run_events
from resolvers.journeys.enroll import enroll
from resolvers.journeys.step import (
    advance,
    as_aware,
    current_time,
    ended_fields,
    transition_run,
)
from resolvers.journeys.versions import version_graph
from resolvers.reactions import table

log = logging.getLogger("reach.journeys")

KIND = "journey"  # listener rows "journey:<id>", handed to on_events by reactions


def owner(journey_id: Any) -> str:
    return table.owner(KIND, journey_id)


async def on_events(
    workspace_id: PydanticObjectId,
    events: list[dict[str, Any]],
    listeners: list[Listener],
    now: datetime | None = None,
) -> None:
    """Stored events (oldest first) meet the journeys listening to their names: goals,
    exits, waits and triggers, in that order for each event."""
    now = current_time(now)
    wanted: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for listener in listeners:
        journey_id = table.owner_id(listener.owner)
        wanted[journey_id][listener.event].add(listener.purpose)
    ids = [oid for oid in (parse_id(j) for j in wanted) if oid is not None]
    # Point lookups by _id; the status is checked here.
    found = await Journey.find({"_id": {"$in": ids}, "workspace_id": workspace_id}).to_list()
    journeys = [j for j in found if j.status in ("published", "paused")]
    for event in events:
        contact_id = event.get("contact_id")
        name = event.get("event")
        if contact_id is None or not name:
            continue
        for journey in journeys:  # listener rows hold name keys
            purposes = wanted[str(journey.id)].get(name_key(name), set())
            if not purposes:
                continue
            try:
                await _react(workspace_id, journey, event, purposes, now)
            except Exception:
                log.exception("journey %s failed on event %s", journey.id, event.get("_id"))
                raise


async def _react(
    workspace_id: PydanticObjectId,
    journey: Journey,
    event: dict[str, Any],
    purposes: set[str],
    now: datetime,
) -> None:
    contact_id, name = event["contact_id"], event["event"]
    properties = event.get("properties") or {}
    settings = journey.settings or {}
    at = as_aware(event.get("timestamp")) or now
    if "goal" in purposes and same_event((settings.get("goal") or {}).get("event"), name):
        await _goal(workspace_id, journey, contact_id, at, now)
    if "exit" in purposes:
        if same_event(settings.get("exit_event"), name):
            await end_contact_runs(workspace_id, journey.id, contact_id, "exit_event", now)
        elif (
            name == "segment_exited"
            and settings.get("exit_segment_id")
            and properties.get("segment_id") == settings["exit_segment_id"]
        ):
            await end_contact_runs(workspace_id, journey.id, contact_id, "segment_exited", now)
    if "wait" in purposes:
        await _resume_waiting(workspace_id, journey, contact_id, event, now)
    if "trigger" in purposes and journey.status == "published" and journey.published_version:
        loaded = await version_graph(workspace_id, journey.id, journey.published_version)
        if loaded and stepping.trigger_matches(loaded[0].trigger["settings"], event, now):
            trigger = {"id": str(event["_id"]), "name": name, "properties": properties}
            await enroll(
                workspace_id,
                journey,
                contact_id,
                trigger,
                entry_key=f"event:{event['_id']}",
                location_id=event.get("location_id"),
                now=now,
                inline=True,
            )


async def _resume_waiting(
    workspace_id: PydanticObjectId,
    journey: Journey,
    contact_id: PydanticObjectId,
    event: dict[str, Any],
    now: datetime,
) -> None:
    runs = (
        await Enrollment.get_pymongo_collection()
        .find(
            {
                "workspace_id": workspace_id,
                "journey_id": journey.id,
                "contact_id": contact_id,
                "status": "waiting",
            }
        )
        .to_list(None)
    )
    for run in runs:  # at most one (one live run per contact and journey)
        if not same_event((run.get("waiting_for") or {}).get("event"), event["event"]):
            continue
        loaded = await version_graph(workspace_id, journey.id, run["version"])
        if loaded is None:
            continue
        move = stepping.on_event(loaded[0], run["node_id"], event, now)
        if move is None:
            continue
        # The resume and every instant transition after it: one conditional update.
        await advance(run, now, resume=move)


async def end_contact_runs(
    workspace_id: PydanticObjectId,
    journey_id: PydanticObjectId,
    contact_id: PydanticObjectId,
    outcome: str,
    now: datetime,
) -> int:
    runs = (
        await Enrollment.get_pymongo_collection()
        .find(
            {
                "workspace_id": workspace_id,
                "journey_id": journey_id,
                "contact_id": contact_id,
                "status": {"$in": list(LIVE)},
            }
        )
        .to_list(None)
    )
    ended = []
    for run in runs:
        entry = {"node": run["node_id"], "at": now, "outcome": outcome}
        sets = ended_fields(outcome, now)
        if await transition_run(run, sets, entry):
            ended.append((run, sets))
    if ended:
        await run_events.emit_ended(workspace_id, ended)
    return len(ended)


async def _goal(
    workspace_id: PydanticObjectId,
    journey: Journey,
    contact_id: PydanticObjectId,
    at: datetime,
    now: datetime,
) -> None:
    """The goal event: a conversion for each run of the contact it falls within the window
    of (counted once per run), and the end of the live one."""
    window = timedelta(hours=(journey.settings.get("goal") or {}).get("window_hours") or 0)
    collection = Enrollment.get_pymongo_collection()
    entered = await collection.find(
        {
            "workspace_id": workspace_id,
            "journey_id": journey.id,
            "contact_id": contact_id,
            "entered_at": {"$lte": at, "$gte": at - window},
        },
        {"converted_at": 1},
    ).to_list(None)
    ids = [r["_id"] for r in entered if r.get("converted_at") is None]
    if ids:  # by _id; `converted_at: None` again so that a run converts once
        await collection.update_many(
            {"_id": {"$in": ids}, "workspace_id": workspace_id, "converted_at": None},
            {"$set": {"converted_at": at}},
        )
    await end_contact_runs(workspace_id, journey.id, contact_id, "goal", now)


def trigger_kind(nodes: list[dict[str, Any]]) -> str | None:
    for node in nodes:
        if node.get("type") == "trigger":
            return (node.get("settings") or {}).get("kind")
    return None


async def listen(journey: Journey, *, paused: bool = False) -> None:
    """Register the events this journey reacts to: its trigger (not while paused), the
    events runs of any version wait for, the exit and the goal events."""
    versions = await JourneyVersion.find(
        {"workspace_id": journey.workspace_id, "journey_id": journey.id}
    ).to_list()
    wanted: dict[str, set[str]] = {"trigger": set(), "wait": set(), "exit": set(), "goal": set()}
    latest = max(versions, key=lambda v: v.version) if versions else None
    if latest is not None and not paused:
        trigger = next((n for n in latest.nodes if n["type"] == "trigger"), None)
        name = trigger_event_name(trigger["settings"]) if trigger else None
        if name:
            wanted["trigger"].add(name)
    for version in versions:
        for node in version.nodes:
            if node["type"] == "wait" and node["settings"].get("kind") == "event":
                wanted["wait"].add(node["settings"]["event"])
    options = latest.settings if latest is not None else journey.settings
    if options.get("exit_event"):
        wanted["exit"].add(options["exit_event"])
    if options.get("exit_segment_id"):
        wanted["exit"].add("segment_exited")
    if (options.get("goal") or {}).get("event"):
        wanted["goal"].add(options["goal"]["event"])
    await table.listen(journey.workspace_id, owner(journey.id), wanted)
