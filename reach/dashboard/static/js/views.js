// Overview (contacts), segments with live member counts, campaigns with live progress.

import { gql } from "./api.js";
import { every, flash, h, message } from "./dom.js";

const CONTACTS = "query($loc: ID) { contacts(locationId: $loc) { totalCount } }";
const SEGMENTS = "{ segments(first: 50) { edges { node { id name kind memberCount locationId } } } }";
const CAMPAIGNS = `{ campaigns(first: 20) { edges { node {
  id name status locationId allOutlets } } } }`;
const MEMBER_COUNT = "subscription($id: ID!) { segmentMemberCount(segmentId: $id) }";
const PROGRESS = `subscription($id: ID!) { campaignProgress(campaignId: $id) {
  status run targeted live sent failed skipped } }`;
const LIVE_ROWS = 25; // subscriptions per list; the rest show the count as loaded

function failed(ctx, container, error) {
  if (!ctx.onAuthError(error)) message(container, `error: ${error.message}`, "error");
}

export function overviewView(ctx) {
  const value = document.getElementById("contacts-count");
  value.textContent = "…";
  // Contacts have no subscription; the count is re-read every few seconds.
  return every(5000, async () => {
    try {
      const data = await gql(ctx.token, CONTACTS, { loc: ctx.locationId });
      const count = String(data.contacts.totalCount);
      if (value.textContent !== count) {
        value.textContent = count;
        flash(value);
      }
    } catch (error) {
      if (!ctx.onAuthError(error)) value.textContent = "—";
      throw error;
    }
  });
}

// A list whose rows are re-rendered (and re-subscribed) only when its set of ids changes.
function liveList(ctx, container, load, render) {
  let shown = null;
  let unsubscribe = [];
  const clear = () => { for (const u of unsubscribe) u(); unsubscribe = []; };
  const stop = every(15000, async () => {
    let items;
    try {
      items = await load();
    } catch (error) {
      shown = null;
      clear();
      failed(ctx, container, error);
      return;
    }
    const key = items.map((i) => i.id).join(",");
    if (key === shown) return;
    shown = key;
    clear();
    unsubscribe = render(items);
  });
  return () => { stop(); clear(); };
}

const inScope = (ctx, item) => !ctx.locationId || item.locationId === ctx.locationId || item.allOutlets;

export function segmentsView(ctx) {
  const container = document.querySelector("#segments .panel-body");
  message(container, "loading…");
  return liveList(
    ctx, container,
    async () => (await gql(ctx.token, SEGMENTS)).segments.edges.map((e) => e.node).filter((s) => inScope(ctx, s)),
    (segments) => {
      if (!segments.length) {
        message(container, ctx.locationId ? "No segments for this location." : "No segments yet.");
        return [];
      }
      const body = h("tbody");
      const stops = [];
      segments.forEach((segment, index) => {
        const count = h("td", { class: "num count" }, segment.memberCount);
        body.append(h("tr", { "data-segment-id": segment.id },
          h("td", {}, segment.name), h("td", { class: "muted" }, segment.kind.toLowerCase()), count));
        if (index < LIVE_ROWS) {
          stops.push(ctx.live.subscribe(MEMBER_COUNT, { id: segment.id }, {
            next: (data) => {
              const text = String(data.segmentMemberCount);
              if (count.textContent !== text) { count.textContent = text; flash(count); }
            },
            error: (error) => { count.title = error.message; },
          }));
        }
      });
      container.replaceChildren(h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Segment"), h("th", {}, "Kind"), h("th", { class: "num" }, "Members"))),
        body));
      return stops;
    },
  );
}

function showProgress(row, p) {
  const done = p.sent + p.failed + p.skipped;
  const fraction = p.targeted ? Math.min(1, done / p.targeted) : 0;
  row.status.textContent = p.status.toLowerCase();
  row.fill.style.width = `${(fraction * 100).toFixed(1)}%`;
  row.text.textContent = `${p.sent} sent / ${p.targeted} targeted` +
    (p.failed || p.skipped ? ` (${p.failed} failed, ${p.skipped} skipped)` : "");
  row.tr.dataset.sent = String(p.sent);
  row.tr.dataset.targeted = String(p.targeted);
  row.tr.dataset.status = p.status;
  flash(row.text);
}

export function campaignsView(ctx) {
  const container = document.querySelector("#campaigns .panel-body");
  message(container, "loading…");
  return liveList(
    ctx, container,
    async () => (await gql(ctx.token, CAMPAIGNS)).campaigns.edges.map((e) => e.node).filter((c) => inScope(ctx, c)),
    (campaigns) => {
      if (!campaigns.length) {
        message(container, ctx.locationId ? "No campaigns for this location." : "No campaigns yet.");
        return [];
      }
      const body = h("tbody");
      const stops = [];
      campaigns.forEach((campaign, index) => {
        const row = {
          status: h("td", { class: "muted" }, campaign.status.toLowerCase()),
          fill: h("div", { class: "bar-fill" }),
          text: h("span", { class: "progress-text small" }, ""),
        };
        row.tr = h("tr", { "data-campaign-id": campaign.id, "data-status": campaign.status },
          h("td", {}, campaign.name), row.status,
          h("td", {}, h("div", { class: "bar-track" }, row.fill), row.text));
        body.append(row.tr);
        if (index < LIVE_ROWS) {
          stops.push(ctx.live.subscribe(PROGRESS, { id: campaign.id }, {
            next: (data) => showProgress(row, data.campaignProgress),
            error: (error) => { row.text.textContent = `no live progress: ${error.message}`; },
          }));
        }
      });
      container.replaceChildren(h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Campaign"), h("th", {}, "Status"), h("th", {}, "Progress"))),
        body));
      return stops;
    },
  );
}
