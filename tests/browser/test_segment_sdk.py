"""Segment's own browser SDK (analytics-next, from npm) in headless Chromium, on a page of
another origin, sends to Reach: it loads its settings from Reach, passes the CORS
preflight of its Basic-auth requests, and its events are stored, one call at a time and
in batches."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.browser.conftest import NODE_MODULES
from tests.helpers import eventually, new_tenant
from tests.tracking_helpers import contacts_of, events_of

BUNDLE = NODE_MODULES / "@segment" / "analytics-next" / "dist" / "umd" / "index.js"

PAGE = """<!doctype html><meta charset="utf-8"><title>Shop</title>
<script>
window.__errors = [];
addEventListener("error", (e) => __errors.push(String(e.message)));
addEventListener("unhandledrejection", (e) => __errors.push(String(e.reason)));
</script>
<script src="analytics-next.js"></script>
<script>
const q = new URLSearchParams(location.search);
const options = q.get("batching")
  ? {integrations: {"Segment.io": {deliveryStrategy: {strategy: "batching", config: {size: 3, timeout: 200}}}}}
  : {};
const analytics = AnalyticsNext.AnalyticsBrowser.load(
  {writeKey: q.get("key"), cdnURL: q.get("reach")}, options);
(async () => {
  try {
    const calls = await Promise.all([
      analytics.identify(q.get("user"), {email: q.get("user") + "@example.com", plan: "pro"}),
      analytics.track("Order Completed", {revenue: 42.5, currency: "USD"}),
      analytics.page("Pricing"),
    ]);
    window.__sent = calls.map((c) => ({
      id: c.event.messageId, type: c.event.type,
      failed: c.failedDelivery() ? String(c.failedDelivery().reason) : null,
    }));
  } catch (e) { __errors.push(String(e)); }
})();
</script>"""


@pytest.fixture(scope="module")
def shop(static_site):
    origin, root = static_site
    if BUNDLE.exists():
        shutil.copy(BUNDLE, root / "analytics-next.js")
    (root / "shop.html").write_text(PAGE)
    return origin


@pytest.mark.parametrize("batching", [False, True], ids=["one-by-one", "batched"])
async def test_analytics_next_in_chromium_sends_to_reach(
    browser, shop, base_url, services, batching
):
    t = await new_tenant()
    user = "browser-batched" if batching else "browser-single"
    query = f"key={t.write_key}&reach={base_url}&user={user}" + ("&batching=1" if batching else "")
    await browser.open(f"{shop}/shop.html?{query}")
    sent = json.loads(await browser.wait_for("window.__sent && JSON.stringify(window.__sent)"))
    assert [s["type"] for s in sent] == ["identify", "track", "page"]
    assert all(s["failed"] is None for s in sent), sent
    ids = {s["id"] for s in sent}

    async def arrived():
        stored = [e for e in await events_of(t) if e.message_id in ids]
        return stored if len(stored) == 3 else None

    stored = {e.type: e for e in await eventually(arrived, timeout=60)}
    track = stored["track"]
    assert (track.event, track.properties) == (
        "Order Completed",
        {"revenue": 42.5, "currency": "USD"},
    )
    assert track.user_id == user and track.anonymous_id  # the SDK's own anonymous id
    assert track.context["library"]["name"] == "analytics.js"
    assert track.context["page"]["url"].startswith(f"{shop}/shop.html")
    assert "Chrome" in track.context["userAgent"]
    assert stored["page"].properties["url"].startswith(shop)
    [contact] = [c for c in await contacts_of(t) if c.user_id == user]
    assert contact.email == f"{user}@example.com"
    assert track.anonymous_id in contact.anonymous_ids
    await browser.screenshot(f"analytics-next-{'batched' if batching else 'single'}")
