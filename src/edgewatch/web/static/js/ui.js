// What every page shares: theme switch, connection indicator, logout, fetching JSON,
// and building DOM from data with textContent only (label values are user input).

import "./timezone.js"; // the header's time zone switch, on every page

const THEME_KEY = "edgewatch.theme";
const THEMES = ["auto", "dark", "light"];

export function currentTheme() {
  const t = document.documentElement.dataset.theme;
  return t === "dark" || t === "light" ? t : "auto";
}

function applyTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  try {
    if (theme === "auto") localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, theme);
  } catch (e) { /* storage disabled: the choice lasts this page */ }
  const button = document.getElementById("theme-toggle");
  if (button) button.textContent = `Theme: ${theme}`;
  document.dispatchEvent(new CustomEvent("edgewatch:theme"));
}

export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// A DOM element: el("td", {className: "num", dataset: {status: "pass"}}, "text", child...)
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "attrs") for (const [a, v] of Object.entries(value)) node.setAttribute(a, v);
    else node[key] = value;
  }
  for (const child of children) {
    if (child == null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function setConnection(state, text) {
  const node = document.getElementById("conn");
  if (!node) return;
  node.dataset.state = state;
  node.textContent = text || state;
}

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function fetchJSON(url, options = {}) {
  const response = await fetch(url, { credentials: "same-origin", ...options });
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  if (!response.ok && !(options.acceptStatus || []).includes(response.status)) {
    const message = (body && body.error) || `${response.status} ${response.statusText}`;
    if (response.status === 401) window.location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new HttpError(response.status, message);
  }
  return body;
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

// A mutation: sends the CSRF header of the session (docs/auth.md).
export function post(url, body) {
  const headers = { "X-CSRF-Token": cookie("edgewatch_csrf") };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetchJSON(url, {
    method: "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// A mutation by any method (PUT, DELETE...), with the session's CSRF header.
export function send(method, url, body) {
  const headers = { "X-CSRF-Token": cookie("edgewatch_csrf") };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetchJSON(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

export function isAdmin() {
  return document.body.dataset.role === "admin";
}

// Calls fn now and every intervalMs while the tab is visible; resumes on return.
// Returns the first call's promise.
// indicator: whether the header's connection indicator follows these fetches.
export function poll(fn, intervalMs, { indicator = true } = {}) {
  let timer = null;
  const run = async () => {
    timer = null;
    try {
      await fn();
      if (indicator) setConnection("live", "up to date");
    } catch (e) {
      if (indicator) setConnection("offline", "cannot reach the agent");
      console.warn("edgewatch: refresh failed:", e.message);
    }
    if (!document.hidden) timer = setTimeout(run, intervalMs);
  };
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && timer === null) run();
  });
  return run();
}

// Marks the page as rendered (its first data shown): body[data-ready="1"].
export function ready() {
  document.body.dataset.ready = "1";
}

function setup() {
  const button = document.getElementById("theme-toggle");
  if (button) {
    button.textContent = `Theme: ${currentTheme()}`;
    button.addEventListener("click", () => {
      const next = THEMES[(THEMES.indexOf(currentTheme()) + 1) % THEMES.length];
      applyTheme(next);
    });
  }
  window.matchMedia("(prefers-color-scheme: light)").addEventListener("change", () => {
    if (currentTheme() === "auto") document.dispatchEvent(new CustomEvent("edgewatch:theme"));
  });
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      try {
        await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
      } finally {
        window.location.assign("/login");
      }
    });
  }
}

setup();
