"""Transitions Reach makes on its own reach partners too: a campaign's runs (sending, sent,
completed) and each journey run's end, told once per run, also when a journey is archived."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from beanie import PydanticObjectId

from documents.partner_webhook import WebhookDelivery
from resolvers.journeys import lifecycle
from resolvers.partners import delivery as dispatcher
from tests.campaign_helpers import add_segment, call, create, definition, until_status
from tests.helpers import eventually, full_access, new_tenant, raw
from tests.journeys.test_runner import T0, contact, edge, enroll, node, published, wakeups
from tests.partners.test_partner_webhooks import subscribe


async def deliveries(tenant, type_: str) -> list[dict]:
    rows = await WebhookDelivery.find(
        {"workspace_id": PydanticObjectId(tenant.workspace_id), "type": type_}
    ).to_list()
    return [r.payload["data"] for r in sorted(rows, key=lambda r: r.created_at)]


async def drain(*tenants) -> None:
    """Deliver what the test queued before the shared receiver is reset for the next test."""
    scope = {"workspace_id": {"$in": [PydanticObjectId(t.workspace_id) for t in tenants]}}

    async def delivered():
        await dispatcher.dispatch_due()
        return not await WebhookDelivery.find({**scope, "status": "pending"}).count()

    await eventually(delivered)


async def test_a_campaign_run_reports_every_status_it_moves_through(api, provider_server):
    t = await new_tenant()
    await subscribe(api, t, provider_server, ["campaign.status_changed"])
    nobody = await add_segment(api, t, "Nobody", {"property": "plan", "op": "eq", "value": "-"})
    soon = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    draft = await create(api, t.secret_key, definition([nobody], schedule={"sendAt": soon}))
    assert (await call(api, t.secret_key, "scheduleCampaign", draft["id"]))["userErrors"] == []
    await until_status(t, draft["id"], "completed")

    async def all_four():
        found = await deliveries(t, "campaign.status_changed")
        return found if len(found) >= 4 else None

    found = await eventually(all_four)
    assert [(d["status"], d["action"]) for d in found] == [
        ("scheduled", "scheduled"),
        ("sending", "run_started"),
        ("sent", "run_finished"),
        ("completed", "completed"),
    ]
    assert {d["campaign_id"] for d in found} == {raw(draft["id"])}  # payloads: raw ids
    await drain(t)


async def test_each_journey_run_end_is_told_once(api, provider_server):
    t = await new_tenant()
    other = await new_tenant()
    await subscribe(api, t, provider_server, ["journey.run_ended"])
    await subscribe(api, other, provider_server, ["journey.run_ended"], name="other")
    ctx = full_access(t)
    quick = await published(
        ctx, [node("t", "trigger", kind="api"), node("x", "exit")], [edge("t", "x")]
    )
    waiting = await published(
        ctx,
        [
            node("t", "trigger", kind="api"),
            node("w", "wait", kind="duration", seconds=3600),
            node("x", "exit"),
        ],
        [edge("t", "w"), edge("w", "x")],
    )
    a, b, c = await contact(ctx), await contact(ctx), await contact(ctx)
    done = await enroll(ctx, quick, a, T0)
    parked = [await enroll(ctx, waiting, who, T0) for who in (b, c)]
    [ended] = await deliveries(t, "journey.run_ended")
    assert ended["run_id"] == str(done.id) and ended["contact_id"] == str(a.id)
    assert (ended["status"], ended["outcome"], ended["journey_id"]) == (
        "completed",
        "exit",
        str(quick.id),
    )
    # A second sweep past the end moves nothing and tells nothing.
    await wakeups(T0 + timedelta(minutes=1))
    assert len(await deliveries(t, "journey.run_ended")) == 1

    await lifecycle.archive_journey(ctx, str(waiting.id))
    found = await deliveries(t, "journey.run_ended")
    archived = [d for d in found if d["journey_id"] == str(waiting.id)]
    assert sorted(d["run_id"] for d in archived) == sorted(str(r.id) for r in parked)
    assert {(d["status"], d["outcome"]) for d in archived} == {("exited", "archived")}
    await wakeups(T0 + timedelta(hours=2))  # archived runs do not end a second time
    assert len(await deliveries(t, "journey.run_ended")) == 3
    assert await deliveries(other, "journey.run_ended") == []
    await drain(t)
