// Reports: the availability report over 24 h / 7 d / 30 d, shown and downloadable.

import { seconds } from "../format.js";
import { tableExports } from "../download.js";
import { el, fetchJSON, ready, setConnection } from "../ui.js";

const period = document.getElementById("period");

function links(value) {
  for (const format of ["html", "md", "json"]) {
    const link = document.getElementById(`report-${format}`);
    link.href = `/api/health/report?${new URLSearchParams({ period: value, format })}`;
    link.download = `edgewatch-report-${value}.${format}`;
  }
}

async function load() {
  links(period.value);
  const report = await fetchJSON(`/api/health/report?${new URLSearchParams({ period: period.value, format: "json" })}`);
  const tbody = document.querySelector("#report tbody");
  tbody.replaceChildren(
    ...report.checks.map((c) =>
      el(
        "tr", {},
        el("td", {}, c.name),
        el("td", {}, c.component),
        el("td", { className: "num" }, c.period.availability == null ? "–" : `${(c.period.availability * 100).toFixed(2)} %`),
        el("td", { className: "num" }, seconds(c.period.down_seconds)),
      ),
    ),
  );
  document.getElementById("report-empty").hidden = report.checks.length > 0;
}

period.addEventListener("change", () => {
  load().catch((e) => console.warn("edgewatch: report failed:", e.message));
});
setConnection("idle", "not live");
load().catch((e) => console.warn("edgewatch: report failed:", e.message)).finally(ready);
tableExports();
