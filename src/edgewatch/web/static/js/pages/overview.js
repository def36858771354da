// Overview: what is wrong first (the health score, then the active alerts), then live
// system charts, then the components. Label values are user input: textContent only (el()).

import { ago, number, time } from "../format.js";
import { startLiveCharts } from "../livecharts.js";
import { tableExports } from "../download.js";
import { el, fetchJSON, poll, ready } from "../ui.js";

const ALERTS_MS = 10000;
const ALERTS_SHOWN = 6; // the rest: a link to the Alerts page
// The API's order (docs/api.md): firing, nodata, pending; within each by severity.
const ALERTS_URL = "/api/alerts?state=firing&state=nodata&state=pending";
const ALERT_STATUS = { firing: "fail", nodata: "warn", pending: "warn" };
const SEVERITY = { critical: "fail", page: "fail", error: "fail", warning: "warn" };

const CHARTS = [
  {
    id: "cpu", title: "CPU", unit: "percent",
    sources: [{ query: 'system_cpu_usage_ratio{cpu="total"}', name: "system_cpu_usage_ratio", match: { cpu: "total" }, label: () => "busy" }],
  },
  {
    id: "memory", title: "Memory", unit: "percent",
    sources: [{ query: "system_memory_usage_ratio", name: "system_memory_usage_ratio", label: () => "used" }],
  },
  {
    id: "disk", title: "Disk space", unit: "percent",
    sources: [{ query: "system_filesystem_usage_ratio", name: "system_filesystem_usage_ratio", label: (l) => l.mountpoint || l.device || "disk" }],
  },
  {
    id: "network", title: "Network", unit: "bytes_per_second",
    // The total over the interfaces (not lo) first; one series per interface on demand.
    sources: [
      { query: 'sum(rate(node_network_receive_bytes_total{device!="lo"}[1m]))', name: "node_network_receive_bytes_total", counter: true, sum: true, accept: (l) => l.device !== "lo", label: () => "total in" },
      { query: 'sum(rate(node_network_transmit_bytes_total{device!="lo"}[1m]))', name: "node_network_transmit_bytes_total", counter: true, sum: true, accept: (l) => l.device !== "lo", label: () => "total out" },
    ],
    details: {
      toggle: "per interface",
      sources: [
        { query: 'rate(node_network_receive_bytes_total{device!="lo"}[1m])', name: "node_network_receive_bytes_total", counter: true, accept: (l) => l.device !== "lo", label: (l) => `${l.device} in` },
        { query: 'rate(node_network_transmit_bytes_total{device!="lo"}[1m])', name: "node_network_transmit_bytes_total", counter: true, accept: (l) => l.device !== "lo", label: (l) => `${l.device} out` },
      ],
    },
  },
  {
    id: "temperature", title: "Temperature", unit: "celsius",
    sources: [
      { query: "node_thermal_zone_temp", name: "node_thermal_zone_temp", label: (l) => l.type || `zone ${l.zone}` },
      { query: "node_hwmon_temp_celsius", name: "node_hwmon_temp_celsius", label: (l) => `${l.chip} ${l.sensor}` },
    ],
  },
  {
    // NVIDIA (NVML, in percent) and Jetson (0-1) GPUs, docs/gpu.md; shown only with data.
    id: "gpu", title: "GPU", unit: "percent",
    sources: [
      { query: "DCGM_FI_DEV_GPU_UTIL / 100", name: "DCGM_FI_DEV_GPU_UTIL", scale: 0.01, label: (l) => `GPU ${l.gpu ?? ""} ${l.modelName ?? ""}`.trim() },
      { query: "jetson_gpu_load_ratio", name: "jetson_gpu_load_ratio", label: () => "Jetson GPU" },
    ],
  },
  {
    id: "gpu-temperature", title: "GPU temperature", unit: "celsius",
    sources: [
      { query: "DCGM_FI_DEV_GPU_TEMP", name: "DCGM_FI_DEV_GPU_TEMP", label: (l) => `GPU ${l.gpu ?? ""} ${l.modelName ?? ""}`.trim() },
      { query: 'jetson_temperature_celsius{zone=~"GPU-therm|gpu-thermal"}', name: "jetson_temperature_celsius", accept: (l) => /^gpu-therm/i.test(l.zone || ""), label: (l) => l.zone },
    ],
  },
];

function renderHealth(body) {
  const score = document.getElementById("score");
  const status = document.getElementById("health-status");
  const hasChecks = Object.keys(body.checks || {}).length > 0;
  const state = hasChecks ? body.status : "unknown";
  document.getElementById("score-value").textContent = body.score == null ? "–" : String(Math.round(body.score));
  score.dataset.status = state;
  status.dataset.status = state;
  status.textContent = hasChecks ? body.status : "no checks";
  document.getElementById("health-output").textContent = body.output || "";

  const tbody = document.querySelector("#components tbody");
  const names = Object.keys(body.components || {}).sort();
  tbody.replaceChildren(
    ...names.map((name) => {
      const c = body.components[name];
      return el(
        "tr", {},
        el("td", {}, name),
        el("td", {}, el("span", { className: "badge", dataset: { status: c.status } }, c.status)),
        el("td", { className: "num" }, c.score == null ? "–" : String(Math.round(c.score))),
        el("td", {}, c.checks.join(", ")),
      );
    }),
  );
  document.getElementById("components-empty").hidden = names.length > 0;
}

function alertItem(a) {
  const labels = Object.entries(a.labels || {})
    .filter(([name]) => name !== "alertname" && name !== "severity")
    .sort(([x], [y]) => x.localeCompare(y));
  const sinceIso = a.fired_at || a.since;
  const sinceMs = sinceIso ? Date.parse(sinceIso) : null;
  const quiet = [
    a.silenced_by.length ? "silenced" : null,
    a.inhibited_by.length ? "inhibited" : null,
    a.muted_by.length ? "muted" : null,
    a.acked_by ? `acked by ${a.acked_by}` : null,
  ].filter(Boolean);
  return el(
    "li", { className: "alert-item", dataset: { state: a.state, fingerprint: a.fingerprint } },
    el(
      "a", { href: "/alerts" },
      el(
        "span", { className: "alert-head" },
        el("span", { className: "badge", dataset: { status: SEVERITY[a.severity] || "unknown" } }, a.severity || "no severity"),
        a.state === "firing" ? null : el("span", { className: "badge", dataset: { status: ALERT_STATUS[a.state] || "unknown" } }, a.state),
        el("strong", { className: "alert-name" }, a.rule),
        el("span", { className: "alert-value" }, typeof a.value === "number" ? number(a.value) : (a.value ?? "–")),
        el("time", { className: "muted", dateTime: sinceIso || "", title: time(sinceMs) }, ago(sinceMs)),
        quiet.length ? el("span", { className: "muted" }, quiet.join(" · ")) : null,
      ),
      labels.length ? el("ul", { className: "chips" }, ...labels.map(([n, v]) => el("li", { className: "chip" }, `${n}=${v}`))) : null,
    ),
  );
}

async function refreshAlerts() {
  const alerts = await fetchJSON(ALERTS_URL);
  document.getElementById("alert-list").replaceChildren(...alerts.slice(0, ALERTS_SHOWN).map(alertItem));
  document.getElementById("alerts-none").hidden = alerts.length > 0;
  const count = document.getElementById("alerts-count");
  const firing = alerts.filter((a) => a.state === "firing").length;
  const more = alerts.length > ALERTS_SHOWN ? `, ${alerts.length - ALERTS_SHOWN} more` : "";
  count.textContent = `${firing} firing, ${alerts.length} in all${more} →`;
  count.hidden = alerts.length === 0;
}

async function refreshHealth() {
  renderHealth(await fetchJSON("/api/health", { acceptStatus: [503] }));
}

Promise.allSettled([
  poll(refreshHealth, 15000, { indicator: false }),
  // Only where the agent runs the alerting engine (else the page says so, and
  // /api/alerts would answer 503).
  document.getElementById("alert-list") ? poll(refreshAlerts, ALERTS_MS, { indicator: false }) : null,
  startLiveCharts(document.getElementById("charts"), CHARTS, {
    onEmpty: (empty) => { document.getElementById("charts-empty").hidden = !empty; },
  }),
]).then(ready);
tableExports();
