// The panel editor of a custom dashboard: one list item per panel (title, query, unit,
// range) with Up / Down / Remove buttons, all native controls (keyboard accessible).
// It keeps the panels as plain objects; the page saves them with PUT /api/dashboards/{id}.

import { el } from "./ui.js";

export const UNITS = {
  number: "number", percent: "percent (ratio 0–1)", bytes: "bytes", bytes_per_second: "bytes/s",
  seconds: "seconds", celsius: "°C",
};
export const RANGES = { "5m": "last 5 min", "15m": "last 15 min", "1h": "last hour", "6h": "last 6 hours", "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days" };
export const MAX_PANELS = 50;

function select(id, options, value) {
  return el("select", { id }, ...Object.entries(options).map(([v, text]) => el("option", { value: v, selected: v === value }, text)));
}

function field(label, control) {
  return el("div", { className: "field" }, el("label", { htmlFor: control.id }, label), control);
}

export class PanelEditor {
  constructor(list) {
    this.list = list;
    this.panels = [];
    this.serial = 0; // unique ids for the controls
  }

  set(panels) {
    this.panels = panels.slice(0, MAX_PANELS).map((p) => ({
      title: String(p.title || ""), query: String(p.query || ""),
      unit: UNITS[p.unit] ? p.unit : "number", range: RANGES[p.range] ? p.range : "1h",
    }));
    this.render();
  }

  add() {
    if (this.panels.length >= MAX_PANELS) return;
    this.read();
    this.panels.push({ title: "", query: "", unit: "number", range: "1h" });
    this.render();
    const last = this.list.lastElementChild;
    if (last) last.querySelector("textarea").focus();
  }

  // The panels as the form shows them now.
  read() {
    this.panels = [...this.list.children].map((li) => ({
      title: li.querySelector("input").value.trim(),
      query: li.querySelector("textarea").value.trim(),
      unit: li.querySelector("select.unit").value,
      range: li.querySelector("select.range").value,
    }));
    return this.panels;
  }

  move(from, to, focusClass) {
    this.read();
    if (to < 0 || to >= this.panels.length) return;
    const [panel] = this.panels.splice(from, 1);
    this.panels.splice(to, 0, panel);
    this.render();
    const button = this.list.children[to].querySelector(`.${focusClass}`);
    if (button && !button.disabled) button.focus();
  }

  remove(index) {
    this.read();
    this.panels.splice(index, 1);
    this.render();
  }

  render() {
    this.list.replaceChildren(...this.panels.map((p, i) => this.item(p, i)));
  }

  item(panel, index) {
    const n = ++this.serial;
    const title = el("input", { id: `p${n}-title`, value: panel.title, maxLength: 100, autocomplete: "off" });
    const query = el("textarea", { id: `p${n}-query`, value: panel.query, rows: 2, spellcheck: false, required: true, maxLength: 4096 });
    const unit = select(`p${n}-unit`, UNITS, panel.unit);
    unit.className = "unit";
    const range = select(`p${n}-range`, RANGES, panel.range);
    range.className = "range";
    const last = this.panels.length - 1;
    const button = (text, cls, label, onClick, disabled = false) => {
      const b = el("button", { type: "button", className: `btn btn-small ${cls}`, disabled, attrs: { "aria-label": label } }, text);
      b.addEventListener("click", onClick);
      return b;
    };
    return el(
      "li", { className: "panel-row", dataset: { index: String(index) } },
      field(`Panel ${index + 1} title`, title),
      el("div", { className: "field field-wide" }, el("label", { htmlFor: query.id }, "Query (PromQL)"), query),
      field("Unit", unit),
      field("Range", range),
      el(
        "div", { className: "panel-buttons" },
        button("Up", "move-up", `Move panel ${index + 1} up`, () => this.move(index, index - 1, "move-up"), index === 0),
        button("Down", "move-down", `Move panel ${index + 1} down`, () => this.move(index, index + 1, "move-down"), index === last),
        button("Remove", "remove", `Remove panel ${index + 1}`, () => this.remove(index)),
      ),
    );
  }
}

// The panels of an exported dashboard file's text: {name, panels} (throws on bad input).
export function parseExport(text) {
  const body = JSON.parse(text);
  if (!body || typeof body !== "object" || !Array.isArray(body.panels)) {
    throw new Error("not an edgewatch dashboard (no panels list)");
  }
  return { name: typeof body.name === "string" ? body.name : "", panels: body.panels };
}
