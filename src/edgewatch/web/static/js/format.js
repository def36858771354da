// Numbers for people: units (bytes, percent, seconds...), humanised, in the browser's locale;
// times in the zone chosen with the header's switch (timezone.js).

import { formatInZone } from "./timezone.js";

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

function trim(x, digits = 3) {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toLocaleString(undefined, { maximumFractionDigits: 3 });
}

export function bytes(v) {
  if (v == null || !Number.isFinite(v)) return v == null ? "–" : String(v);
  let i = 0;
  let x = Math.abs(v);
  while (x >= 1024 && i < BYTE_UNITS.length - 1) { x /= 1024; i += 1; }
  return `${v < 0 ? "-" : ""}${trim(x)} ${BYTE_UNITS[i]}`;
}

export function percent(ratio) {
  if (ratio == null || !Number.isFinite(ratio)) return ratio == null ? "–" : String(ratio);
  return `${trim(ratio * 100)} %`;
}

export function seconds(v) {
  if (v == null || !Number.isFinite(v)) return v == null ? "–" : String(v);
  const a = Math.abs(v);
  if (a === 0) return "0 s";
  if (a < 1e-3) return `${trim(v * 1e6)} µs`;
  if (a < 1) return `${trim(v * 1e3)} ms`;
  if (a < 120) return `${trim(v)} s`;
  if (a < 7200) return `${trim(v / 60)} min`;
  if (a < 172800) return `${trim(v / 3600)} h`;
  return `${trim(v / 86400)} d`;
}

export function number(v) {
  if (v == null) return "–";
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  for (const [limit, suffix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (a >= limit) return `${trim(v / limit)}${suffix}`;
  }
  return trim(v);
}

// unit name -> formatter of one value
export const UNITS = {
  bytes,
  bytes_per_second: (v) => (v == null ? "–" : `${bytes(v)}/s`),
  percent,
  seconds,
  celsius: (v) => (v == null || !Number.isFinite(v) ? number(v) : `${trim(v)} °C`),
  number,
};

export function formatter(unit) {
  return UNITS[unit] || number;
}

// The unit of a metric, guessed from its name (the base-unit suffixes of docs/metrics.md).
export function unitOfName(name) {
  if (/_bytes(_total)?$/.test(name)) return "bytes";
  if (/_ratio$/.test(name)) return "percent";
  if (/_seconds(_total)?$/.test(name)) return "seconds";
  if (/_celsius$|_temp$/.test(name)) return "celsius";
  return "number";
}

export function time(ms) {
  if (ms == null) return "–";
  return formatInZone(ms);
}

// The time of day only (hours, minutes, seconds).
export function clock(ms) {
  if (ms == null) return "–";
  return formatInZone(ms, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function ago(ms, now = Date.now()) {
  if (ms == null) return "–";
  const s = Math.max(0, (now - ms) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
