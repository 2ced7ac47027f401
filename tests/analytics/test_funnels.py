"""Funnels through the GraphQL API: orders, out-of-order and outside-window contacts,
step filters, breakdowns, tenancy, bad input."""

from __future__ import annotations

import pytest

from tests.analytics.helpers import FUNNEL, identify, seed, track
from tests.helpers import new_tenant

STEPS = [{"event": "View"}, {"event": "Cart"}, {"event": "Pay"}]
RANGE = {"from": "2026-04-01T00:00:00Z", "to": "2026-04-02T00:00:00Z", "windowSeconds": 3600}


def _events(tag: str) -> list[dict]:
    day = "2026-04-01T"
    return [
        identify(f"{tag}1", plan="pro"),
        identify(f"{tag}2", plan="free"),
        # f1: in order, inside the window.
        track(f"{tag}1", "View", day + "10:00:00Z", source="ad"),
        track(f"{tag}1", "Cart", day + "10:10:00Z"),
        track(f"{tag}1", "Pay", day + "10:30:00Z", amount=5),
        # f2: out of order (pay before cart).
        track(f"{tag}2", "View", day + "10:00:00Z", source="ad"),
        track(f"{tag}2", "Pay", day + "10:05:00Z", amount=50),
        track(f"{tag}2", "Cart", day + "10:20:00Z"),
        # f3: cart outside the one-hour window.
        track(f"{tag}3", "View", day + "10:00:00Z", source="mail"),
        track(f"{tag}3", "Cart", day + "11:30:00Z"),
        # f4: two steps, no source.
        track(f"{tag}4", "View", day + "12:00:00Z"),
        track(f"{tag}4", "Cart", day + "12:30:00Z"),
        # f5: never entered (no View).
        track(f"{tag}5", "Cart", day + "09:00:00Z"),
        # Outside the range.
        track(f"{tag}6", "View", "2026-04-02T00:00:00Z"),
    ]


_SEEDED: list = []


@pytest.fixture
async def tenants(api):
    if not _SEEDED:
        a, b = await new_tenant("Funnel A"), await new_tenant("Funnel B")
        await seed(api, a, _events("fa"))
        await seed(api, b, _events("fb") + _events("fc"))
        _SEEDED.extend([a, b])
    return tuple(_SEEDED)


async def _funnel(api, tenant, **input_) -> dict:
    data = await api.gql(tenant.secret_key, FUNNEL, {"input": {"steps": STEPS, **RANGE, **input_}})
    return data["funnel"]


def _counts(funnel: dict) -> list[int]:
    return [s["count"] for s in funnel["steps"]]


async def test_ordered_funnel(api, tenants):
    a, _ = tenants
    funnel = await _funnel(api, a)
    assert funnel["steps"] == [
        {
            "event": "View",
            "count": 4,
            "conversionRate": 1.0,
            "stepConversionRate": 1.0,
            "dropOff": 0,
            "medianSecondsFromPrevious": None,
        },
        # f1 (600 s), f2 (cart at 10:20: 1200 s), f4 (1800 s); f3's cart is too late.
        {
            "event": "Cart",
            "count": 3,
            "conversionRate": 0.75,
            "stepConversionRate": 0.75,
            "dropOff": 1,
            "medianSecondsFromPrevious": 1200.0,
        },
        # Only f1: f2 paid before its cart.
        {
            "event": "Pay",
            "count": 1,
            "conversionRate": 0.25,
            "stepConversionRate": pytest.approx(1 / 3),
            "dropOff": 2,
            "medianSecondsFromPrevious": 1200.0,
        },
    ]
    assert funnel["breakdowns"] == []


async def test_strict_and_any_orders(api, tenants):
    a, _ = tenants
    # STRICT: f2's pay comes between view and cart, which ends its attempt.
    assert _counts(await _funnel(api, a, order="STRICT")) == [4, 2, 1]
    anyway = await _funnel(api, a, order="ANY")
    assert _counts(anyway) == [4, 3, 2]
    # ANY measures from the entry: cart 600 / 1200 / 1800 s, pay 1800 (f1) / 300 (f2) s.
    assert [s["medianSecondsFromPrevious"] for s in anyway["steps"]] == [None, 1200.0, 1050.0]


async def test_a_longer_window_admits_the_late_step(api, tenants):
    a, _ = tenants
    assert _counts(await _funnel(api, a, windowSeconds=7200)) == [4, 4, 1]


async def test_step_where(api, tenants):
    a, _ = tenants
    steps = [
        *STEPS[:2],
        {"event": "Pay", "where": [{"property": "amount", "op": "gte", "value": 10}]},
    ]
    assert _counts(await _funnel(api, a, steps=steps, order="ANY")) == [4, 3, 1]


async def test_breakdown_by_entry_property(api, tenants):
    a, _ = tenants
    funnel = await _funnel(api, a, breakdown={"source": "EVENT", "property": "source", "limit": 1})
    assert [
        (b["value"], b["isOther"], b["isMissing"], [s["count"] for s in b["steps"]])
        for b in funnel["breakdowns"]
    ] == [
        ("ad", False, False, [2, 2, 1]),
        ("other", True, False, [2, 1, 0]),
    ]
    wide = await _funnel(api, a, breakdown={"source": "EVENT", "property": "source", "limit": 5})
    assert [(b["value"], b["isMissing"]) for b in wide["breakdowns"]] == [
        ("ad", False),
        ("mail", False),
        ("", True),
    ]


async def test_breakdown_by_contact_property_and_location(api, tenants):
    a, _ = tenants
    funnel = await _funnel(api, a, breakdown={"source": "CONTACT", "property": "plan"})
    assert [
        (b["value"], b["isMissing"], [s["count"] for s in b["steps"]]) for b in funnel["breakdowns"]
    ] == [("", True, [2, 1, 0]), ("free", False, [1, 1, 0]), ("pro", False, [1, 1, 1])]
    assert _counts(await _funnel(api, a, locationId="nowhere")) == [0, 0, 0]


async def test_other_workspaces_never_count(api, tenants):
    _, b = tenants
    assert _counts(await _funnel(api, b)) == [8, 6, 2]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": [{"event": "View"}]}, "steps"),
        ({"steps": [{"event": f"e{i}"} for i in range(11)]}, "steps"),
        ({"windowSeconds": 0}, "windowSeconds"),
        (
            {"steps": [{"event": "View"}, {"event": "Cart", "where": [{"op": "eq"}]}]},
            "steps[1].where",
        ),
        ({"steps": [{"event": ""}, {"event": "Cart"}]}, "steps[0].event"),
    ],
)
async def test_bad_input(api, tenants, change, field):
    a, _ = tenants
    errors = await api.errors(a.secret_key, FUNNEL, {"input": {"steps": STEPS, **RANGE, **change}})
    assert errors[0]["extensions"]["code"] == "INVALID", errors
    assert errors[0]["extensions"]["field"].startswith(field), errors
