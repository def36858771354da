// The time zone of every time shown (chart axes, legends, tables): the browser's (the
// default), the device's (the agent tells it: /api/device), or UTC. The choice is kept
// in localStorage (key edgewatch.timezone); the header's "Time:" button cycles it.
// A change dispatches "edgewatch:timezone" on document; charts redraw, tables refresh.
// No import of ui.js here: ui.js imports this module (the button works on every page).

const KEY = "edgewatch.timezone";
const DEVICE_KEY = "edgewatch.device-zone";
export const CHOICES = ["browser", "device", "utc"];
const LABELS = { browser: "browser", device: "device", utc: "UTC" };

function load(key) {
  try {
    return localStorage.getItem(key);
  } catch (e) {
    return null; // storage disabled: the default
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch (e) { /* storage disabled: the choice lasts this page */ }
}

let device = null; // {timezone: "Europe/Berlin" | null, utc_offset_seconds}
try {
  device = JSON.parse(load(DEVICE_KEY) || "null");
} catch (e) {
  device = null;
}

export function zoneChoice() {
  const stored = load(KEY);
  return CHOICES.includes(stored) ? stored : "browser";
}

function offsetText(seconds) {
  const sign = seconds < 0 ? "-" : "+";
  const a = Math.abs(seconds);
  const pad = (n) => String(n).padStart(2, "0");
  return `UTC${sign}${pad(Math.floor(a / 3600))}:${pad(Math.floor((a % 3600) / 60))}`;
}

// The zone in force: {name} an IANA name, {offset} fixed seconds east of UTC, or
// {} the browser's own zone; label: what the header shows.
export function activeZone() {
  const choice = zoneChoice();
  if (choice === "utc") return { name: "UTC", label: "UTC" };
  if (choice === "device" && device) {
    if (device.timezone) return { name: device.timezone, label: `device (${device.timezone})` };
    return { offset: device.utc_offset_seconds, label: `device (${offsetText(device.utc_offset_seconds)})` };
  }
  return { label: choice === "device" ? "device (loading)" : "browser" };
}

// A Date whose local fields (getHours()...) read the wall-clock time at `ms` in the
// active zone: what uPlot's tzDate option takes.
export function zonedDate(ms) {
  const zone = activeZone();
  const date = new Date(ms);
  if (zone.offset !== undefined) return new Date(ms + zone.offset * 1000 + date.getTimezoneOffset() * 60000);
  if (zone.name === undefined) return date;
  if (zone.name === "UTC") return new Date(ms + date.getTimezoneOffset() * 60000);
  const shifted = new Date(date.toLocaleString("en-US", { timeZone: zone.name }));
  shifted.setMilliseconds(date.getMilliseconds());
  return Number.isNaN(shifted.getTime()) ? date : shifted;
}

// Date and time of `ms` in the active zone, in the browser's locale.
export function formatInZone(ms, options = {}) {
  const zone = activeZone();
  if (zone.offset !== undefined) {
    const text = new Date(ms + zone.offset * 1000).toLocaleString(undefined, { ...options, timeZone: "UTC" });
    return `${text} ${offsetText(zone.offset)}`;
  }
  if (zone.name === undefined) return new Date(ms).toLocaleString(undefined, options);
  return new Date(ms).toLocaleString(undefined, { ...options, timeZone: zone.name });
}

function announce() {
  const button = document.getElementById("tz-toggle");
  if (button) button.textContent = `Time: ${activeZone().label}`;
  document.body.dataset.timezone = zoneChoice();
  document.dispatchEvent(new CustomEvent("edgewatch:timezone"));
}

async function fetchDevice() {
  try {
    const response = await fetch("/api/device", { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const body = await response.json();
    const known = { timezone: body.timezone || null, utc_offset_seconds: Number(body.utc_offset_seconds) || 0 };
    const changed = JSON.stringify(known) !== JSON.stringify(device);
    device = known;
    save(DEVICE_KEY, JSON.stringify(known));
    if (changed && zoneChoice() === "device") announce();
  } catch (e) {
    console.warn("edgewatch: the device's time zone is unknown:", e.message);
  }
}

export function setZone(choice) {
  save(KEY, CHOICES.includes(choice) ? choice : "browser");
  announce();
  if (zoneChoice() === "device") fetchDevice();
}

function setup() {
  const button = document.getElementById("tz-toggle");
  if (button) {
    button.addEventListener("click", () => {
      setZone(CHOICES[(CHOICES.indexOf(zoneChoice()) + 1) % CHOICES.length]);
    });
  }
  const choice = zoneChoice();
  if (button) button.textContent = `Time: ${activeZone().label}`;
  document.body.dataset.timezone = choice;
  if (choice === "device") fetchDevice(); // the zone may have changed since it was saved
}

setup();
