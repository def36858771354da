// Health checks: status, last result, value, when, uptime over 24 h / 7 d / 30 d (from
// the availability report) and a strip of the last 24 h; for admins a "Run now" button
// per check (POST /api/checks/{name}/run), whose result is announced above the table.

import { ago, number, seconds } from "../format.js";
import { tableExports } from "../download.js";
import { el, fetchJSON, isAdmin, poll, post, ready } from "../ui.js";

const STRIP_CELLS = 48; // the 24 h history, in half-hour cells (worst status wins)
const SEVERITY = { unknown: 1, pass: 0, warn: 2, fail: 3 };
const history = new Map(); // check name -> [{time, status}]
let uptime = new Map(); // check name -> windows
let slowAt = 0;

function percentOf(figures) {
  if (!figures || figures.availability == null) return "–";
  return `${(figures.availability * 100).toFixed(2)} %`;
}

function value(entry) {
  if (entry.observedValue == null) return "–";
  return entry.observedUnit === "seconds" ? seconds(entry.observedValue) : `${number(entry.observedValue)} ${entry.observedUnit || ""}`.trim();
}

function strip(points) {
  const cells = new Array(STRIP_CELLS).fill("unknown");
  const now = Date.now();
  const cellMs = 86400000 / STRIP_CELLS;
  for (const p of points || []) {
    const i = Math.floor((Date.parse(p.time) - (now - 86400000)) / cellMs);
    if (i < 0 || i >= STRIP_CELLS) continue;
    if (cells[i] === "unknown" || SEVERITY[p.status] > SEVERITY[cells[i]]) cells[i] = p.status;
  }
  return el(
    "div",
    { className: "strip", attrs: { role: "img", "aria-label": "status over the last 24 hours" } },
    ...cells.map((status) => el("span", { dataset: { status } })),
  );
}

async function loadSlow(names) {
  // The report and the histories change slowly: once a minute is enough.
  if (Date.now() - slowAt < 60000) return;
  slowAt = Date.now();
  try {
    const report = await fetchJSON("/api/health/report?period=30d&format=json");
    uptime = new Map(report.checks.map((c) => [c.name, c.windows]));
  } catch (e) {
    console.warn("edgewatch: availability report failed:", e.message);
  }
  await Promise.allSettled(
    names.map(async (name) => {
      const detail = await fetchJSON(`/api/health/checks/${encodeURIComponent(name)}`);
      history.set(name, detail.history);
    }),
  );
}

async function runNow(name, button) {
  const box = document.getElementById("run-result");
  button.disabled = true;
  box.dataset.status = "unknown";
  box.textContent = `Running ${name}…`;
  try {
    const r = await post(`/api/checks/${encodeURIComponent(name)}/run`);
    box.dataset.status = r.state;
    box.textContent = `${name}: ${r.state} (this run: ${r.observed}, ${seconds(r.duration_seconds)})${r.output ? ` — ${r.output}` : ""}`;
    await refresh();
  } catch (e) {
    box.dataset.status = "fail";
    box.textContent = `${name}: could not run: ${e.message}`;
  } finally {
    button.disabled = false;
  }
}

function runButton(name) {
  const button = el("button", { type: "button", className: "btn btn-small", attrs: { "aria-label": `Run ${name} now` } }, "Run now");
  button.addEventListener("click", () => runNow(name, button));
  return el("td", { className: "admin-only" }, button);
}

async function refresh() {
  const body = await fetchJSON("/api/health", { acceptStatus: [503] });
  const entries = Object.entries(body.checks || {})
    .map(([key, list]) => ({ key, entry: list[0] }))
    .sort((a, b) => SEVERITY[b.entry.state] - SEVERITY[a.entry.state] || a.key.localeCompare(b.key));
  await loadSlow(entries.map((e) => e.entry.componentId));
  const tbody = document.querySelector("#checks tbody");
  tbody.replaceChildren(
    ...entries.map(({ key, entry }) => {
      const windows = uptime.get(entry.componentId) || {};
      return el(
        "tr", {},
        el("td", {}, el("strong", {}, entry.componentId), el("div", { className: "muted" }, `${key.split(":")[0]} · ${entry.componentType}`)),
        el("td", {}, el("span", { className: "badge", dataset: { status: entry.state } }, entry.state)),
        el("td", {}, entry.output || ""),
        el("td", { className: "num" }, value(entry)),
        el("td", { title: entry.time }, ago(Date.parse(entry.time))),
        el("td", { className: "num" }, percentOf(windows["24h"])),
        el("td", { className: "num" }, percentOf(windows["7d"])),
        el("td", { className: "num" }, percentOf(windows["30d"])),
        el("td", {}, strip(history.get(entry.componentId))),
        isAdmin() ? runButton(entry.componentId) : null,
      );
    }),
  );
  document.getElementById("checks-empty").hidden = entries.length > 0;
  document.getElementById("checks-summary").textContent =
    entries.length ? `Overall: ${body.status}, score ${body.score == null ? "–" : Math.round(body.score)} / 100` : "";
}

poll(refresh, 15000).then(ready);
tableExports();
