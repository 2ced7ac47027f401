"""Campaign and journey reports: the campaign analytics' numbers, per channel, and
last/first-touch attribution of a conversion event within a window.

Message rows are written straight into the real database (their stamps are what a send
and its engagement leave), so the expected numbers are exact and hand-computed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from beanie import PydanticObjectId

from documents.journey import Journey
from documents.message import OutboundMessage
from tests.analytics.helpers import REPORT, identify, seed, track
from tests.campaign_helpers import ANALYTICS, add_segment, create, definition
from tests.helpers import gid, new_tenant, raw
from tests.tracking_helpers import contacts_of


def _row(workspace_id, contact_id, source, source_id, channel, n, **stamps) -> dict:
    return {
        "_id": PydanticObjectId(),
        "workspace_id": workspace_id,
        "idempotency_key": f"{source_id}:{contact_id}:{n}",
        "channel": channel,
        "contact_id": contact_id,
        "source": source,
        "source_id": source_id,
        "status": "sent" if stamps.get("sent_at") else "skipped",
        "revenue": stamps.pop("revenue", 0.0),
        **stamps,
    }


async def test_report_rows_and_attribution(api):
    tenant, other = await new_tenant("Reports"), await new_tenant("Reports B")
    now = datetime.now(UTC).replace(microsecond=0)
    ago = lambda hours: now - timedelta(hours=hours)  # noqa: E731
    await seed(
        api,
        tenant,
        [identify("rep1", email="rep1@example.com"), identify("rep2", email="rep2@example.com")],
    )
    contacts = {c.user_id: c.id for c in await contacts_of(tenant)}
    c1, c2 = contacts["rep1"], contacts["rep2"]
    segment = await add_segment(api, tenant, "All", {"property": "email", "op": "exists"})
    x = await create(api, tenant.secret_key, definition([segment], name="Report X"))
    y = await create(api, tenant.secret_key, definition([segment], name="Report Y"))
    ws = PydanticObjectId(tenant.workspace_id)
    journey_id = PydanticObjectId()
    await Journey.get_pymongo_collection().insert_one(
        {"_id": journey_id, "workspace_id": ws, "name": "Welcome"}
    )
    rows = [
        _row(
            ws,
            c1,
            "campaign",
            raw(x["id"]),
            "email",
            1,
            sent_at=ago(5),
            delivered_at=ago(5),
            opened_at=ago(4),
            converted_at=ago(4),
            revenue=30.0,
        ),
        _row(ws, c2, "campaign", raw(x["id"]), "email", 2),  # skipped: targeted only
        _row(
            ws,
            c1,
            "campaign",
            raw(y["id"]),
            "sms",
            1,
            sent_at=ago(2),
            delivered_at=ago(2),
            clicked_at=ago(2),
        ),
        _row(ws, c1, "journey", str(journey_id), "email", 1, sent_at=ago(1), bounced_at=ago(1)),
    ]
    await OutboundMessage.get_pymongo_collection().insert_many(rows)
    # Another workspace's sends and conversions never show.
    await OutboundMessage.get_pymongo_collection().insert_one(
        _row(
            PydanticObjectId(other.workspace_id),
            c1,
            "campaign",
            raw(x["id"]),
            "email",
            9,
            sent_at=ago(1),
        )
    )
    await seed(
        api,
        tenant,
        [
            track("rep1", "Purchase", (now - timedelta(minutes=30)).isoformat(), revenue=100),
            track(
                "rep2", "Purchase", (now - timedelta(minutes=10)).isoformat(), revenue=5
            ),  # no touch
        ],
    )
    span = {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }

    async def report(**input_):
        return (await api.gql(tenant.secret_key, REPORT, {"input": {**span, **input_}}))[
            "analyticsReport"
        ]

    def table(data):
        return [
            (
                r["sourceType"],
                r["name"],
                r["channel"],
                r["targeted"],
                r["sent"],
                r["delivered"],
                r["bounced"],
                r["opened"],
                r["clicked"],
                r["converted"],
                r["revenue"],
            )
            for r in data["rows"]
        ]

    own = await report()
    assert own["attribution"] == "LAST_TOUCH" and own["windowHours"] == 72
    assert table(own) == [
        ("campaign", "Report X", "EMAIL", 2, 1, 1, 0, 1, 0, 1, 30.0),
        ("campaign", "Report Y", "SMS", 1, 1, 1, 0, 0, 1, 0, 0.0),
        ("journey", "Welcome", "EMAIL", 1, 1, 0, 1, 0, 0, 0, 0.0),
    ]
    # Rows name their source by its global id, which node(id:) fetches back.
    assert [r["sourceId"] for r in own["rows"]] == [x["id"], y["id"], gid("Journey", journey_id)]
    # The campaign's own analytics agree with its report row.
    totals = (await api.gql(tenant.secret_key, ANALYTICS, {"id": x["id"]}))["campaign"][
        "analytics"
    ]["totals"]
    assert (
        totals["targeted"],
        totals["sent"],
        totals["opened"],
        totals["converted"],
        totals["revenue"],
    ) == (2, 1, 1, 1, 30.0)

    def credited(data):
        return {
            (r["name"], r["channel"]): (r["converted"], r["revenue"])
            for r in data["rows"]
            if r["converted"]
        }

    assert credited(await report(conversionEvent="purchase")) == {("Welcome", "EMAIL"): (1, 100.0)}
    assert credited(await report(conversionEvent="Purchase", attribution="FIRST_TOUCH")) == {
        ("Report X", "EMAIL"): (1, 100.0)
    }
    narrow = await report(conversionEvent="Purchase", attribution="FIRST_TOUCH", windowHours=3)
    assert credited(narrow) == {("Report Y", "SMS"): (1, 100.0)}
    assert [r["name"] for r in (await report(channel="SMS"))["rows"]] == ["Report Y"]
    errors = await api.errors(tenant.secret_key, REPORT, {"input": {**span, "windowHours": 0}})
    assert errors[0]["extensions"] == {"code": "INVALID", "field": "windowHours"}
