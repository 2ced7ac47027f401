"""journey.run_ended: tell subscribed partners when a run leaves its journey.

Runs end in three places (a stepping bulk write, a listener's exit or goal, an archive);
each passes the runs it ended here, after its write applied, so a partner hears of every
end once and never of one that lost a race."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from documents.journey import ENDED
from resolvers.partners import outbox


def ends(update: dict[str, Any]) -> bool:
    """Whether a run update ends the run."""
    return (update.get("$set") or {}).get("status") in ENDED


def _data(run: dict[str, Any], sets: dict[str, Any]) -> dict[str, Any]:
    ended_at = sets.get("ended_at")
    entered_at = run.get("entered_at")
    return {
        "journey_id": str(run["journey_id"]),
        "run_id": str(run["_id"]),
        "contact_id": str(run["contact_id"]),
        "status": sets["status"],
        "outcome": sets.get("outcome"),
        "node_id": sets.get("node_id", run.get("node_id")),
        "entered_at": entered_at.isoformat() if isinstance(entered_at, datetime) else None,
        "ended_at": ended_at.isoformat() if isinstance(ended_at, datetime) else None,
        "converted": run.get("converted_at") is not None,
    }


async def emit_ended(
    workspace_id: PydanticObjectId, ended: list[tuple[dict[str, Any], dict[str, Any]]]
) -> int:
    """One outbox call for the (run as read, fields its ending set) pairs."""
    return await outbox.emit_many(
        workspace_id, [("journey.run_ended", _data(run, sets)) for run, sets in ended]
    )
