"""Retention through the GraphQL API: first-ever cohorts, period 0 after the start event,
a triangle, weeks in a zone, bad input."""

from __future__ import annotations

import pytest

from tests.analytics.helpers import RETENTION, seed, track
from tests.helpers import new_tenant

RANGE = {"from": "2026-04-10T00:00:00Z", "to": "2026-04-13T00:00:00Z"}
INPUT = {"startEvent": "Signed Up", "returnEvent": "App Opened", **RANGE}


async def test_daily_cohorts(api):
    tenant, other = await new_tenant("Retention"), await new_tenant("Retention B")
    events = [
        track("r1", "Signed Up", "2026-04-10T09:00:00Z"),
        track("r1", "App Opened", "2026-04-10T10:00:00Z"),  # period 0
        track("r1", "App Opened", "2026-04-12T10:00:00Z"),  # period 2
        track("r2", "Signed Up", "2026-04-10T15:00:00Z"),
        track("r2", "App Opened", "2026-04-10T14:00:00Z"),  # before signing up: not a return
        track("r2", "App Opened", "2026-04-11T14:00:00Z"),  # period 1
        track("r3", "Signed Up", "2026-04-11T08:00:00Z"),
        track("r3", "App Opened", "2026-04-12T08:00:00Z"),  # period 1
        track("r4", "Signed Up", "2026-04-09T08:00:00Z"),  # first ever: before the range
        track("r4", "Signed Up", "2026-04-11T08:00:00Z"),
        track("r4", "App Opened", "2026-04-12T08:00:00Z"),
        track("r5", "App Opened", "2026-04-11T08:00:00Z"),  # never signed up
    ]
    await seed(api, tenant, events)
    await seed(api, other, [track("x1", "Signed Up", "2026-04-10T09:00:00Z")])
    data = await api.gql(tenant.secret_key, RETENTION, {"input": INPUT})
    assert data["retention"] == {
        "interval": "DAY",
        "cohorts": [
            {"start": "2026-04-10T00:00:00+00:00", "size": 2, "returned": [1, 1, 1]},
            {"start": "2026-04-11T00:00:00+00:00", "size": 1, "returned": [0, 1]},
            {"start": "2026-04-12T00:00:00+00:00", "size": 0, "returned": [0]},
        ],
    }
    capped = await api.gql(tenant.secret_key, RETENTION, {"input": {**INPUT, "periods": 2}})
    assert [c["returned"] for c in capped["retention"]["cohorts"]] == [[1, 1], [0, 1], [0]]


async def test_weekly_cohorts_in_a_zone(api):
    tenant = await new_tenant("Retention weeks")
    await seed(
        api,
        tenant,
        [
            # Sunday 23:30 UTC is Monday 01:30 in Paris (UTC+2 in April): the second week.
            track("w1", "Signed Up", "2026-04-12T23:30:00Z"),
            track("w1", "App Opened", "2026-04-20T09:00:00Z"),
            track("w2", "Signed Up", "2026-04-08T09:00:00Z"),
            track("w2", "App Opened", "2026-04-12T23:30:00Z"),
        ],
    )
    data = await api.gql(
        tenant.secret_key,
        RETENTION,
        {
            "input": {
                **INPUT,
                "interval": "WEEK",
                "timeZone": "Europe/Paris",
                "from": "2026-04-06T00:00:00Z",
                "to": "2026-04-26T00:00:00Z",
            }
        },
    )
    assert data["retention"]["cohorts"] == [
        {"start": "2026-04-05T22:00:00+00:00", "size": 1, "returned": [0, 1, 0]},
        {"start": "2026-04-12T22:00:00+00:00", "size": 1, "returned": [0, 1]},
        {"start": "2026-04-19T22:00:00+00:00", "size": 0, "returned": [0]},
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"interval": "MONTH"}, "interval"),
        ({"interval": "HOUR"}, "interval"),
        ({"periods": 0}, "periods"),
        ({"timeZone": "Nowhere/Land"}, "timeZone"),
        ({"from": "2020-01-01T00:00:00Z"}, "to"),
        ({"startEvent": " "}, "startEvent"),
    ],
)
async def test_bad_input(api, change, field):
    tenant = await new_tenant("Retention bad")
    errors = await api.errors(tenant.secret_key, RETENTION, {"input": {**INPUT, **change}})
    assert errors[0]["extensions"] == {"code": "INVALID", "field": field}, errors
