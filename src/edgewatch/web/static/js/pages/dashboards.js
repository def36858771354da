// Custom dashboards: the list, and for admins "create" (then the new dashboard opens in
// edit mode) and "import" (a JSON file exported from a dashboard page).

import { ago, time } from "../format.js";
import { tableExports } from "../download.js";
import { el, fetchJSON, poll, post, ready } from "../ui.js";

const errorBox = document.getElementById("create-error");

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

async function refresh() {
  const list = await fetchJSON("/api/dashboards");
  document.querySelector("#dashboards tbody").replaceChildren(
    ...list.map((d) => {
      const ms = Date.parse(d.updated);
      return el(
        "tr", {},
        el("td", {}, el("a", { href: `/dashboards/${encodeURIComponent(d.id)}` }, d.name)),
        el("td", { className: "num" }, String(d.panels)),
        el("td", { title: time(ms) }, ago(ms)),
        el("td", {}, d.updated_by),
      );
    }),
  );
  document.getElementById("dashboards-empty").hidden = list.length > 0;
}

function open(dashboard, edit) {
  window.location.assign(`/dashboards/${encodeURIComponent(dashboard.id)}${edit ? "?edit=1" : ""}`);
}

document.getElementById("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  try {
    open(await post("/api/dashboards", { name: document.getElementById("new-name").value, panels: [] }), true);
  } catch (e) {
    showError(`Cannot create it: ${e.message}`);
  }
});

document.getElementById("import-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  const file = document.getElementById("import-file").files[0];
  if (!file) return;
  let body;
  try {
    body = JSON.parse(await file.text());
  } catch (e) {
    showError(`${file.name} is not JSON: ${e.message}`);
    return;
  }
  try {
    open(await post("/api/dashboards/import", body), false);
  } catch (e) {
    showError(`Cannot import ${file.name}: ${e.message}`);
  }
});

poll(refresh, 30000).then(ready);
tableExports();
