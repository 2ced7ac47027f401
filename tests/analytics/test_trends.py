"""Trends through the GraphQL API against hand-computed answers."""

from __future__ import annotations

import pytest

from tests.analytics.helpers import TREND, identify, seed, series, track
from tests.helpers import new_tenant

ORDER = "Order Completed"
RANGE = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-04T00:00:00Z"}


def _orders(tag: str) -> list[dict]:
    u1, u2, u3 = f"{tag}-u1", f"{tag}-u2", f"{tag}-u3"
    return [
        identify(u1, plan="pro"),
        identify(u2, plan="free"),
        identify(u3),
        track(u1, ORDER, "2026-03-01T10:00:00Z", currency="EUR", amount=10),
        track(u1, ORDER, "2026-03-01T12:00:00Z", currency="EUR", amount=3),
        track(u1, ORDER, "2026-03-02T09:00:00Z", currency="USD", amount=20),
        # Another spelling of the same name key.
        track(u2, "order_completed", "2026-03-01T23:30:00Z", currency="GBP", amount=7),
        track(u2, ORDER, "2026-03-03T08:00:00Z", currency="USD", amount=50),
        track(u3, ORDER, "2026-03-02T15:00:00Z", "loc-1", currency="JPY", amount=1),
        track(u1, "Page Viewed", "2026-03-01T11:00:00Z"),
        # Outside [from, to).
        track(u1, ORDER, "2026-02-28T23:59:00Z", currency="EUR", amount=99),
        track(u1, ORDER, "2026-03-04T00:00:00Z", currency="EUR", amount=99),
    ]


_SEEDED: list = []


@pytest.fixture
async def tenants(api):
    """Two workspaces seeded once for the module (`api` is per test)."""
    if not _SEEDED:
        a, b = await new_tenant("Trends A"), await new_tenant("Trends B")
        await seed(api, a, _orders("a"))
        # B has the same shape of data, twice: none of it may show in A.
        await seed(api, b, _orders("b") + _orders("b2"))
        _SEEDED.extend([a, b])
    return tuple(_SEEDED)


async def _trend(api, tenant, **input_) -> dict:
    data = await api.gql(tenant.secret_key, TREND, {"input": {**RANGE, **input_}})
    return data["trend"]


async def test_daily_totals_and_unique_contacts(api, tenants):
    a, b = tenants
    trend = await _trend(api, a, events=[ORDER, "Page Viewed"])
    assert trend["buckets"] == [
        "2026-03-01T00:00:00+00:00",
        "2026-03-02T00:00:00+00:00",
        "2026-03-03T00:00:00+00:00",
    ]
    assert trend["series"] == [
        {"event": ORDER, "breakdownValue": None, "isOther": False, "values": [3, 2, 1], "total": 6},
        {
            "event": "Page Viewed",
            "breakdownValue": None,
            "isOther": False,
            "values": [1, 0, 0],
            "total": 1,
        },
    ]
    unique = await _trend(api, a, events=[ORDER], measure="UNIQUE_CONTACTS")
    assert unique["series"][0]["values"] == [2, 2, 1]
    assert unique["series"][0]["total"] == 3
    # Tenancy: B's own data counts for B (twice A's), never for A.
    other = await _trend(api, b, events=["order completed"])
    assert other["series"][0]["values"] == [6, 4, 2]


async def test_time_zone_buckets_are_local_days(api, tenants):
    a, _ = tenants
    trend = await _trend(api, a, events=[ORDER], timeZone="Europe/Paris")
    # Paris is UTC+1: local days begin at 23:00 UTC; the range's last hour opens a 4th day.
    assert trend["buckets"] == [
        "2026-02-28T23:00:00+00:00",
        "2026-03-01T23:00:00+00:00",
        "2026-03-02T23:00:00+00:00",
        "2026-03-03T23:00:00+00:00",
    ]
    # 23:30 UTC on the 1st is the 2nd in Paris; 23:59 UTC on Feb 28 is before `from`.
    assert trend["series"][0]["values"] == [2, 3, 1, 0]


async def test_a_dst_change_day_is_23_hours(api):
    tenant = await new_tenant("DST")
    await seed(
        api,
        tenant,
        [
            track("d1", "Login", "2026-03-28T23:30:00Z"),  # Mar 29 00:30 CET
            track("d1", "Login", "2026-03-29T21:30:00Z"),  # Mar 29 23:30 CEST
            track("d1", "Login", "2026-03-29T22:30:00Z"),  # Mar 30 00:30 CEST
        ],
    )
    data = await api.gql(
        tenant.secret_key,
        TREND,
        {
            "input": {
                "events": ["Login"],
                "timeZone": "Europe/Paris",
                "from": "2026-03-28T23:00:00Z",
                "to": "2026-03-30T22:00:00Z",
            }
        },
    )
    trend = data["trend"]
    assert trend["buckets"] == ["2026-03-28T23:00:00+00:00", "2026-03-29T22:00:00+00:00"]
    assert trend["series"][0]["values"] == [2, 1]
    utc = await api.gql(
        tenant.secret_key,
        TREND,
        {
            "input": {
                "events": ["Login"],
                "from": "2026-03-28T00:00:00Z",
                "to": "2026-03-30T00:00:00Z",
            }
        },
    )
    assert utc["trend"]["series"][0]["values"] == [1, 2]


async def test_event_breakdown_top_n_and_other(api, tenants):
    a, _ = tenants
    trend = await _trend(
        api, a, events=[ORDER], breakdown={"source": "EVENT", "property": "currency", "limit": 2}
    )
    # EUR 2 and USD 2 (ties by label), then GBP 1 + JPY 1 as "other".
    assert [
        (s["breakdownValue"], s["isOther"], s["values"], s["total"]) for s in trend["series"]
    ] == [
        ("EUR", False, [2, 0, 0], 2),
        ("USD", False, [0, 1, 1], 2),
        ("other", True, [1, 1, 0], 2),
    ]
    unique = await _trend(
        api,
        a,
        events=[ORDER],
        measure="UNIQUE_CONTACTS",
        breakdown={"source": "EVENT", "property": "currency", "limit": 1},
    )
    # Top 1 by unique contacts: USD (u1, u2); other = EUR (u1), GBP (u2), JPY (u3).
    assert series(unique) == {(ORDER, "USD"): [0, 1, 1], (ORDER, "other"): [2, 1, 0]}
    assert [s["total"] for s in unique["series"]] == [2, 3]


async def test_contact_breakdown(api, tenants):
    a, _ = tenants
    trend = await _trend(
        api, a, events=[ORDER], breakdown={"source": "CONTACT", "property": "plan"}
    )
    assert series(trend) == {
        (ORDER, "pro"): [2, 1, 0],
        (ORDER, "free"): [1, 0, 1],
        (ORDER, None): [0, 1, 0],
    }


async def test_where_and_location_filters(api, tenants):
    a, _ = tenants
    where = [{"property": "amount", "op": "gt", "value": 5}]
    trend = await _trend(api, a, events=[ORDER], where=where)
    assert trend["series"][0]["values"] == [2, 1, 1]
    at_outlet = await _trend(api, a, events=[ORDER], locationId="loc-1")
    assert at_outlet["series"][0]["values"] == [0, 1, 0]
    text = await _trend(
        api,
        a,
        events=[ORDER],
        where=[{"property": "currency", "op": "in", "value": ["eur", "GBP"]}],
    )
    assert text["series"][0]["values"] == [3, 0, 0]


async def test_segment_filter(api, tenants):
    a, _ = tenants
    created = await api.gql(
        a.secret_key,
        """mutation($input: SegmentInput!) { createSegment(input: $input) {
            segment { id } userErrors { field message } } }""",
        {"input": {"name": "Pro", "rules": {"property": "plan", "op": "eq", "value": "pro"}}},
    )
    payload = created["createSegment"]
    assert payload["userErrors"] == []
    segment_id = payload["segment"]["id"]

    async def counted():
        trend = await _trend(api, a, events=[ORDER], segmentId=segment_id)
        return trend if trend["series"][0]["values"] == [2, 1, 0] else None

    from tests.helpers import eventually

    await eventually(counted, timeout=60)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
        ({"interval": "HOUR", "from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "to"),
        ({"events": []}, "events"),
        ({"events": [f"e{i}" for i in range(11)]}, "events"),
        ({"from": "2026-03-04T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "to"),
        ({"where": [{"property": "amount", "op": "bogus", "value": 1}]}, "where[0].op"),
        ({"where": "amount > 5"}, "where"),
        (
            {"breakdown": {"source": "EVENT", "property": "$where", "limit": 3}},
            "breakdown.property",
        ),
        ({"breakdown": {"source": "EVENT", "property": "x", "limit": 0}}, "breakdown.limit"),
        ({"segmentId": "000000000000000000000000"}, "segmentId"),
    ],
)
async def test_bad_input_is_a_clear_error(api, tenants, change, field):
    a, _ = tenants
    errors = await api.errors(
        a.secret_key, TREND, {"input": {"events": [ORDER], **RANGE, **change}}
    )
    assert errors[0]["extensions"]["code"] in ("INVALID", "NOT_FOUND"), errors
    assert errors[0]["extensions"].get("field", "").startswith(field.split("[")[0]), errors
    assert "Traceback" not in errors[0]["message"]
