// What charts draw besides their series: thresholds of alert rules (/api/thresholds)
// as dashed horizontal lines, and annotations (/api/annotations) as shaded bands
// (alert periods) or dashed vertical lines (boots, agent restarts). Drawn on uPlot's
// canvas from its hooks, in colours of the theme's CSS variables (no inline style).
// Titles come from rules and labels (user input): only ever set as textContent.

import { cssVar, fetchJSON } from "./ui.js";

const MAX_LISTED = 5;
const PLAIN = /^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^{}]*\})?\s*$/;

function severityColour(severity) {
  const s = String(severity || "").toLowerCase();
  if (["critical", "page", "error", "fail", "emergency"].includes(s)) return cssVar("--fail") || "#f05252";
  if (["warning", "warn"].includes(s)) return cssVar("--warn") || "#e0a526";
  return cssVar("--accent") || "#5aa9ff";
}

// The y range of a chart: its data's, widened to take in the thresholds.
export function yRange(min, max, thresholds) {
  let lo = min;
  let hi = max;
  for (const t of thresholds) {
    lo = lo == null ? t.value : Math.min(lo, t.value);
    hi = hi == null ? t.value : Math.max(hi, t.value);
  }
  if (lo == null || hi == null) return [0, 1];
  return uPlot.rangeNum(lo, hi, 0.1, true);
}

function clipToPlot(u) {
  const { left, top, width, height } = u.bbox;
  u.ctx.beginPath();
  u.ctx.rect(left, top, width, height);
  u.ctx.clip();
}

// uPlot drawAxes hook: under the series.
export function drawAnnotations(u, annotations) {
  if (!annotations.length) return;
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  clipToPlot(u);
  for (const a of annotations) {
    const x0 = u.valToPos(a.start_ms / 1000, "x", true);
    if (a.kind === "alert") {
      const x1 = a.end_ms == null ? left + width : u.valToPos(a.end_ms / 1000, "x", true);
      ctx.globalAlpha = 0.16;
      ctx.fillStyle = severityColour(a.severity);
      ctx.fillRect(x0, top, Math.max(devicePixelRatio, x1 - x0), height);
    } else {
      ctx.globalAlpha = 0.9;
      ctx.strokeStyle = a.kind === "boot" ? cssVar("--fail") || "#f05252" : cssVar("--fg-muted") || "#999";
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(x0, top);
      ctx.lineTo(x0, top + height);
      ctx.stroke();
    }
  }
  ctx.restore();
}

// uPlot draw hook: over the series.
export function drawThresholds(u, thresholds) {
  if (!thresholds.length) return;
  const { ctx } = u;
  const { left, width } = u.bbox;
  ctx.save();
  clipToPlot(u);
  ctx.lineWidth = 1.5 * devicePixelRatio;
  ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
  for (const t of thresholds) {
    const y = u.valToPos(t.value, "y", true);
    ctx.strokeStyle = severityColour(t.severity);
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
  }
  ctx.restore();
}

// One line naming what is drawn: "CpuSaturated warning > 90 % · alerts: DiskFull · 1 boot".
export function marksText(thresholds, annotations, format) {
  const parts = thresholds.map((t) => `${t.alert}${t.severity ? ` ${t.severity}` : ""} ${t.op} ${format(t.value)}`);
  const alerts = [...new Set(annotations.filter((a) => a.kind === "alert").map((a) => a.title))];
  if (alerts.length) {
    const more = alerts.length > MAX_LISTED ? ` and ${alerts.length - MAX_LISTED} more` : "";
    parts.push(`alerts: ${alerts.slice(0, MAX_LISTED).join(", ")}${more}`);
  }
  const boots = annotations.filter((a) => a.kind === "boot").length;
  const restarts = annotations.filter((a) => a.kind === "restart").length;
  if (boots) parts.push(`${boots} boot${boots > 1 ? "s" : ""}`);
  if (restarts) parts.push(`${restarts} agent restart${restarts > 1 ? "s" : ""}`);
  return parts.length ? `Thresholds and events: ${parts.join(" · ")}` : "";
}

// The metric a query reads as it is (a bare selector), or null.
export function plainMetric(query) {
  const m = PLAIN.exec(query || "");
  return m ? m[1] : null;
}

// Thresholds of the alert rules on `metrics`: Map metric -> [{alert, op, value, severity}].
export async function fetchThresholds(metrics) {
  const names = [...new Set(metrics.filter(Boolean))].slice(0, 50);
  const out = new Map();
  if (!names.length) return out;
  const params = new URLSearchParams();
  for (const name of names) params.append("metric", name);
  const body = await fetchJSON(`/api/thresholds?${params}`);
  for (const t of body.thresholds) {
    if (!out.has(t.metric)) out.set(t.metric, []);
    out.get(t.metric).push(t);
  }
  return out;
}

// Annotations over [startS, endS] (unix seconds).
export async function fetchAnnotations(startS, endS) {
  const params = new URLSearchParams({ start: String(Math.floor(startS)), end: String(Math.ceil(endS)) });
  const body = await fetchJSON(`/api/annotations?${params}`);
  return body.annotations;
}
