// Overview: the health score first, then live system charts, then the components.

import { startLiveCharts } from "../livecharts.js";
import { el, fetchJSON, poll, ready } from "../ui.js";

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
    sources: [
      { query: 'rate(node_network_receive_bytes_total{device!="lo"}[1m])', name: "node_network_receive_bytes_total", counter: true, accept: (l) => l.device !== "lo", label: (l) => `${l.device} in` },
      { query: 'rate(node_network_transmit_bytes_total{device!="lo"}[1m])', name: "node_network_transmit_bytes_total", counter: true, accept: (l) => l.device !== "lo", label: (l) => `${l.device} out` },
    ],
  },
  {
    id: "temperature", title: "Temperature", unit: "celsius",
    sources: [
      { query: "node_thermal_zone_temp", name: "node_thermal_zone_temp", label: (l) => l.type || `zone ${l.zone}` },
      { query: "node_hwmon_temp_celsius", name: "node_hwmon_temp_celsius", label: (l) => `${l.chip} ${l.sensor}` },
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

async function refreshHealth() {
  renderHealth(await fetchJSON("/api/health", { acceptStatus: [503] }));
}

Promise.allSettled([
  poll(refreshHealth, 15000, { indicator: false }),
  startLiveCharts(document.getElementById("charts"), CHARTS, {
    onEmpty: (empty) => { document.getElementById("charts-empty").hidden = !empty; },
  }),
]).then(ready);
