// One custom dashboard: a grid of panels, each a range query over its own range drawn
// with the shared chart module (thresholds of the alert rules on plain queries and the
// annotations of the range included), refreshed every minute while the tab is shown.
// Admins edit it (name, panels added / removed / moved, a file's panels loaded), save
// it (PUT), export it (a JSON download) or delete it.

import { queryRangeBand } from "../band.js";
import { TimeChart, seriesKey, seriesLabel, stepFor } from "../chart.js";
import { chartDownloads } from "../download.js";
import { ago, time } from "../format.js";
import { fetchAnnotations, fetchThresholds, plainMetric } from "../marks.js";
import { PanelEditor, parseExport } from "../panel-editor.js";
import { el, fetchJSON, isAdmin, poll, ready, send, setConnection } from "../ui.js";

const RANGES = { "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000 };
const MAX_POINTS = 11000; // the API's query.max_points default
const REFRESH_MS = 60000;

const id = document.getElementById("dashboard-bar").dataset.dashboardId;
const url = `/api/dashboards/${encodeURIComponent(id)}`;
const grid = document.getElementById("panels");
const editorBox = document.getElementById("editor");
const editor = new PanelEditor(document.getElementById("panel-list"));
let dashboard = null; // as the API answered it
let panels = [];      // [{panel, chart, box, message}]

function showError(boxId, message) {
  const box = document.getElementById(boxId);
  box.textContent = message;
  box.hidden = !message;
}

function clearPanels() {
  for (const p of panels) p.chart.destroy();
  panels = [];
  grid.replaceChildren();
}

function buildPanels() {
  clearPanels();
  panels = dashboard.panels.map((panel, i) => {
    const box = el("div", { className: "chart" });
    const message = el("p", { className: "muted", hidden: true });
    const title = panel.title || panel.query;
    const head = el("div", { className: "chart-head" }, el("h3", {}, title));
    grid.append(
      el(
        "section", { className: "card chart-card", id: `panel-${i + 1}`, attrs: { "aria-label": title } },
        head,
        box,
        message,
      ),
    );
    const chart = new TimeChart(box, { title, unit: panel.unit, maxPoints: MAX_POINTS, group: "dashboard" });
    head.append(chartDownloads(chart, `panel-${i + 1}`));
    return { panel, chart, box, message };
  });
  document.getElementById("panels-empty").hidden = panels.length > 0;
}

async function loadPanel(p, endS) {
  const start = endS - RANGES[p.panel.range];
  const width = Math.max(300, p.box.clientWidth || 600);
  const step = Math.max(stepFor(start, endS, width), Math.ceil((endS - start) / MAX_POINTS));
  try {
    const result = await queryRangeBand(fetchJSON, p.panel.query, start, endS, step);
    p.chart.setHistory(result.map((s) => ({ key: seriesKey(s.metric), label: seriesLabel(s.metric), points: s.points, band: s.band })));
    p.message.hidden = result.length > 0;
    p.message.textContent = result.length ? "" : "No data for this query and range.";
  } catch (e) {
    p.message.hidden = false;
    p.message.textContent = `The query failed: ${e.message}`;
  }
}

async function loadMarks(endS) {
  if (!panels.length) return;
  const metrics = panels.map((p) => plainMetric(p.panel.query));
  const longest = Math.max(...panels.map((p) => RANGES[p.panel.range]));
  const [thresholds, annotations] = await Promise.allSettled([
    fetchThresholds(metrics), fetchAnnotations(endS - longest, endS),
  ]);
  panels.forEach((p, i) => {
    if (thresholds.status === "fulfilled") p.chart.setThresholds(thresholds.value.get(metrics[i]) || []);
    if (annotations.status === "fulfilled") {
      const startMs = (endS - RANGES[p.panel.range]) * 1000; // only those in this panel's range
      p.chart.setAnnotations(annotations.value.filter((a) => a.end_ms == null || a.end_ms >= startMs));
    }
  });
  for (const r of [thresholds, annotations]) if (r.status === "rejected") console.warn("edgewatch: chart marks failed:", r.reason.message);
}

async function refreshPanels() {
  const endS = Math.ceil(Date.now() / 1000);
  await Promise.all(panels.map((p) => loadPanel(p, endS)));
  await loadMarks(endS);
}

function showDashboard(body) {
  dashboard = body;
  document.querySelector("h1").textContent = body.name;
  document.title = `${body.name} · edgewatch`;
  const ms = Date.parse(body.updated);
  const meta = document.getElementById("dashboard-meta");
  meta.replaceChildren(
    el("a", { href: "/dashboards" }, "All dashboards"),
    ` · ${body.panels.length} panel${body.panels.length === 1 ? "" : "s"} · changed `,
    el("time", { dateTime: body.updated, title: time(ms) }, ago(ms)),
    ` by ${body.updated_by}`,
  );
  buildPanels();
}

function openEditor() {
  editorBox.hidden = false;
  document.getElementById("dash-name").value = dashboard.name;
  editor.set(dashboard.panels);
  showError("editor-error", "");
  document.getElementById("dash-name").focus();
}

document.getElementById("edit").addEventListener("click", openEditor);
document.getElementById("add-panel").addEventListener("click", () => editor.add());
document.getElementById("cancel").addEventListener("click", () => {
  editorBox.hidden = true;
  document.getElementById("edit").focus();
});

document.getElementById("load-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    const loaded = parseExport(await file.text());
    editor.set(loaded.panels);
    showError("editor-error", "");
  } catch (e) {
    showError("editor-error", `${file.name}: ${e.message}`);
  }
  event.target.value = "";
});

document.getElementById("editor-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { name: document.getElementById("dash-name").value, panels: editor.read() };
  try {
    showDashboard(await send("PUT", url, body));
    editorBox.hidden = true;
    showError("editor-error", "");
    await refreshPanels();
  } catch (e) {
    showError("editor-error", `Not saved: ${e.message}`);
  }
});

document.getElementById("delete").addEventListener("click", async () => {
  if (!window.confirm(`Delete the dashboard "${dashboard ? dashboard.name : id}"?`)) return;
  try {
    await send("DELETE", url);
    window.location.assign("/dashboards");
  } catch (e) {
    showError("dashboard-error", `Not deleted: ${e.message}`);
  }
});

async function start() {
  setConnection("idle", "not live");
  try {
    showDashboard(await fetchJSON(url));
  } catch (e) {
    showError("dashboard-error", e.status === 404 ? "There is no such dashboard." : `Cannot load it: ${e.message}`);
    return;
  }
  if (isAdmin() && new URLSearchParams(location.search).get("edit") === "1") openEditor();
  await poll(refreshPanels, REFRESH_MS, { indicator: false });
}

start().then(ready);
