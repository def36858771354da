// Live charts from specs: history from /api/v1/query_range once, then the live stream's
// samples appended (never re-fetching history). A chart stays hidden until it has data.
//
// spec: {id, title, unit, sources: [{query, name, match, counter, scale, accept, label}]}
//   query: PromQL for the history (a rate() for counters); name + match: the live
//   samples it takes; counter: live values become per-second rates; scale: a factor
//   for the live values (as the history query applies it); accept(labels):
//   optional filter; label(labels): the legend text; sum: the live values (rates) of
//   all the accepted series add up to one series (as a sum() history query does).
// details (optional): {toggle, sources}: a second set of sources (one series per
//   interface...), shown instead while the chart's toggle button (aria-pressed) is on;
//   switching fetches that view's history again, then live samples go on.
// Thresholds of the alert rules on the metrics of plain queries are drawn once; the
// annotations (alerts, boots, restarts) of the charts' range are refreshed each minute.

import { queryRangeBand } from "./band.js";
import { TimeChart, seriesKey, stepFor } from "./chart.js";
import { chartDownloads } from "./download.js";
import { labelsMatch, subscribe } from "./live.js";
import { fetchAnnotations, fetchThresholds, plainMetric } from "./marks.js";
import { el, fetchJSON, poll } from "./ui.js";

const MARKS_EVERY_MS = 60000;

function strip(metric) {
  const { __name__: _, ...labels } = metric;
  return labels;
}

class LiveChart {
  constructor(grid, spec, maxPoints, rangeS) {
    this.spec = spec;
    this.maxPoints = maxPoints;
    this.rangeS = rangeS;
    this.sources = spec.sources; // the view shown
    this.buffered = null; // live samples held while a view's history loads
    this.previous = new Map(); // counter series key -> [ms, raw value]
    this.chartBox = el("div", { className: "chart" });
    const head = el("div", { className: "chart-head" }, el("h3", {}, spec.title));
    this.head = head;
    this.card = el(
      "section",
      { className: "card chart-card", id: `chart-${spec.id}`, hidden: true, attrs: { "aria-label": spec.title } },
      head,
      this.chartBox,
    );
    grid.append(this.card);
    this.chart = new TimeChart(this.chartBox, { title: spec.title, unit: spec.unit, maxPoints });
    this.downloads = chartDownloads(this.chart, spec.id);
    if (spec.details) head.append(this.toggleButton(spec.details.toggle));
    head.append(this.downloads);
  }

  toggleButton(text) {
    const button = el("button", { type: "button", className: "btn btn-small chart-toggle", attrs: { "aria-pressed": "false" } }, text);
    button.addEventListener("click", () => {
      const on = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", String(on));
      this.showView(on ? this.spec.details.sources : this.spec.sources)
        .catch((e) => console.warn("edgewatch: history failed:", e.message));
    });
    return button;
  }

  // Replaces the chart by one of `sources`: its history, then the live samples.
  async showView(sources) {
    const old = this.chart;
    this.sources = sources;
    this.buffered = [];
    old.destroy();
    this.chartBox.replaceChildren();
    this.chart = new TimeChart(this.chartBox, { title: this.spec.title, unit: this.spec.unit, maxPoints: this.maxPoints });
    this.chart.setThresholds(old.thresholds);
    this.chart.setAnnotations(old.annotations);
    const downloads = chartDownloads(this.chart, this.spec.id);
    this.downloads.replaceWith(downloads);
    this.downloads = downloads;
    const endS = Math.floor(Date.now() / 1000);
    const startS = endS - this.rangeS;
    try {
      await this.loadHistory(startS, endS, stepFor(startS, endS, this.rangeS));
    } finally {
      const held = this.buffered;
      this.buffered = null;
      for (const [ms, samples] of held) this.take(ms, samples);
    }
  }

  key(source, labels) {
    return `${source.name}|${seriesKey(labels)}`;
  }

  async loadHistory(startS, endS, stepS) {
    const series = [];
    for (const source of this.sources) {
      const result = await queryRangeBand(fetchJSON, source.query, startS, endS, stepS);
      for (const r of result) {
        const labels = strip(r.metric);
        if (source.accept && !source.accept(labels)) continue;
        series.push({ key: this.key(source, labels), label: source.label(labels), points: r.points, band: r.band });
      }
    }
    this.chart.setHistory(series);
    if (series.length) this.card.hidden = false;
  }

  take(ms, samples) {
    if (this.buffered) {
      this.buffered.push([ms, samples]);
      return;
    }
    const values = new Map();
    for (const source of this.sources) {
      let total = 0;
      let totalKnown = true;
      let summed = 0;
      for (const s of samples) {
        if (s.name !== source.name || !labelsMatch(s.labels, source.match)) continue;
        if (source.accept && !source.accept(s.labels)) continue;
        const key = this.key(source, s.labels);
        let value = s.value;
        if (source.counter) {
          const prev = this.previous.get(key);
          this.previous.set(key, [ms, s.value]);
          if (!prev || value === null || prev[1] === null || value < prev[1] || ms <= prev[0]) value = null;
          else value = (value - prev[1]) / ((ms - prev[0]) / 1000);
        }
        if (source.scale && value !== null) value *= source.scale;
        if (source.sum) {
          summed += 1;
          if (value === null) totalKnown = false;
          else total += value;
        } else values.set(key, { label: source.label(s.labels), value });
      }
      if (source.sum && summed > 0) values.set(this.key(source, {}), { label: source.label({}), value: totalKnown ? total : null });
    }
    if (this.chart.append(ms, values)) this.card.hidden = false;
  }
}

function metricsOf(spec) {
  return spec.sources.map((s) => plainMetric(s.query)).filter(Boolean);
}

async function loadThresholds(charts) {
  const byMetric = await fetchThresholds(charts.flatMap((c) => metricsOf(c.spec)));
  for (const c of charts) c.chart.setThresholds(metricsOf(c.spec).flatMap((m) => byMetric.get(m) || []));
}

function startMarks(charts, rangeS) {
  loadThresholds(charts).catch((e) => console.warn("edgewatch: thresholds failed:", e.message));
  poll(async () => {
    const endS = Date.now() / 1000;
    const firsts = charts.map((c) => c.chart.xs[0]).filter(Number.isFinite); // what is drawn
    const annotations = await fetchAnnotations(firsts.length ? Math.min(...firsts) : endS - rangeS, endS);
    for (const c of charts) c.chart.setAnnotations(annotations);
  }, MARKS_EVERY_MS, { indicator: false });
}

// Builds the charts in `grid`; history over the last `rangeS` seconds. Resolves once
// the history is in; `onEmpty(bool)` says whether no chart has data.
export async function startLiveCharts(grid, specs, { rangeS = 900, maxPoints = 3600, onEmpty = () => {} } = {}) {
  const charts = specs.map((spec) => new LiveChart(grid, spec, maxPoints, rangeS));
  const pending = [];
  let loaded = false;
  const update = () => onEmpty(charts.every((c) => c.card.hidden));
  subscribe((ms, samples) => {
    if (!loaded) {
      pending.push([ms, samples]);
      return;
    }
    for (const chart of charts) chart.take(ms, samples);
    update();
  });
  const endS = Math.floor(Date.now() / 1000);
  const startS = endS - rangeS;
  const stepS = stepFor(startS, endS, rangeS);
  const results = await Promise.allSettled(charts.map((c) => c.loadHistory(startS, endS, stepS)));
  for (const r of results) if (r.status === "rejected") console.warn("edgewatch: history failed:", r.reason);
  loaded = true;
  for (const [ms, samples] of pending.splice(0)) for (const chart of charts) chart.take(ms, samples);
  update();
  startMarks(charts, rangeS);
  return charts;
}
