"""The dashboard Reach serves at /dashboard, in headless Chromium: a user signs in with
email and password, watches a segment's count rise as events arrive through /v1/batch,
a campaign's progress move to done, and the location chip narrow the views."""

from __future__ import annotations

import json

import httpx

from tests.campaign_helpers import add_contact, add_segment, call, create, definition
from tests.helpers import new_tenant
from tests.tracking_helpers import basic

LOCATION = (
    "mutation($c: String!, $n: String!) { createLocation(input: {name: $n, code: $c}) "
    "{ location { id } } }"
)
HOSTILE = '<img src=x id="injected">Bold & "quoted"'


async def _location(api, tenant, code: str, name: str) -> str:
    data = await api.gql(tenant.secret_key, LOCATION, {"c": code, "n": name})
    return data["createLocation"]["location"]["id"]


async def _sign_in(browser, base_url: str, email: str, password: str, query: str = "") -> None:
    await browser.open(f"{base_url}/dashboard{query}")
    await browser.js("sessionStorage.clear();")  # one Chromium serves every test
    await browser.open(f"{base_url}/dashboard{query}")
    await browser.wait_for("!document.getElementById('sign-in').hidden")
    await browser.type("#email", email)
    await browser.type("#password", password)
    await browser.click("#login-form button")
    await browser.wait_for("!document.getElementById('views').hidden")


def _text(css: str) -> str:
    return f"(document.querySelector({json.dumps(css)}) || {{}}).textContent"


async def test_dashboard_live_segment_campaign_and_location(chromium, api, base_url, services):
    browser = chromium
    t = await new_tenant()
    bandra = await _location(api, t, "bandra", "Bandra")
    juhu = await _location(api, t, "juhu", "Juhu")
    for i, loc in enumerate([bandra, bandra, juhu, None]):
        extra = {"locationId": loc} if loc else {}
        await add_contact(api, t, email=f"c{i}@example.com", tags=["all"], **extra)
    buyers = await add_segment(api, t, "Buyers", {"event": "Order Completed"})
    everyone = await add_segment(api, t, HOSTILE, {"tag": "all"})
    campaign = await create(api, t.secret_key, definition([everyone], channels=["email"]))

    await _sign_in(browser, base_url, t.owner_email, "correct horse battery")
    assert (
        await browser.js(f"return {_text('#workspace')};")
        == (await api.gql(t.secret_key, "{ workspace { name } }"))["workspace"]["name"]
    )
    # The token is kept for the tab only, never in the URL.
    assert await browser.js("return sessionStorage.getItem('reach.dashboard.token')")
    assert "token" not in await browser.js("return location.href;")

    await browser.wait_for(f"{_text('#contacts-count')} === '4'")
    await browser.wait_for(f"{_text('#live-status')} === 'live'")
    buyers_count = f'[data-segment-id="{buyers}"] .count'
    await browser.wait_for(f"{_text(buyers_count)} === '0'")
    # Data is text, never markup: the hostile segment name shows as typed.
    hostile_row = f'[data-segment-id="{everyone}"] td'
    await browser.wait_for(f"{_text(hostile_row)} === {json.dumps(HOSTILE)}")
    assert await browser.js("return document.getElementById('injected');") is None

    # Events arriving through /v1/batch make a new contact enter the segment: the count
    # on the page moves without a reload.
    batch = [
        {"type": "identify", "userId": "buyer-1", "traits": {"email": "buyer@example.com"}},
        {"type": "track", "userId": "buyer-1", "event": "Order Completed"},
    ]
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.post("/v1/batch", json={"batch": batch}, headers=basic(t.write_key))
    assert response.status_code == 200, response.text
    await browser.wait_for(f"{_text(buyers_count)} === '1'", timeout=90)

    # A campaign's progress: draft with nothing sent, then sending, then all sent.
    row = f'[data-campaign-id="{campaign["id"]}"]'
    await browser.wait_for(f"document.querySelector('{row}')?.dataset.status === 'DRAFT'")
    assert await browser.js(f"return document.querySelector('{row}').dataset.sent;") == "0"
    scheduled = await call(api, t.secret_key, "scheduleCampaign", campaign["id"])
    assert scheduled["userErrors"] == [], scheduled
    done = (
        f"document.querySelector('{row}')?.dataset.status === 'COMPLETED' && "
        f"document.querySelector('{row}').dataset.sent === '4'"
    )
    await browser.wait_for(done, timeout=120)
    assert "4 sent / 4 targeted" in await browser.js(f"return {_text(row + ' .progress-text')};")
    width = await browser.js(f"return document.querySelector('{row} .bar-fill').style.width;")
    assert width == "100%"
    await browser.wait_for(f"{_text('#contacts-count')} === '5'")
    await browser.screenshot("dashboard")

    # The location chip narrows every view and says so.
    await browser.wait_for(f"{_text('#scope')} === 'Scope: all locations'")
    await browser.select("#location", bandra)
    await browser.wait_for(f"{_text('#contacts-count')} === '2'")
    scope = await browser.js(f"return {_text('#scope')};")
    assert scope.startswith("Scope: Bandra (bandra)"), scope
    assert await browser.js("return !document.getElementById('scope').hidden;")
    assert f"location={bandra}" in await browser.js("return location.search;")
    await browser.wait_for(f"!document.querySelector('[data-segment-id=\"{buyers}\"]')")
    await browser.screenshot("dashboard-location")

    # The scope is in the URL: a reload (the session survives it) keeps it, by code too.
    await browser.open(f"{base_url}/dashboard?location=juhu")
    await browser.wait_for(f"{_text('#contacts-count')} === '1'")
    assert (await browser.js(f"return {_text('#scope')};")).startswith("Scope: Juhu")
    assert await browser.js("return window.__errors;") == []


async def test_wrong_password_and_write_key_are_refused_on_the_page(chromium, base_url, services):
    browser = chromium
    t = await new_tenant()
    await browser.open(f"{base_url}/dashboard")
    # The last test's session may be resuming (it stores its token again once the server
    # accepted it): let it settle before forgetting it, or it comes back.
    await browser.wait_for(
        "!document.getElementById('sign-in').hidden || !document.getElementById('views').hidden"
    )
    await browser.js("sessionStorage.clear();")
    await browser.open(f"{base_url}/dashboard")
    await browser.wait_for("!document.getElementById('sign-in').hidden")
    await browser.type("#email", t.owner_email)
    await browser.type("#password", "wrong password")
    await browser.click("#login-form button")
    await browser.wait_for(f"{_text('#sign-in-error')}")
    assert await browser.js("return document.getElementById('views').hidden;")
    await browser.type("#secret-key", t.write_key)
    await browser.click("#key-form button")
    await browser.wait_for(f"({_text('#sign-in-error')} || '').includes('Write keys')")
    assert await browser.js("return sessionStorage.getItem('reach.dashboard.token');") is None
    # A secret key signs in.
    await browser.type("#secret-key", t.secret_key)
    await browser.click("#key-form button")
    await browser.wait_for("!document.getElementById('views').hidden")
    await browser.click("#sign-out")
    await browser.wait_for("!document.getElementById('sign-in').hidden")
    assert await browser.js("return sessionStorage.getItem('reach.dashboard.token');") is None


async def test_served_with_a_strict_policy_and_no_build_step(http):
    page = await http.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["cache-control"] == "no-cache"
    assert "<script>" not in page.text  # no inline script for the policy to allow
    module = await http.get("/dashboard/static/js/ws.js")
    assert module.status_code == 200
    assert "javascript" in module.headers["content-type"]
    assert module.headers["content-security-policy"] == csp
    again = await http.get(
        "/dashboard/static/js/ws.js", headers={"If-None-Match": module.headers["etag"]}
    )
    assert again.status_code == 304
    for path in (
        "/dashboard/static/../routes.py",
        "/dashboard/static/%2e%2e/routes.py",
        "/dashboard/static/nope.js",
    ):
        assert (await http.get(path)).status_code == 404, path
    assert (await http.get("/dashboard/", follow_redirects=False)).headers[
        "location"
    ] == "/dashboard"


async def test_trend_chart_renders(chromium, api, base_url, services):
    t = await new_tenant()
    batch = [
        {"type": "track", "userId": f"u{i}", "event": event}
        for i in range(3)
        for event in ("Product Viewed", "Order Completed")
    ]
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.post("/v1/batch", json={"batch": batch}, headers=basic(t.write_key))
    assert response.status_code == 200, response.text
    await _sign_in(
        chromium,
        base_url,
        t.owner_email,
        "correct horse battery",
        "?events=Product%20Viewed,Order%20Completed",
    )
    # One line per event, each counting its 3 events (whatever spelling the server echoes).
    totals = "[...document.querySelectorAll('#trend polyline.series')].map((p) => p.dataset.total)"
    await chromium.wait_for(f"{totals}.join() === '3,3'", timeout=90)
    await chromium.wait_for("document.getElementById('funnel').dataset.rendered === 'true'")
    await chromium.screenshot("dashboard-trend")
