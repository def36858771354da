// Downloads of what a page shows, built in the page: a table's current rows and a
// chart's data as CSV (RFC 4180) or JSON, and a chart as PNG.
//
// A <table data-export="NAME"> gets "CSV" and "JSON" buttons above it (added by
// tableExports()): the rows of its <tbody> as they are at the click, one object per
// row keyed by the header cells' text (columns whose <th> has data-export-skip, such
// as action buttons, are left out); cell values are their textContent.

import { el } from "./ui.js";

// One CSV field: quoted when it holds a comma, a quote, CR or LF (quotes doubled).
function field(value) {
  const text = value == null ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

// header: [name...], rows: [[value...]...] -> CSV text, CRLF line ends.
export function toCSV(header, rows) {
  return [header, ...rows].map((row) => row.map(field).join(",")).join("\r\n") + "\r\n";
}

// Saves `text` as a file through a Blob and an object URL.
export function saveText(filename, mime, text) {
  saveBlob(filename, new Blob([text], { type: mime }));
}

export function saveBlob(filename, blob) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function cellText(cell) {
  return cell.textContent.replace(/\s+/g, " ").trim();
}

// -> {header: [name...], rows: [[text...]...]}: the table's current body rows.
export function tableData(table) {
  const heads = [...table.querySelectorAll("thead th")];
  const columns = heads.map((th, i) => [th, i]).filter(([th]) => !("exportSkip" in th.dataset));
  const header = columns.map(([th]) => cellText(th));
  const rows = [];
  for (const tr of table.querySelectorAll("tbody tr")) {
    const cells = [...tr.children];
    if (cells.length !== heads.length) continue; // a placeholder row spanning the table
    rows.push(columns.map(([, i]) => cellText(cells[i])));
  }
  return { header, rows };
}

function rowObjects({ header, rows }) {
  return rows.map((row) => Object.fromEntries(header.map((name, i) => [name, row[i]])));
}

function stamp() {
  return new Date().toISOString().slice(0, 19).replaceAll(":", "-");
}

function exportTable(table, format) {
  const name = `edgewatch-${table.dataset.export}-${stamp()}`;
  const data = tableData(table);
  if (format === "csv") saveText(`${name}.csv`, "text/csv", toCSV(data.header, data.rows));
  else saveText(`${name}.json`, "application/json", `${JSON.stringify(rowObjects(data), null, 1)}\n`);
}

function button(text, label, onClick) {
  const b = el("button", { type: "button", className: "btn btn-small", attrs: { "aria-label": label } }, text);
  b.addEventListener("click", onClick);
  return b;
}

// Adds the CSV / JSON buttons to every table[data-export] under `root`.
export function tableExports(root = document) {
  for (const table of root.querySelectorAll("table[data-export]")) {
    if (table.dataset.exportReady) continue;
    table.dataset.exportReady = "1";
    const name = table.dataset.export;
    const bar = el(
      "div",
      { className: "downloads table-downloads", dataset: { exportFor: name } },
      button("CSV", `Download ${name} as CSV`, () => exportTable(table, "csv")),
      button("JSON", `Download ${name} as JSON`, () => exportTable(table, "json")),
    );
    const wrap = table.closest(".table-wrap") || table;
    wrap.before(bar);
  }
}

// A chart's data (TimeChart: xs in unix seconds, one ys column per key), without the
// min/max band series: {header: ["time", label...], rows: [[ISO time, value...]...]}.
export function chartData(chart) {
  const columns = chart.keys.map((key, i) => [key, i]).filter(([key]) => !chart.bandOf.has(key));
  const header = ["time", ...columns.map(([key]) => chart.labels.get(key))];
  const rows = chart.xs.map((x, j) => [new Date(x * 1000).toISOString(), ...columns.map(([, i]) => chart.ys[i][j])]);
  return { header, rows };
}

function chartJSON(chart) {
  const { header, rows } = chartData(chart);
  const series = header.slice(1).map((label, i) => ({
    label,
    points: rows.filter((row) => row[i + 1] != null).map((row) => [Date.parse(row[0]), row[i + 1]]),
  }));
  return { title: chart.title, unit: chart.unit, series };
}

// The CSV / JSON / PNG buttons of a chart; `name` makes the file names.
export function chartDownloads(chart, name) {
  const base = () => `edgewatch-${name}-${stamp()}`;
  return el(
    "div",
    { className: "downloads chart-downloads" },
    button("CSV", `Download ${chart.title} as CSV`, () => {
      const { header, rows } = chartData(chart);
      saveText(`${base()}.csv`, "text/csv", toCSV(header, rows));
    }),
    button("JSON", `Download ${chart.title} as JSON`, () => {
      saveText(`${base()}.json`, "application/json", `${JSON.stringify(chartJSON(chart))}\n`);
    }),
    button("PNG", `Download ${chart.title} as PNG`, () => chart.downloadPNG(`${base()}.png`)),
  );
}
