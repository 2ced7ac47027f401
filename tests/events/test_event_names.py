"""A workspace that follows Segment's spec ("Order Completed") meets Reach's templates,
goals and triggers written as order_completed: event names compare by name key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.journey import Enrollment
from tests.campaign_helpers import call, rows, until_status
from tests.helpers import eventually, new_tenant, raw
from tests.journeys.test_journeys import PUBLISH
from tests.journeys.test_journeys import create as create_journey
from tests.segments.test_language import SUGGEST
from tests.tracking_helpers import basic, events_of

FROM_GOAL = (
    "mutation($goal: String!) { createCampaignFromGoal(goal: $goal) { campaign { id "
    "segmentIds conversionGoal { event } } userErrors { field code } } }"
)


async def _batch(api, tenant, batch: list[dict]) -> None:
    response = await api.http.post(
        "/v1/batch", json={"batch": batch}, headers=basic(tenant.write_key)
    )
    assert response.status_code == 200 and response.json()["accepted"] == len(batch), response.text


def _order(user_id: str, at: datetime, name: str = "Order Completed") -> dict:
    return {
        "type": "track",
        "userId": user_id,
        "event": name,
        "properties": {"revenue": 40},
        "timestamp": at.isoformat(),
    }


async def test_spec_names_fill_the_win_back_segment_and_fire_its_goal(api, services):
    t = await new_tenant()
    now = datetime.now(UTC)
    await _batch(
        api,
        t,
        [
            {"type": "identify", "userId": "lapsed", "traits": {"email": "l@example.com"}},
            _order("lapsed", now - timedelta(days=200)),
            {"type": "identify", "userId": "recent", "traits": {"email": "r@example.com"}},
            _order("recent", now - timedelta(days=3), name="orderCompleted"),
        ],
    )
    [lapsed, _recent] = sorted(
        await Contact.find({"workspace_id": PydanticObjectId(t.workspace_id)}).to_list(),
        key=lambda c: c.user_id,
    )
    assert set(lapsed.event_stats) == {"order_completed"}
    assert lapsed.event_stats["order_completed"]["name"] == "Order Completed"
    assert {e.name_key for e in await events_of(t) if e.event} == {"order_completed"}

    data = (await api.gql(t.secret_key, FROM_GOAL, {"goal": "win_back"}))["createCampaignFromGoal"]
    assert data["userErrors"] == [], data
    campaign = data["campaign"]
    assert campaign["conversionGoal"]["event"] == "order_completed"
    [segment] = campaign["segmentIds"]

    async def members() -> list[str]:
        found = await Contact.find({"workspace_id": PydanticObjectId(t.workspace_id)}).to_list()
        return sorted(c.user_id for c in found if raw(segment) in c.segments) or None

    assert await eventually(members) == ["lapsed"]
    assert (await call(api, t.secret_key, "scheduleCampaign", campaign["id"]))["userErrors"] == []
    await until_status(t, campaign["id"], "completed")
    [row] = await rows(t, campaign["id"])
    assert row.contact_id == lapsed.id and row.status == "sent"

    await _batch(api, t, [_order("lapsed", datetime.now(UTC))])  # the win-back worked
    assert segment not in (await Contact.get(lapsed.id)).segments  # ordered: not lapsed now

    async def converted():
        [row] = await rows(t, campaign["id"])
        return row if row.converted_at else None

    assert (await eventually(converted)).converted_at is not None


async def test_a_spec_name_triggers_a_journey_on_order_completed(api, services):
    t = await new_tenant()
    graph = {
        "name": "Thanks",
        "nodes": [
            {
                "id": "t",
                "type": "trigger",
                "settings": {"kind": "event", "event": "order_completed"},
            },
            {
                "id": "w",
                "type": "wait",
                "settings": {"kind": "event", "event": "review_written", "timeout_seconds": 3600},
            },
            {"id": "x", "type": "exit"},
        ],
        "edges": [
            {"from": "t", "to": "w"},
            {"from": "w", "to": "x"},
            {"from": "w", "to": "x", "label": "timeout"},
        ],
    }
    created = await create_journey(api, t, graph)
    assert created["problems"] == [], created
    published = await api.gql(t.secret_key, PUBLISH, {"id": created["journey"]["id"]})
    assert published["publishJourney"]["journey"]["status"] == "PUBLISHED", published
    await _batch(api, t, [_order("buyer", datetime.now(UTC))])
    scope = {"workspace_id": PydanticObjectId(t.workspace_id)}

    async def waiting():
        runs = await Enrollment.find(scope).to_list()
        return runs if runs and runs[0].status == "waiting" else None

    [run] = await eventually(waiting)
    assert run.trigger["name"] == "Order Completed"
    await _batch(api, t, [{"type": "track", "userId": "buyer", "event": "Review Written"}])

    async def finished():
        found = await Enrollment.find_one({"_id": run.id, **scope})
        return found if found.status == "completed" else None

    assert (await eventually(finished)).node_id == "x"


async def test_the_language_builder_uses_the_name_the_workspace_sends(api, services):
    t = await new_tenant()
    await _batch(api, t, [_order("buyer", datetime.now(UTC))])
    got = (await api.gql(t.secret_key, SUGGEST, {"text": "placed an order in the last 30 days"}))[
        "suggestSegmentRules"
    ]
    assert got["rules"] == {"event": "Order Completed", "within_days": 30, "count": {"gte": 1}}
    preview = await api.gql(
        t.secret_key,
        "query($r: JSON!) { previewSegment(rules: $r, sampleSize: 1) { count } }",
        {"r": got["rules"]},
    )
    assert preview["previewSegment"]["count"] == 1
