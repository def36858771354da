// Time-series charts over uPlot (vendored, loaded as the global `uPlot`).
//
// - units: the y axis and the legend are formatted by unit (bytes, percent, seconds...);
// - one cursor and one zoom per page: charts of a group share the cursor (uPlot's
//   cursor.sync) and a drag-to-zoom on one zooms all; a double-click zooms all out;
// - bounded buffers: at most `maxPoints` timestamps per chart (a ring: the oldest
//   points are dropped), so a tab left open for a day does not grow;
// - no drawing while the tab is hidden: appends only mark the chart dirty, and it is
//   drawn once when the tab is visible again;
// - thresholds of alert rules as dashed horizontal lines (the y range takes them in) and
//   annotations as shaded bands (alert periods) or vertical lines (boots, restarts),
//   drawn on the canvas by uPlot hooks (marks.js), listed as text under the chart;
// - times in the zone of the header's switch (timezone.js), redrawn when it changes;
// - a thinned series may carry its min/max per step (band.js): drawn as a light band
//   (uPlot bands) under its line, so peaks between two points are not lost.

import { cssVar } from "./ui.js";
import { formatter } from "./format.js";
import { drawAnnotations, drawThresholds, marksText, yRange } from "./marks.js";
import { zonedDate } from "./timezone.js";

const SERIES_COLOURS = 8;
const groups = new Map();

function themeColours() {
  const series = [];
  for (let i = 1; i <= SERIES_COLOURS; i += 1) series.push(cssVar(`--series-${i}`) || "#5aa9ff");
  return { fg: cssVar("--fg-muted") || "#999", grid: cssVar("--grid") || "#333", bg: cssVar("--bg-card") || "#000", text: cssVar("--fg") || "#fff", series };
}

let colours = null;
function palette() {
  if (colours === null) colours = themeColours();
  return colours;
}

document.addEventListener("edgewatch:theme", () => {
  colours = themeColours();
  for (const group of groups.values()) for (const chart of group) chart.redraw();
});

document.addEventListener("edgewatch:timezone", () => {
  for (const group of groups.values()) for (const chart of group) chart.redraw();
});

document.addEventListener("visibilitychange", () => {
  if (document.hidden) return;
  for (const group of groups.values()) for (const chart of group) if (chart.dirty) chart.schedule();
});

function groupOf(name) {
  if (!groups.has(name)) groups.set(name, new Set());
  return groups.get(name);
}

// The y axis' width: its longest label (about 7 px a character at uPlot's 12 px font).
function axisSize(u, values) {
  const longest = values ? Math.max(0, ...values.map((v) => String(v).length)) : 4;
  return Math.ceil(longest * 7 + 18);
}

export class TimeChart {
  // container: an element; options: {title, unit, maxPoints, height, group}
  constructor(container, { title = "", unit = "number", maxPoints = 3600, height = 200, group = "page" } = {}) {
    this.container = container;
    this.title = title;
    this.unit = unit;
    this.format = formatter(unit);
    this.maxPoints = maxPoints;
    this.height = height;
    this.groupName = group;
    this.keys = [];          // series keys, in column order
    this.labels = new Map(); // key -> legend label
    this.bandOf = new Map(); // band series key -> {of: the series' key, edge: "max"|"min"}
    this.xs = [];            // unix seconds
    this.ys = [];            // one array per series, aligned with xs
    this.plot = null;
    this.zoomed = false;
    this.dirty = false;
    this.frame = null;
    this.thresholds = []; // [{value, severity, label}]
    this.annotations = []; // [{kind, start_ms, end_ms, title, severity}]
    this.notes = null;     // the text under the chart naming its thresholds and annotations
    container.timeChart = this; // for scripts and tests: the chart of a container
    groupOf(group).add(this);
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(container);
  }

  get points() {
    return this.xs.length;
  }

  get lastTime() {
    return this.xs.length ? this.xs[this.xs.length - 1] * 1000 : null;
  }

  hasSeries(key) {
    return this.labels.has(key);
  }

  addSeries(key, label) {
    if (this.labels.has(key)) return this.keys.indexOf(key);
    this.keys.push(key);
    this.labels.set(key, label);
    this.ys.push(new Array(this.xs.length).fill(null));
    const index = this.keys.length - 1;
    if (this.plot) this.plot.addSeries(this.seriesOptions(index), index + 1);
    return index;
  }

  // Replaces the data: series = [{key, label, points: [[ms, value], ...], band}], band
  // (optional): {max: points, min: points}, the series' extremes over each step.
  setHistory(series) {
    series = series.flatMap((s) => (s.band ? [s, ...this.bandSeries(s)] : [s]));
    for (const s of series) this.addSeries(s.key, s.label);
    const times = new Set();
    for (const s of series) for (const [t] of s.points) times.add(t);
    const sorted = [...times].sort((a, b) => a - b).slice(-this.maxPoints);
    const at = new Map(sorted.map((t, i) => [t, i]));
    this.xs = sorted.map((t) => t / 1000);
    this.ys = this.keys.map(() => new Array(sorted.length).fill(null));
    for (const s of series) {
      const column = this.ys[this.keys.indexOf(s.key)];
      for (const [t, v] of s.points) if (at.has(t)) column[at.get(t)] = v;
    }
    this.schedule();
  }

  bandSeries(s) {
    return ["max", "min"].map((edge) => {
      const key = `${s.key}|${edge}`;
      this.bandOf.set(key, { of: s.key, edge });
      return { key, label: `${s.label} ${edge}`, points: s.band[edge] };
    });
  }

  // uPlot bands: [{series: [maxIndex, minIndex], fill}], indices counting the x column.
  bands() {
    const out = [];
    this.keys.forEach((key, i) => {
      const band = this.bandOf.get(key);
      if (!band || band.edge !== "max") return;
      const min = this.keys.indexOf(`${band.of}|min`);
      const of = this.keys.indexOf(band.of);
      if (min >= 0) out.push({ series: [i + 1, min + 1], fill: () => translucent(palette().series[of % SERIES_COLOURS], 0.18) });
    });
    return out;
  }

  // One timestamp's values: a Map key -> {label, value}. Older than the last point: ignored.
  append(ms, values) {
    if (values.size === 0) return false;
    const last = this.lastTime;
    if (last !== null && ms <= last) return false;
    for (const [key, { label }] of values) this.addSeries(key, label);
    this.xs.push(ms / 1000);
    this.keys.forEach((key, i) => {
      const entry = values.get(key);
      this.ys[i].push(entry ? entry.value : null);
    });
    const excess = this.xs.length - this.maxPoints;
    if (excess > 0) {
      this.xs.splice(0, excess);
      for (const column of this.ys) column.splice(0, excess);
    }
    this.schedule();
    return true;
  }

  schedule() {
    this.dirty = true;
    if (document.hidden || this.frame !== null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.draw();
    });
  }

  draw() {
    if (document.hidden) return;
    this.dirty = false;
    const data = [this.xs, ...this.ys];
    if (this.plot === null) {
      if (this.xs.length === 0) return;
      this.plot = new uPlot(this.options(), data, this.container);
      this.plot.over.addEventListener("dblclick", () => this.zoomGroup(null));
      const rows = this.plot.root.querySelectorAll(".u-legend .u-series");
      this.keys.forEach((key, i) => {
        if (this.bandOf.has(key) && rows[i + 1]) rows[i + 1].style.display = "none";
      });
      this.container.dataset.bands = String(this.bands().length);
    } else {
      this.plot.setData(data, !this.zoomed);
    }
    this.container.dataset.points = String(this.xs.length);
    this.container.dataset.series = String(this.keys.length);
  }

  redraw() {
    if (this.plot) this.plot.redraw(false, true);
    this.container.dataset.timezone = document.body.dataset.timezone || "browser";
  }

  // Thresholds: [{value, severity, label}]; the y range grows to show them.
  setThresholds(list) {
    this.thresholds = list.filter((t) => Number.isFinite(t.value)).slice(0, 50);
    this.marksChanged();
  }

  // Annotations: [{kind: "alert"|"boot"|"restart", start_ms, end_ms, title, severity}].
  setAnnotations(list) {
    this.annotations = list.slice(0, 500);
    this.marksChanged();
  }

  marksChanged() {
    this.container.dataset.thresholds = String(this.thresholds.length);
    this.container.dataset.annotations = String(this.annotations.length);
    const text = marksText(this.thresholds, this.annotations, this.format);
    if (text && !this.notes) {
      this.notes = document.createElement("p");
      this.notes.className = "chart-notes muted";
      this.container.after(this.notes);
    }
    if (this.notes) this.notes.textContent = text;
    this.schedule(); // the y range and the drawing change
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: this.width(), height: this.height });
  }

  width() {
    return Math.max(200, Math.floor(this.container.clientWidth));
  }

  zoomGroup(range) {
    for (const chart of groupOf(this.groupName)) chart.zoom(range);
  }

  // range: [minSeconds, maxSeconds], or null to zoom out.
  zoom(range) {
    if (!this.plot) return;
    if (range === null) {
      this.zoomed = false;
      this.plot.setData([this.xs, ...this.ys], true);
    } else {
      this.zoomed = true;
      this.plot.setScale("x", { min: range[0], max: range[1] });
    }
  }

  seriesOptions(index) {
    const band = this.bandOf.get(this.keys[index]);
    const colour = band ? this.keys.indexOf(band.of) : index;
    return {
      label: this.labels.get(this.keys[index]),
      stroke: band
        ? () => translucent(palette().series[colour % SERIES_COLOURS], 0.35)
        : () => palette().series[index % SERIES_COLOURS],
      width: band ? 0.5 : 1.5,
      spanGaps: false,
      points: { show: false },
      value: (u, v) => this.format(v),
    };
  }

  options() {
    const format = this.format;
    const axis = () => ({
      stroke: () => palette().fg,
      grid: { stroke: () => palette().grid, width: 1 },
      ticks: { stroke: () => palette().grid, width: 1 },
    });
    return {
      width: this.width(),
      height: this.height,
      series: [{}, ...this.keys.map((_, i) => this.seriesOptions(i))],
      bands: this.bands(),
      axes: [
        axis(),
        { ...axis(), size: axisSize, values: (u, splits) => splits.map((v) => format(v)) },
      ],
      scales: { x: { time: true }, y: { range: (u, min, max) => yRange(min, max, this.thresholds) } },
      tzDate: (ts) => zonedDate(ts * 1000),
      legend: { live: true },
      cursor: {
        sync: { key: this.groupName, setSeries: false },
        drag: { x: true, y: false, setScale: false },
      },
      hooks: {
        drawAxes: [(u) => drawAnnotations(u, this.annotations)],
        draw: [(u) => drawThresholds(u, this.thresholds)],
        setSelect: [
          (u) => {
            if (u.select.width < 2) return;
            const min = u.posToVal(u.select.left, "x");
            const max = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            this.zoomGroup([min, max]);
          },
        ],
      },
    };
  }

  // Downloads the chart as a PNG (the plot's canvas over the card's background, titled).
  downloadPNG(filename) {
    if (!this.plot) return;
    const source = this.plot.ctx.canvas;
    const pad = 30 * devicePixelRatio;
    const canvas = document.createElement("canvas");
    canvas.width = source.width;
    canvas.height = source.height + pad;
    const ctx = canvas.getContext("2d");
    const colour = palette();
    ctx.fillStyle = colour.bg;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = colour.text;
    ctx.font = `${14 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.fillText(this.title, 8 * devicePixelRatio, 20 * devicePixelRatio);
    ctx.drawImage(source, 0, pad);
    canvas.toBlob((blob) => {
      if (!blob) return;
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = filename;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    }, "image/png");
  }

  destroy() {
    this.resizer.disconnect();
    if (this.notes) this.notes.remove();
    delete this.container.timeChart;
    groupOf(this.groupName).delete(this);
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}

// A #rrggbb colour with an alpha; other notations as they are.
function translucent(colour, alpha) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colour.trim());
  if (!m) return colour;
  return `rgba(${m.slice(1).map((h) => parseInt(h, 16)).join(", ")}, ${alpha})`;
}

// A series key and legend label of a Prometheus metric object.
export function seriesKey(metric) {
  return Object.keys(metric).sort().map((k) => `${k}=${JSON.stringify(metric[k])}`).join(",");
}

export function seriesLabel(metric) {
  const name = metric.__name__ || "";
  const labels = Object.keys(metric).filter((k) => k !== "__name__").sort();
  if (labels.length === 0) return name || "{}";
  return `${name}{${labels.map((k) => `${k}="${metric[k]}"`).join(", ")}}`;
}

// A step (seconds) that gives about `points` points over [start, end] seconds.
export function stepFor(startS, endS, points = 1000) {
  return Math.max(1, Math.ceil((endS - startS) / points));
}

// A sample value as uPlot takes it: NaN and infinities (strings in the API) are gaps.
export function finite(v) {
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

// Range query -> [{metric, points: [[ms, value], ...]}]
export async function queryRange(fetchJSON, query, startS, endS, stepS) {
  const params = new URLSearchParams({ query, start: String(startS), end: String(endS), step: String(stepS) });
  const body = await fetchJSON(`/api/v1/query_range?${params}`);
  return body.data.result.map((r) => ({
    metric: r.metric,
    points: r.values.map(([t, v]) => [Math.round(t * 1000), finite(v)]),
  }));
}
