// Event volume (with "events today"), a trend and a funnel, from the analytics queries
// (trend, funnel, trendUpdates). A server without them answers "Cannot query field";
// each panel then says "analytics unavailable: <message>" and the rest of the page works.

import { gql, isMissingField } from "./api.js";
import { color, funnelChart, lineChart } from "./charts.js";
import { h, message } from "./dom.js";

const TREND = `query($input: TrendInput!) { trend(input: $input) {
  buckets series { event breakdownValue values total } } }`;
const UPDATES = `subscription($input: TrendInput!) { trendUpdates(input: $input) {
  start series { event breakdownValue value } } }`;
const FUNNEL = `query($input: FunnelInput!) { funnel(input: $input) {
  steps { event count conversionRate stepConversionRate dropOff } } }`;

const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const HOUR = 3600 * 1000;

function problem(ctx, container, error) {
  if (ctx.onAuthError(error)) return;
  const text = isMissingField(error) ? `analytics unavailable: ${error.message}` : `error: ${error.message}`;
  message(container, text, isMissingField(error) ? "notice unavailable" : "error");
}

function legend(names) {
  return h("div", { class: "legend" }, ...names.map((name, i) => {
    const swatch = h("span", { class: "swatch" });
    swatch.style.backgroundColor = color(i);
    return h("span", {}, swatch, name);
  }));
}

function needEvents(ctx, container) {
  if (ctx.events.length) return true;
  message(container, "Name one or more events above to chart them.");
  return false;
}

const pad = (n) => String(n).padStart(2, "0");

export function volumeView(ctx) {
  const container = document.getElementById("volume");
  const today = document.getElementById("events-today");
  today.textContent = "…";
  if (!needEvents(ctx, container)) { today.textContent = "—"; return () => {}; }
  const hour = new Date();
  hour.setMinutes(0, 0, 0);
  const input = {
    events: ctx.events, interval: "HOUR", timeZone: TIME_ZONE, locationId: ctx.locationId,
    from: new Date(hour.getTime() - 23 * HOUR).toISOString(),
    to: new Date(hour.getTime() + HOUR).toISOString(),
  };
  let buckets = [];
  let series = [];
  let stopped = false;
  let unsubscribe = () => {};

  const draw = () => {
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    let sum = 0;
    buckets.forEach((start, i) => {
      if (start >= midnight) for (const s of series) sum += s.values[i] || 0;
    });
    today.textContent = String(sum);
    const labels = buckets.map((b) => `${pad(b.getHours())}:00`);
    container.replaceChildren(
      legend(series.map((s) => s.label)),
      lineChart(series, labels, { height: 170 }),
    );
  };

  const apply = (bucket) => {
    const start = new Date(bucket.start);
    let index = buckets.findIndex((b) => b.getTime() === start.getTime());
    if (index < 0) {
      if (buckets.length && start < buckets[buckets.length - 1]) return;
      buckets = [...buckets.slice(1), start];
      for (const s of series) s.values = [...s.values.slice(1), 0];
      index = buckets.length - 1;
    }
    for (const item of bucket.series) {
      const s = series.find((x) => x.event === item.event && !x.breakdownValue);
      if (s) s.values[index] = item.value;
    }
    draw();
  };

  gql(ctx.token, TREND, { input }).then(
    (data) => {
      if (stopped) return;
      buckets = data.trend.buckets.map((b) => new Date(b));
      series = data.trend.series.map((s) => ({
        label: s.event, event: s.event, breakdownValue: s.breakdownValue, values: [...s.values],
      }));
      draw();
      unsubscribe = ctx.live.subscribe(UPDATES, { input }, {
        next: (d) => apply(d.trendUpdates),
        error: (error) => container.append(h("p", { class: "notice" }, `not live: ${error.message}`)),
      });
    },
    (error) => { today.textContent = "—"; problem(ctx, container, error); },
  );
  return () => { stopped = true; unsubscribe(); };
}

export function trendView(ctx) {
  const container = document.getElementById("trend");
  message(container, "loading…");
  if (!needEvents(ctx, container)) return () => {};
  const start = new Date();
  start.setHours(0, 0, 0, 0);
  start.setDate(start.getDate() - 29);
  const end = new Date();
  end.setHours(0, 0, 0, 0);
  end.setDate(end.getDate() + 1);
  const input = {
    events: ctx.events, interval: "DAY", timeZone: TIME_ZONE, locationId: ctx.locationId,
    from: start.toISOString(), to: end.toISOString(),
  };
  let stopped = false;
  gql(ctx.token, TREND, { input }).then(
    (data) => {
      if (stopped) return;
      const labels = data.trend.buckets.map((b) => {
        const d = new Date(b);
        return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
      });
      const series = data.trend.series.map((s) => ({ label: s.event, values: s.values }));
      container.replaceChildren(legend(series.map((s) => s.label)), lineChart(series, labels));
      container.dataset.rendered = "true";
    },
    (error) => problem(ctx, container, error),
  );
  return () => { stopped = true; };
}

export function funnelView(ctx) {
  const container = document.getElementById("funnel");
  if (ctx.events.length < 2) {
    message(container, "Name two or more events above, in order, to see a funnel.");
    return () => {};
  }
  message(container, "loading…");
  const now = new Date();
  const input = {
    steps: ctx.events.map((event) => ({ event })), locationId: ctx.locationId,
    from: new Date(now.getTime() - 30 * 24 * HOUR).toISOString(), to: now.toISOString(),
  };
  let stopped = false;
  gql(ctx.token, FUNNEL, { input }).then(
    (data) => {
      if (stopped) return;
      const steps = data.funnel.steps.map((s) => ({ label: s.event, count: s.count, rate: s.conversionRate }));
      container.replaceChildren(funnelChart(steps));
      container.dataset.rendered = "true";
    },
    (error) => problem(ctx, container, error),
  );
  return () => { stopped = true; };
}
