"""The audience fan-out of a run: one page of contacts becomes queued messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from documents.campaign import Campaign, run_key
from documents.workspace import Workspace
from resolvers.campaigns import audience, send_times
from resolvers.campaigns.ab_test import variant_for
from resolvers.campaigns.progress import progress_topic
from resolvers.campaigns.runs import (
    campaigns_collection,
    load_campaign,
    message_key,
    phase_finished,
)
from resolvers.core import jobs, live
from resolvers.messaging import queue

FANOUT_PROJECTION = {"_id": 1, "location_id": 1, "properties.timezone": 1}


def _reason_key(reason: str | None) -> str:
    """The reason's leading word ("no_channel (email: unsubscribed)" -> "no_channel")."""
    head = re.match(r"[a-z0-9_]+", (reason or "").strip().lower())
    return head.group(0)[:40] if head else "unknown"


def tally(results: list[Any]) -> dict[str, int]:
    """Counter increments from queue.queue's answers."""
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
    return await send_times.send_times(
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
    campaign = await load_campaign(workspace_id, campaign_id)
    if campaign is None or campaign.status != "sending" or campaign.run != run:
        return  # paused, cancelled or superseded: resume re-enqueues from the cursor
    state = campaign.runs.get(run_key(run)) or {}
    position = (state.get("branches") or {}).get(branch)
    if state.get("phase") not in ("all", "test", "rest") or not position or position["done"]:
        return
    cursor = position["cursor"]
    now = datetime.now(UTC)
    contacts = await audience.page(campaign, branch, cursor, FANOUT_PROJECTION)
    location_id = audience.branch_location(campaign, branch)
    send_at = await _send_times(campaign, state, contacts, now)
    requests = []
    for contact in contacts:
        contact_id = str(contact["_id"])
        variant = variant_for(campaign, state, contact_id)
        if variant is None:
            continue
        requests.append(
            queue.SendRequest(
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
    results = await queue.queue(requests) if requests else []
    done = len(contacts) < audience.PAGE
    path = f"runs.{run_key(run)}.branches.{branch}"
    moved = await campaigns_collection().update_one(
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
    fresh = await load_campaign(workspace_id, campaign_id)
    if fresh is None:
        return
    if fresh.status == "paused":
        # Paused while this page was queued: hold what the page just added.
        await queue.hold(campaign.workspace_id, str(campaign.id))
        return
    if fresh.status == "cancelled":
        await drop_unsent(fresh)
        return
    if not done:
        await jobs.enqueue("campaign_fanout", workspace_id, campaign_id, run, branch)
        return
    branches = (fresh.runs.get(run_key(run)) or {}).get("branches") or {}
    if all(b["done"] for b in branches.values()):
        await phase_finished(fresh, run)


async def drop_unsent(campaign: Campaign) -> None:
    """A cancelled campaign's messages not yet handed to a provider are skipped."""
    await queue.cancel(campaign.workspace_id, str(campaign.id))
