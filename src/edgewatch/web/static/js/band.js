// Range queries that keep the peaks of a thinned series. A range query takes one value
// per step (the latest sample before each evaluation time), so at about one point per
// pixel a spike between two steps is lost. For a plain selector (`metric` or
// `metric{...}`) and a step over a second, the same range is also asked as
// `max_over_time(SEL[STEPs])` and `min_over_time(SEL[STEPs])`: the extremes of every
// sample in each step, which chart.js draws as a light band around the line.

import { queryRange, seriesKey } from "./chart.js";
import { plainMetric } from "./marks.js";

function labelsKey(metric) {
  const { __name__: _, ...labels } = metric;
  return seriesKey(labels);
}

// -> [{metric, points, band?: {max: points, min: points}}], as queryRange plus the band.
export async function queryRangeBand(fetchJSON, query, startS, endS, stepS) {
  if (!plainMetric(query) || stepS <= 1) return queryRange(fetchJSON, query, startS, endS, stepS);
  const window = `[${Math.round(stepS)}s]`;
  const [series, max, min] = await Promise.all(
    [query, `max_over_time(${query.trim()}${window})`, `min_over_time(${query.trim()}${window})`].map(
      (q) => queryRange(fetchJSON, q, startS, endS, stepS),
    ),
  );
  const maxOf = new Map(max.map((s) => [labelsKey(s.metric), s.points]));
  const minOf = new Map(min.map((s) => [labelsKey(s.metric), s.points]));
  return series.map((s) => {
    const key = labelsKey(s.metric);
    if (!maxOf.has(key) || !minOf.has(key)) return s;
    return { ...s, band: { max: maxOf.get(key), min: minOf.get(key) } };
  });
}
