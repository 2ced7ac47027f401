"""Dispatch: queued messages whose time has come are handed to the delivery actor."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from documents.base import up_to
from documents.message import OutboundMessage
from resolvers.core import runtime
from resolvers.messaging import queue

DISPATCH_LIMIT = 2000


def _contact_sends(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dispatcher leaves system mail (invitations, no contact) to its own job. Those
    rows never get due_at or claimed_at, so the sweeps do not find them; kept as a guard."""
    return [row for row in rows if row.get("contact_id") is not None]


async def dispatch_due(now: datetime | None = None) -> dict[str, int]:
    """Wake scheduled rows whose time came, re-enqueue queued rows whose job was lost, and
    close rows left `sending` by a worker that died mid-call. Runs across workspaces.

    Each sweep is {status, due_at | claimed_at: {$lte}} on (status, due_at | claimed_at):
    range operators never match null, as on MongoDB, so rows without the date are out."""
    now = now or datetime.now(UTC)
    config = runtime.get()
    requeue_after = timedelta(seconds=config.send_requeue_seconds)
    lease = timedelta(seconds=config.send_lease_seconds)
    collection = OutboundMessage.get_pymongo_collection()
    counts = {"woken": 0, "requeued": 0, "interrupted": 0}
    projection = {"workspace_id": 1, "contact_id": 1}
    due = _contact_sends(
        await collection.find({"status": "scheduled", "due_at": up_to(now)}, projection)
        .limit(DISPATCH_LIMIT)
        .to_list(None)
    )
    stale = _contact_sends(
        await collection.find(
            {"status": "queued", "due_at": up_to(now - requeue_after)}, projection
        )
        .limit(DISPATCH_LIMIT)
        .to_list(None)
    )
    jobs_out = []
    if due:
        result = await collection.update_many(
            {"_id": {"$in": [r["_id"] for r in due]}, "status": "scheduled"},
            {"$set": {"status": "queued", "due_at": now}},
        )
        counts["woken"] = result.modified_count
        jobs_out += due
    if stale:
        await collection.update_many(
            {"_id": {"$in": [r["_id"] for r in stale]}, "status": "queued"},
            {"$set": {"due_at": now}},
        )
        counts["requeued"] = len(stale)
        jobs_out += stale
    by_workspace: dict[Any, list[str]] = defaultdict(list)
    for row in jobs_out:
        by_workspace[row["workspace_id"]].append(str(row["_id"]))
    for workspace_id, ids in by_workspace.items():  # in delivery batches, as queued
        await queue.enqueue(workspace_id, ids)
    cutoff = now - lease
    left = _contact_sends(
        await collection.find({"status": "sending", "claimed_at": up_to(cutoff)}, projection)
        .limit(DISPATCH_LIMIT)
        .to_list(None)
    )
    if not left:
        return counts
    interrupted = await collection.update_many(
        # Still sending and still past its lease: a row finished (or claimed again)
        # since the read is left alone.
        {
            "_id": {"$in": [r["_id"] for r in left]},
            "status": "sending",
            "claimed_at": up_to(cutoff),
        },
        {
            "$set": {
                "status": "failed",
                "failed_at": now,
                "reason": "interrupted: the worker stopped during the provider call; "
                "not retried, to never send twice",
            }
        },
    )
    counts["interrupted"] = interrupted.modified_count
    return counts
