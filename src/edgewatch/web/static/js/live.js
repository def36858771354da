// The page's one live connection: an EventSource on /api/stream shared by every chart.
//
// The browser's EventSource reconnects by itself (the server's retry: hint) and sends
// Last-Event-ID, so the agent replays what was missed. When the connection is closed
// for good (an HTTP error, the agent away for long), it is opened again here with
// ?last_event_id=, backing off up to 30 s. The header's indicator says which.

import { setConnection } from "./ui.js";
import { finite } from "./chart.js";

const MAX_BACKOFF_MS = 30000;
const listeners = new Set();
let source = null;
let lastId = null;
let backoff = 1000;
let matches = [];

function url() {
  const params = new URLSearchParams();
  for (const m of matches) params.append("match", m);
  if (lastId !== null) params.set("last_event_id", lastId);
  const query = params.toString();
  return query ? `/api/stream?${query}` : "/api/stream";
}

function open() {
  setConnection(lastId === null ? "connecting" : "reconnecting", lastId === null ? "connecting" : "reconnecting…");
  source = new EventSource(url());
  source.addEventListener("open", () => {
    backoff = 1000;
    setConnection("live", "live");
  });
  source.addEventListener("samples", (event) => {
    if (event.lastEventId) lastId = event.lastEventId;
    let body;
    try {
      body = JSON.parse(event.data);
    } catch (e) {
      console.warn("edgewatch: bad live event", e);
      return;
    }
    const samples = body.samples.map((s) => ({ name: s.name, labels: s.labels, value: finite(s.value) }));
    for (const listener of listeners) listener(body.ts, samples);
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      source = null;
      setConnection("offline", `disconnected, retrying in ${Math.round(backoff / 1000)} s`);
      setTimeout(open, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    } else {
      setConnection("reconnecting", "reconnecting…");
    }
  });
}

// listener(tsMs, [{name, labels, value}]) for every live event; `match`: series
// selectors for the stream (default: the stream's core set). Opens the stream once.
export function subscribe(listener, { match = [] } = {}) {
  listeners.add(listener);
  for (const m of match) if (!matches.includes(m)) matches.push(m);
  if (source === null) open();
  return () => listeners.delete(listener);
}

// Whether every label of `want` has that value in `labels`.
export function labelsMatch(labels, want = {}) {
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}
