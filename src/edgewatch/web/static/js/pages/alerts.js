// Alerts: the active alerts (with Silence and Acknowledge for admins), the silences
// (Expire), the history of state changes with filters, and the rules' health.
// Everything from the JSON API (docs/api.md), refreshed every 5 s; label values are
// user input and go into the page with textContent only (ui.js el()).

import { ago, number, seconds, time } from "../format.js";
import { tableExports } from "../download.js";
import { el, fetchJSON, HttpError, poll, post, ready, setConnection } from "../ui.js";

const REFRESH_MS = 5000;
const HISTORY_LIMIT = 200;
// Alert and rule states as the shared status colours.
const STATUS = {
  firing: "fail", nodata: "warn", pending: "warn", resolved: "pass",
  active: "fail", expired: "unknown", ok: "pass", err: "fail", unknown: "unknown",
};
const SEVERITY = { critical: "fail", error: "fail", warning: "warn", info: "unknown" };

const $ = (id) => document.getElementById(id);
let notRunning = false;

function badge(text, status) {
  return el("span", { className: "badge", dataset: { status: status || "unknown" } }, text || "–");
}

function chips(labels, skip = []) {
  return el(
    "ul", { className: "chips" },
    ...Object.entries(labels || {})
      .filter(([name]) => !skip.includes(name))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, value]) => el("li", { className: "chip" }, `${name}=${value}`)),
  );
}

function value(v) {
  return typeof v === "number" ? number(v) : (v ?? "–");
}

function when(iso) {
  if (!iso) return el("span", {}, "–");
  const ms = Date.parse(iso);
  return el("time", { dateTime: iso, title: time(ms) }, ago(ms));
}

function showError(message) {
  const node = $("alerts-error");
  node.textContent = message || "";
  node.hidden = !message;
}

// A mutation with the CSRF header: POST through ui.js, DELETE here the same way.
function csrf() {
  const found = document.cookie.split(";").map((p) => p.trim()).find((p) => p.startsWith("edgewatch_csrf="));
  return found ? decodeURIComponent(found.slice("edgewatch_csrf=".length)) : "";
}

function remove(url) {
  return fetchJSON(url, { method: "DELETE", headers: { "X-CSRF-Token": csrf() } });
}

// ------------------------------------------------------------------ active alerts

function quiet(a) {
  const out = [];
  if (a.silenced_by.length) out.push(`silenced (${a.silenced_by.length})`);
  if (a.inhibited_by.length) out.push("inhibited");
  if (a.muted_by.length) out.push(`maintenance: ${a.muted_by.join(", ")}`);
  const cell = el("td", {}, out.join(" · "));
  if (a.acked_by) {
    cell.append(el("div", { title: a.ack_comment || "" }, `acked by ${a.acked_by}`, a.ack_comment ? `: ${a.ack_comment}` : ""));
  }
  if (a.escalation) cell.append(escalation(a.escalation));
  return cell;
}

// Where the alert's escalation stands (text only: receivers are config, still not HTML).
function escalation(e) {
  const done = `escalation ${e.steps_done}/${e.steps_total}`;
  const text = e.state === "running"
    ? `${done}, next: ${e.next_receiver} at ${time(e.next_due_ms)}`
    : `${done}, ${e.state}`;
  return el("div", { className: "muted escalation", dataset: { escalation: e.state } }, text);
}

function alertRow(a) {
  const summary = a.annotations.summary || a.annotations.description || "";
  const actions = el("td", { className: "admin-only actions" });
  if (a.state !== "resolved") {
    actions.append(
      el("button", { type: "button", className: "btn btn-small", dataset: { action: "silence" } }, "Silence"),
      el("button", { type: "button", className: "btn btn-small", dataset: { action: "ack" }, hidden: Boolean(a.acked_by) }, "Acknowledge"),
    );
  }
  const row = el(
    "tr", { dataset: { fingerprint: a.fingerprint, state: a.state } },
    el("td", {}, el("strong", {}, a.rule), summary ? el("div", { className: "muted" }, summary) : null, chips(a.labels, ["alertname", "severity"])),
    el("td", {}, badge(a.state, STATUS[a.state]), a.flapping ? el("div", { className: "muted" }, "flapping") : null),
    el("td", {}, a.severity ? badge(a.severity, SEVERITY[a.severity]) : "–"),
    el("td", { className: "num" }, value(a.value)),
    el("td", {}, when(a.state === "resolved" ? a.resolved_at : a.fired_at || a.since)),
    quiet(a),
    actions,
  );
  row.alert = a;
  return row;
}

async function loadAlerts() {
  const alerts = await fetchJSON("/api/alerts");
  $("active").querySelector("tbody").replaceChildren(...alerts.map(alertRow));
  $("active-empty").hidden = alerts.length > 0;
  const firing = alerts.filter((a) => a.state === "firing").length;
  $("active-summary").textContent = alerts.length ? `${firing} firing, ${alerts.length} in all.` : "";
}

// ------------------------------------------------------------------ silences

function matcherText(m) {
  const op = (m.isEqual ? "=" : "!") + (m.isRegex ? "~" : (m.isEqual ? "" : "="));
  return `${m.name}${op}${JSON.stringify(m.value)}`;
}

function silenceRow(s) {
  const actions = el("td", { className: "admin-only actions" });
  if (s.status.state !== "expired") {
    actions.append(el("button", { type: "button", className: "btn btn-small", dataset: { action: "expire" } }, "Expire"));
  }
  return el(
    "tr", { dataset: { silence: s.id } },
    el("td", {}, el("ul", { className: "chips" }, ...s.matchers.map((m) => el("li", { className: "chip" }, matcherText(m))))),
    el("td", {}, badge(s.status.state, STATUS[s.status.state] || "warn")),
    el("td", { title: s.startsAt }, time(Date.parse(s.startsAt))),
    el("td", { title: s.endsAt }, time(Date.parse(s.endsAt))),
    el("td", {}, s.createdBy),
    el("td", {}, s.comment),
    actions,
  );
}

async function loadSilences() {
  const silences = await fetchJSON("/api/silences");
  const shown = $("show-expired").checked ? silences : silences.filter((s) => s.status.state !== "expired");
  $("silences").querySelector("tbody").replaceChildren(...shown.map(silenceRow));
  $("silences-empty").hidden = shown.length > 0;
}

// ------------------------------------------------------------------ history, rules

function historyRow(e) {
  const change = e.kind === "state" ? `${e.from} → ${e.to}` : `${e.kind.replace("_", " ")} (${e.to})`;
  return el(
    "tr", {},
    el("td", { title: e.time }, time(Date.parse(e.time))),
    el("td", {}, e.rule),
    el("td", {}, change),
    el("td", { className: "num" }, value(e.value)),
    el("td", {}, e.severity || "–"),
    el("td", {}, chips(e.labels, ["alertname"])),
  );
}

async function loadHistory() {
  const params = new URLSearchParams({ since: $("history-since").value, limit: String(HISTORY_LIMIT) });
  const rule = $("history-rule").value.trim();
  if (rule) params.set("rule", rule);
  const entries = await fetchJSON(`/api/alerts/history?${params}`);
  $("history").querySelector("tbody").replaceChildren(...entries.map(historyRow));
  $("history-empty").hidden = entries.length > 0;
}

async function loadRules() {
  const body = await fetchJSON("/api/rules");
  const rows = [];
  const names = new Set();
  for (const g of body.groups) {
    for (const r of g.rules) {
      if (r.kind === "alerting") names.add(r.name);
      rows.push(el(
        "tr", { dataset: { health: r.health } },
        el("td", {}, el("strong", { className: "nowrap" }, r.name), r.kind === "recording" ? el("div", { className: "muted" }, "recording rule") : null, el("div", { className: "muted code" }, r.query)),
        el("td", { title: g.file }, g.name),
        el("td", {}, badge(r.health, STATUS[r.health])),
        el("td", {}, when(r.last_evaluation)),
        el("td", { className: "num nowrap" }, r.last_evaluation ? seconds(r.evaluation_seconds) : "–"),
        el("td", { className: "num" }, r.kind === "alerting" ? String(r.alerts) : "–"),
        el("td", { className: "error" }, r.last_error),
      ));
    }
  }
  $("rules").querySelector("tbody").replaceChildren(...rows);
  $("rules-empty").hidden = rows.length > 0;
  $("rule-names").replaceChildren(...[...names].sort().map((n) => el("option", { value: n })));
}

async function refresh() {
  try {
    await Promise.all([loadAlerts(), loadSilences(), loadHistory(), loadRules()]);
  } catch (e) {
    if (e instanceof HttpError && e.status === 503) {
      notRunning = true;
      showError("The alerting engine is not running on this agent.");
      return; // the agent answers: the page is up to date
    }
    throw e;
  }
  if (notRunning) showError("");
  notRunning = false;
}

// ------------------------------------------------------------------ dialogs and actions

function openDialog(id, errorId) {
  $(errorId).hidden = true;
  $(id).showModal();
}

function dialogSubmit(formId, errorId, action) {
  $(formId).addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.submitter || $(formId).querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await action();
      $(formId).closest("dialog").close();
      await refresh();
    } catch (e) {
      $(errorId).textContent = e.message;
      $(errorId).hidden = false;
    } finally {
      button.disabled = false;
    }
  });
}

let ackTarget = null;

function silenceFor(alert) {
  // Every label but severity (the alert keeps its id when its severity moves).
  const lines = Object.entries(alert.labels)
    .filter(([name]) => name !== "severity")
    .map(([name, v]) => `${name}=${JSON.stringify(v)}`);
  $("silence-matchers").value = lines.join("\n");
  $("silence-comment").value = "";
  openDialog("silence-dialog", "silence-error");
}

function setup() {
  $("active").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const alert = button.closest("tr").alert;
    if (button.dataset.action === "silence") silenceFor(alert);
    if (button.dataset.action === "ack") {
      ackTarget = alert;
      $("ack-alert").textContent = `${alert.rule} ${Object.entries(alert.labels).filter(([n]) => n !== "alertname").map(([n, v]) => `${n}=${v}`).join(" ")}`;
      $("ack-comment").value = "";
      openDialog("ack-dialog", "ack-error");
    }
  });
  $("silences").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action='expire']");
    if (!button) return;
    button.disabled = true;
    try {
      await remove(`/api/silences/${encodeURIComponent(button.closest("tr").dataset.silence)}`);
      showError("");
      await refresh();
    } catch (e) {
      showError(`Cannot expire the silence: ${e.message}`);
      button.disabled = false;
    }
  });
  $("mute-open").addEventListener("click", () => openDialog("mute-dialog", "mute-error"));
  for (const button of document.querySelectorAll("dialog [data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
  dialogSubmit("silence-form", "silence-error", () => post("/api/silences", {
    matchers: $("silence-matchers").value.split("\n").map((l) => l.trim()).filter(Boolean),
    duration: $("silence-duration").value.trim(),
    comment: $("silence-comment").value.trim(),
  }));
  dialogSubmit("ack-form", "ack-error", () => post(
    `/api/alerts/${encodeURIComponent(ackTarget.fingerprint)}/ack`,
    { comment: $("ack-comment").value.trim() },
  ));
  dialogSubmit("mute-form", "mute-error", () => post("/api/mute", {
    duration: $("mute-duration").value.trim(),
    comment: $("mute-comment").value.trim(),
  }));
  $("history-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    loadHistory().catch((e) => showError(`Cannot load the history: ${e.message}`));
  });
  $("history-since").addEventListener("change", () => $("history-filter").requestSubmit());
  $("show-expired").addEventListener("change", () => loadSilences().catch((e) => showError(e.message)));
}

if ($("active")) {
  setup();
  poll(refresh, REFRESH_MS).then(ready);
} else { // the engine is not running here (the page says so): nothing to fetch
  setConnection("idle", "not live");
  ready();
}
tableExports();
