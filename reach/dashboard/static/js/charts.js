// Hand-written SVG charts. Every label is set with textContent: data is never parsed
// as markup.

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#2563eb", "#db2777", "#16a34a", "#ea580c", "#7c3aed", "#0891b2"];

function el(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = String(text);
  return node;
}

export function color(index) {
  return COLORS[index % COLORS.length];
}

// series: [{label, values: [number]}], labels: [string] (one per bucket).
export function lineChart(series, labels, { width = 560, height = 200 } = {}) {
  const pad = { left: 36, right: 8, top: 10, bottom: 22 };
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-label": series.map((s) => `${s.label}: ${s.values.reduce((a, b) => a + b, 0)}`).join(", "),
  });
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const n = Math.max(1, labels.length - 1);
  const x = (i) => pad.left + (i / n) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - (v / max) * (height - pad.top - pad.bottom);
  for (const tick of [0, Math.round(max / 2), max]) {
    svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: "grid" }));
    svg.append(el("text", { x: pad.left - 4, y: y(tick) + 4, class: "axis", "text-anchor": "end" }, tick));
  }
  const step = Math.max(1, Math.ceil(labels.length / 6));
  labels.forEach((label, i) => {
    if (i % step === 0 || i === labels.length - 1) {
      svg.append(el("text", { x: x(i), y: height - 6, class: "axis", "text-anchor": "middle" }, label));
    }
  });
  series.forEach((s, index) => {
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const line = el("polyline", { points, fill: "none", stroke: color(index), "stroke-width": 2, class: "series" });
    line.dataset.series = s.label;
    line.dataset.total = String(s.values.reduce((a, b) => a + b, 0));
    svg.append(line);
    s.values.forEach((v, i) => {
      const dot = el("circle", { cx: x(i), cy: y(v), r: 2.5, fill: color(index) });
      dot.append(el("title", {}, `${s.label} · ${labels[i]}: ${v}`));
      svg.append(dot);
    });
  });
  return svg;
}

// steps: [{label, count, rate}] drawn as horizontal bars, widths relative to the first.
export function funnelChart(steps, { width = 560 } = {}) {
  const rowHeight = 30;
  const labelWidth = 170;
  const height = steps.length * rowHeight + 4;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  const top = Math.max(1, steps.length ? steps[0].count : 1);
  steps.forEach((step, i) => {
    const y = i * rowHeight + 2;
    const w = Math.max(2, (step.count / top) * (width - labelWidth - 80));
    svg.append(el("text", { x: 0, y: y + 18, class: "label" }, step.label));
    const bar = el("rect", { x: labelWidth, y, width: w, height: rowHeight - 8, rx: 3, fill: color(0), class: "bar" });
    bar.dataset.count = String(step.count);
    svg.append(bar);
    const pct = `${(step.rate * 100).toFixed(1)}%`;
    svg.append(el("text", { x: labelWidth + w + 6, y: y + 18, class: "label" }, `${step.count} · ${pct}`));
  });
  return svg;
}
