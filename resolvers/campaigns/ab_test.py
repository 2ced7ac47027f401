"""The A/B test phase of a run: variant weights, when the phase is over, and the winner."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from documents.campaign import Campaign, run_key
from engine import ab
from resolvers.campaigns import analytics
from resolvers.campaigns.runs import campaigns_collection, finish_run, load_campaign, record, resume


def _weights(campaign: Campaign) -> list[int]:
    return [int(v["weight"]) for v in campaign.variants]


def variant_for(campaign: Campaign, state: dict[str, Any], contact_id: str) -> dict | None:
    """The variant this contact gets in this phase, or None when the phase skips it."""
    salt = str(campaign.id)
    phase = state["phase"]
    if phase in ("test", "rest"):
        in_test = ab.in_test_group(contact_id, salt, float(campaign.ab_test["test_fraction"]))
        if (phase == "test") != in_test:
            return None
        if phase == "rest":
            return next(v for v in campaign.variants if v["key"] == state["winner"])
    return campaign.variants[ab.assign(contact_id, salt, _weights(campaign))]


def _winner_phase(campaign: Campaign, run: int, winner: str) -> dict[str, Any]:
    state = campaign.runs[run_key(run)]
    return {
        f"runs.{run_key(run)}.phase": "rest",
        f"runs.{run_key(run)}.winner": winner,
        f"runs.{run_key(run)}.branches": {
            b: {"cursor": None, "done": False} for b in state.get("branches") or {}
        },
        "decide_at": None,
    }


async def decide(workspace_id: str, campaign_id: str, run: int) -> None:
    """Compare the variants of a run's test phase; with a winner (significant, or the best
    when the window closed), send it to the rest of the audience; `stop` ends the run.

    Asked every scheduler tick: ab.decide's sequential test keeps its error rate however
    often, and it reads only the current counts, so nothing is stored between looks."""
    campaign = await load_campaign(workspace_id, campaign_id)
    if campaign is None or campaign.status != "sending" or campaign.run != run:
        return
    state = campaign.runs.get(run_key(run)) or {}
    if state.get("phase") != "waiting":
        return
    test = campaign.ab_test or {}
    now = datetime.now(UTC)
    decide_at = campaign.decide_at or now
    if decide_at.tzinfo is None:
        decide_at = decide_at.replace(tzinfo=UTC)
    final = now >= decide_at
    stats = await analytics.variant_metric(campaign, run, test.get("metric", "open"))
    keys = [v["key"] for v in campaign.variants]
    pairs = [stats.get(k, (0, 0)) for k in keys]
    decision = ab.decide(pairs, final=final, on_timeout=test.get("on_timeout", "best"))
    if decision.winner is None and not final:
        return
    details = {
        "run": run,
        "method": decision.method,
        "winner": keys[decision.winner] if decision.winner is not None else None,
        "p_value": decision.p_value,
        "alpha": decision.alpha,
        "reason": decision.reason,
        "variants": {
            k: {"successes": s, "trials": t} for k, (s, t) in zip(keys, pairs, strict=True)
        },
    }
    # The audit entry has its own time; a datetime would not survive its JSON details.
    stored = {**details, "decided_at": now}
    if decision.winner is None:
        await campaigns_collection().update_one(
            {"_id": campaign.id, "workspace_id": campaign.workspace_id},
            {"$set": {f"runs.{run_key(run)}.decision": stored}},
        )
        await record(campaign, "campaign.test_stopped", details)
        await finish_run(campaign, run, reason="ab_test_stopped")
        return
    winner = keys[decision.winner]
    moved = await campaigns_collection().update_one(
        {
            "_id": campaign.id,
            "workspace_id": campaign.workspace_id,
            f"runs.{run_key(run)}.phase": "waiting",
        },
        {
            "$set": {
                **_winner_phase(campaign, run, winner),
                f"runs.{run_key(run)}.decision": stored,
            }
        },
    )
    if not moved.modified_count:
        return
    await record(campaign, "campaign.winner_chosen", details)
    fresh = await load_campaign(workspace_id, campaign_id)
    if fresh is not None:
        await resume(fresh)
