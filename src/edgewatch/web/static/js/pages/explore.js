// Metrics explorer: any series or PromQL expressions over a range. The state lives in
// the URL (?q=EXPR&q=EXPR2&range=1h, or &start=&end= in unix seconds for a custom
// range), so a view can be shared as a link.

import { queryRangeBand } from "../band.js";
import { TimeChart, seriesKey, seriesLabel, stepFor } from "../chart.js";
import { unitOfName } from "../format.js";
import { fetchAnnotations, fetchThresholds, plainMetric } from "../marks.js";
import { el, fetchJSON, ready, setConnection } from "../ui.js";

const RANGES = { "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000 };
const MAX_POINTS = 11000; // the API's query.max_points default

const form = document.getElementById("explore-form");
const queryBox = document.getElementById("q");
const rangeBox = document.getElementById("range");
const startBox = document.getElementById("start");
const endBox = document.getElementById("end");
const errorBox = document.getElementById("explore-error");
const chartBox = document.getElementById("explore-chart");
let chart = null;

function readState() {
  const params = new URLSearchParams(location.search);
  const queries = params.getAll("q").map((q) => q.trim()).filter(Boolean);
  const start = Number(params.get("start"));
  const end = Number(params.get("end"));
  if (params.get("range") === "custom" && start > 0 && end > start) return { queries, range: "custom", start, end };
  const range = RANGES[params.get("range")] ? params.get("range") : "1h";
  return { queries, range };
}

function writeState(state) {
  const params = new URLSearchParams();
  for (const q of state.queries) params.append("q", q);
  params.set("range", state.range);
  if (state.range === "custom") {
    params.set("start", String(state.start));
    params.set("end", String(state.end));
  }
  const url = `${location.pathname}?${params}`;
  if (url !== location.pathname + location.search) history.pushState(null, "", url);
}

function toLocalInput(seconds) {
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fillForm(state) {
  queryBox.value = state.queries.join("\n");
  rangeBox.value = state.range;
  document.getElementById("custom-range").hidden = state.range !== "custom";
  if (state.range === "custom") {
    startBox.value = toLocalInput(state.start);
    endBox.value = toLocalInput(state.end);
  }
}

function formState() {
  const queries = queryBox.value.split("\n").map((q) => q.trim()).filter(Boolean);
  const range = rangeBox.value;
  if (range !== "custom") return { queries, range };
  const start = Math.floor(new Date(startBox.value).getTime() / 1000);
  const end = Math.floor(new Date(endBox.value).getTime() / 1000);
  if (!(start > 0 && end > start)) throw new Error("Pick a custom range: a start before its end.");
  return { queries, range, start, end };
}

function bounds(state) {
  if (state.range === "custom") return [state.start, state.end];
  const end = Math.ceil(Date.now() / 1000); // up: a sample of this very second is in
  return [end - RANGES[state.range], end];
}

function unitOf(queries) {
  const names = queries.join(" ").match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) || [];
  const metric = names.find((n) => /_(bytes|ratio|seconds|celsius|temp)(_total)?$/.test(n));
  if (!metric) return "number";
  const unit = unitOfName(metric);
  if (/_total$/.test(metric) && /\b(i?rate)\s*\(/.test(queries[0]) && unit === "bytes") return "bytes_per_second";
  return unit;
}

function setDownloads(state, start, end, step) {
  const links = { "dl-csv": "csv", "dl-json": "json" };
  for (const [id, format] of Object.entries(links)) {
    const link = document.getElementById(id);
    if (!state.queries.length) {
      link.removeAttribute("href");
      continue;
    }
    const params = new URLSearchParams({ query: state.queries[0], start: String(start), end: String(end), step: String(step), format });
    link.href = `/api/export?${params}`;
  }
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

let shown = null; // the state and window last run: what the pan buttons move

async function run(state) {
  showError("");
  const [start, end] = bounds(state);
  shown = { state, start, end };
  chartBox.dataset.start = String(start);
  chartBox.dataset.end = String(end);
  const width = Math.max(300, chartBox.clientWidth || 800);
  const step = Math.max(stepFor(start, end, width), Math.ceil((end - start) / MAX_POINTS));
  setDownloads(state, start, end, step);
  if (chart) chart.destroy();
  chart = null;
  chartBox.replaceChildren();
  document.getElementById("explore-empty").hidden = true;
  if (!state.queries.length) return;
  const series = [];
  const results = await Promise.allSettled(state.queries.map((q) => queryRangeBand(fetchJSON, q, start, end, step)));
  results.forEach((r, qi) => {
    if (r.status === "rejected") {
      showError(`${state.queries[qi]}: ${r.reason.message}`);
      return;
    }
    for (const s of r.value) {
      const label = seriesLabel(s.metric);
      series.push({
        key: `${qi}|${seriesKey(s.metric)}`,
        label: s.metric.__name__ || state.queries.length === 1 ? label : `${state.queries[qi]} ${label}`,
        points: s.points,
        band: s.band,
      });
    }
  });
  document.getElementById("explore-empty").hidden = series.length > 0;
  if (!series.length) return;
  chart = new TimeChart(chartBox, { title: state.queries.join(", "), unit: unitOf(state.queries), maxPoints: MAX_POINTS, height: 320 });
  chart.setHistory(series);
  await addMarks(chart, state.queries, start, end);
  await new Promise((resolve) => requestAnimationFrame(resolve)); // drawn after the chart's frame
}

// Thresholds of the rules on the metrics of plain queries, and the annotations of the range.
async function addMarks(target, queries, start, end) {
  const metrics = queries.map(plainMetric).filter(Boolean);
  const [thresholds, annotations] = await Promise.allSettled([fetchThresholds(metrics), fetchAnnotations(start, end)]);
  if (target !== chart) return; // another run replaced the chart meanwhile
  if (thresholds.status === "fulfilled") target.setThresholds(metrics.flatMap((m) => thresholds.value.get(m) || []));
  else console.warn("edgewatch: thresholds failed:", thresholds.reason.message);
  if (annotations.status === "fulfilled") target.setAnnotations(annotations.value);
  else console.warn("edgewatch: annotations failed:", annotations.reason.message);
}

async function loadNames() {
  const body = await fetchJSON("/api/v1/label/__name__/values");
  document.getElementById("metric-names").replaceChildren(...body.data.map((name) => el("option", { value: name })));
}

rangeBox.addEventListener("change", () => {
  const custom = rangeBox.value === "custom";
  document.getElementById("custom-range").hidden = !custom;
  if (custom && !startBox.value) {
    const now = Math.floor(Date.now() / 1000);
    startBox.value = toLocalInput(now - 3600);
    endBox.value = toLocalInput(now);
  }
});

document.getElementById("metric").addEventListener("change", (event) => {
  const name = event.target.value.trim();
  if (!name) return;
  queryBox.value = queryBox.value.trim() ? `${queryBox.value.trim()}\n${name}` : name;
  event.target.value = "";
  form.requestSubmit();
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  let state;
  try {
    state = formState();
  } catch (e) {
    showError(e.message);
    return;
  }
  writeState(state);
  run(state);
});

// Pan: the window moves by half its width (a custom range from then on), history refetched.
function pan(direction) {
  if (!shown) return;
  const shift = Math.round((shown.end - shown.start) / 2) * direction;
  const state = { queries: shown.state.queries, range: "custom", start: shown.start + shift, end: shown.end + shift };
  writeState(state);
  fillForm(state);
  run(state);
}

document.getElementById("pan-left").addEventListener("click", () => pan(-1));
document.getElementById("pan-right").addEventListener("click", () => pan(1));

document.getElementById("dl-png").addEventListener("click", () => {
  if (chart) chart.downloadPNG("edgewatch-chart.png");
});

window.addEventListener("popstate", () => {
  const state = readState();
  fillForm(state);
  run(state);
});

setConnection("idle", "not live");
const initial = readState();
fillForm(initial);
Promise.allSettled([loadNames(), run(initial)]).then(ready);
