// Top processes by CPU and memory, refreshed every few seconds, sortable by column.

import { bytes, clock, number, percent } from "../format.js";
import { tableExports } from "../download.js";
import { el, fetchJSON, poll, ready } from "../ui.js";

const REFRESH_MS = 5000;
const table = document.getElementById("procs");
let sortKey = "cpu_usage_ratio";
let descending = true;
let rows = [];

function compare(a, b) {
  const x = a[sortKey];
  const y = b[sortKey];
  if (x == null && y == null) return 0;
  if (x == null) return 1; // missing values last either way
  if (y == null) return -1;
  const order = typeof x === "string" ? x.localeCompare(y) : x - y;
  return descending ? -order : order;
}

function cells(p) {
  return [
    el("td", { className: "num" }, number(p.count)),
    el("td", { className: "num" }, percent(p.cpu_usage_ratio)),
    el("td", { className: "num" }, bytes(p.resident_memory_bytes)),
    el("td", { className: "num" }, number(p.threads)),
  ];
}

function render() {
  const sorted = [...rows].sort(compare);
  table.querySelector("tbody").replaceChildren(...sorted.map((p) => el("tr", {}, el("td", {}, p.name), ...cells(p))));
  for (const th of table.querySelectorAll("th")) {
    const key = th.querySelector("button").dataset.key;
    th.setAttribute("aria-sort", key === sortKey ? (descending ? "descending" : "ascending") : "none");
  }
  document.getElementById("procs-empty").hidden = rows.length > 0;
}

async function refresh() {
  const body = await fetchJSON("/api/processes?limit=50");
  rows = body.processes;
  render();
  document.getElementById("procs-time").textContent = body.timestamp ? `As of ${clock(body.timestamp)}.` : "";
  const groups = body.groups || [];
  document.getElementById("groups-card").hidden = groups.length === 0;
  document.querySelector("#groups tbody").replaceChildren(...groups.map((g) => el("tr", {}, el("td", {}, g.name), ...cells(g))));
}

table.querySelector("thead").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-key]");
  if (!button) return;
  const key = button.dataset.key;
  descending = key === sortKey ? !descending : key !== "name";
  sortKey = key;
  render();
});

poll(refresh, REFRESH_MS).then(ready);
tableExports();
