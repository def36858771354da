"""Dashboard figures against the real agent on loopback (bench/demo_site.py: three hours
of history, health checks, a firing alert), measured with Playwright and Debian's
headless Chromium:

- first paint of the overview: ``first-contentful-paint`` (Paint Timing API) and the
  *first meaningful paint*, defined here as the moment the health score is shown AND
  the first live chart holds data (its history drawn), measured in the page from
  navigation start by a MutationObserver; a fresh browser context (cold cache) each load;
- bytes transferred by that first load: the sum of every finished response's encoded
  length on the wire (CDP ``Network.loadingFinished``), headers included, up to the
  meaningful paint plus one second; the live stream stays open and is not counted;
- the agent's CPU with 20 overview pages open (each its own browser context, so each
  holds its own SSE connection): CPU seconds of the agent process (/proc utime+stime)
  per wall second, against the same agent with no page open, in the same run;
- the browser's main-thread time per second with 10 live charts of ~3,600 points each
  (an hour at a 1 s step, then a point a second from the stream): CDP
  ``Performance.getMetrics`` TaskDuration (and ScriptDuration) deltas over a window.

    python bench/dashboard.py [--loads 7] [--window 30]

Targets from the issue: under 500 ms, under 300 KB, under 5 % of one core, under
100 ms per second. The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from demo_site import Demo, demo_agent

CHROMIUM = "/usr/bin/chromium"
CLK_TCK = os.sysconf("SC_CLK_TCK")
DASHBOARDS = 20
LIVE_CHARTS = 10

# Records, from navigation start, when the overview first shows its score and a chart
# with data. Injected by the browser before the page's own scripts (CSP does not apply).
MEANINGFUL_PROBE = """
(() => {
  const done = () => {
    const score = document.getElementById("score-value");
    const chart = [...document.querySelectorAll(".chart[data-points]")]
      .some((c) => Number(c.dataset.points) > 0);
    return score && score.textContent.trim() !== "" && score.textContent !== "\u2013" && chart;
  };
  const watch = () => {
    const observer = new MutationObserver(() => {
      if (window.__meaningful === undefined && done()) {
        window.__meaningful = performance.now();
        observer.disconnect();
      }
    });
    observer.observe(document.documentElement, {
      subtree: true, childList: true, attributes: true, characterData: true,
    });
  };
  if (document.documentElement) watch();
  else document.addEventListener("readystatechange", watch, { once: true });
})();
"""

# Ten live charts through the dashboard's own module, on the explorer page (it loads
# uPlot; with no query it draws nothing of its own).
TEN_CHARTS = """
async () => {
  const { startLiveCharts } = await import("/static/js/livecharts.js");
  const plain = (id, query, name, unit, match) => ({
    id, title: id, unit, sources: [{ query, name, match, label: (l) => JSON.stringify(l) }],
  });
  const rate = (id, name, unit) => ({
    id, title: id, unit,
    sources: [{ query: `rate(${name}[1m])`, name, counter: true, label: (l) => JSON.stringify(l) }],
  });
  const specs = [
    plain("cpu", 'system_cpu_usage_ratio{cpu="total"}', "system_cpu_usage_ratio", "percent",
      { cpu: "total" }),
    plain("cpu-modes", "system_cpu_mode_ratio", "system_cpu_mode_ratio", "percent"),
    plain("memory", "system_memory_usage_ratio", "system_memory_usage_ratio", "percent"),
    plain("memory-bytes", "system_memory_used_bytes", "system_memory_used_bytes", "bytes"),
    rate("disk-read", "node_disk_read_bytes_total", "bytes_per_second"),
    rate("disk-write", "node_disk_written_bytes_total", "bytes_per_second"),
    rate("net-in", "node_network_receive_bytes_total", "bytes_per_second"),
    rate("net-out", "node_network_transmit_bytes_total", "bytes_per_second"),
    plain("cpu0", 'system_cpu_usage_ratio{cpu="0"}', "system_cpu_usage_ratio", "percent",
      { cpu: "0" }),
    plain("cpu1", 'system_cpu_usage_ratio{cpu="1"}', "system_cpu_usage_ratio", "percent",
      { cpu: "1" }),
  ];
  const grid = document.createElement("div");
  grid.className = "chart-grid";
  document.querySelector("main").append(grid);
  // 3,570 s of history at a 1 s step: the charts reach their 3,600-point cap while the
  // bench watches, which shows the live samples arriving.
  const charts = await startLiveCharts(grid, specs, { rangeS: 3570 });
  return charts.length;
}
"""


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def agent_cpu_pct(pid: int, window_s: float) -> float:
    """The agent's CPU over the next ``window_s`` seconds, in % of one core."""
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(window_s)
    return 100 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)


def first_load(browser: Browser, url: str) -> dict[str, float]:
    """One cold load of the overview: paint times (ms) and bytes on the wire."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        context.add_init_script(MEANINGFUL_PROBE)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        sizes: dict[str, float] = {}
        urls: dict[str, str] = {}
        cdp.on(
            "Network.loadingFinished",
            lambda e: sizes.__setitem__(e["requestId"], float(e["encodedDataLength"])),
        )
        cdp.on(
            "Network.requestWillBeSent",
            lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]),
        )
        page.goto(f"{url}/")
        page.wait_for_function("() => window.__meaningful !== undefined", timeout=20_000)
        page.wait_for_timeout(1000)
        fcp = page.evaluate(
            "() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN"
        )
        meaningful = page.evaluate("() => window.__meaningful")
        api = sum(n for rid, n in sizes.items() if "/api/" in urls.get(rid, ""))
        return {
            "fcp_ms": float(fcp),
            "meaningful_ms": float(meaningful),
            "bytes": sum(sizes.values()),
            "api_bytes": api,
            "requests": len(sizes),
        }
    finally:
        context.close()


def open_dashboards(browser: Browser, url: str, count: int) -> list[BrowserContext]:
    contexts: list[BrowserContext] = []
    for _ in range(count):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{url}/")
        page.wait_for_selector("#conn[data-state='live']", timeout=30_000)
    return contexts


def main_thread(page: Page, window_s: float) -> dict[str, float]:
    """TaskDuration and ScriptDuration of the page's main thread, ms per second."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def metrics() -> dict[str, float]:
        got: dict[str, Any] = cdp.send("Performance.getMetrics")
        return {m["name"]: float(m["value"]) for m in got["metrics"]}

    before, t0 = metrics(), time.monotonic()
    time.sleep(window_s)
    after, wall = metrics(), time.monotonic() - t0
    return {
        name: 1000 * (after[name] - before[name]) / wall
        for name in ("TaskDuration", "ScriptDuration", "LayoutDuration")
    }


def live_charts(browser: Browser, url: str, window_s: float, samples: int) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"{url}/explore")
        page.wait_for_selector("body[data-ready='1']", state="attached")
        count = page.evaluate(TEN_CHARTS)
        page.wait_for_selector("#conn[data-state='live']", timeout=30_000)
        page.wait_for_timeout(3000)  # history drawn, live samples arriving
        points = page.evaluate(
            "() => [...document.querySelectorAll('.chart[data-points]')]"
            ".map((c) => Number(c.dataset.points))"
        )
        hidden = page.evaluate("() => document.hidden")
        runs = [main_thread(page, window_s / samples) for _ in range(samples)]
        grown = page.evaluate(
            "() => [...document.querySelectorAll('.chart[data-points]')]"
            ".map((c) => Number(c.dataset.points))"
        )
        return {"charts": count, "points": points, "hidden": hidden, "runs": runs, "after": grown}
    finally:
        context.close()


def measure(browser: Browser, demo: Demo, loads: int, window_s: float) -> dict[str, Any]:
    first_load(browser, demo.url)  # warm the agent's caches (query, templates), not counted
    runs = [first_load(browser, demo.url) for _ in range(loads)]
    fcp = statistics.median(r["fcp_ms"] for r in runs)
    meaningful = statistics.median(r["meaningful_ms"] for r in runs)
    kb = statistics.median(r["bytes"] for r in runs) / 1000
    api_kb = statistics.median(r["api_bytes"] for r in runs) / 1000
    requests = statistics.median(r["requests"] for r in runs)
    print(f"overview, {loads} cold loads (median): first contentful paint {fcp:.0f} ms,")
    print(f"  first meaningful paint (score + a chart with data) {meaningful:.0f} ms,")
    print(f"  {kb:.1f} KB in {requests:.0f} responses ({api_kb:.1f} KB of them API data)")

    idle = agent_cpu_pct(demo.pid, window_s)
    contexts = open_dashboards(browser, demo.url, DASHBOARDS)
    try:
        time.sleep(3)  # every page's history loaded
        loaded = agent_cpu_pct(demo.pid, window_s)
    finally:
        for context in contexts:
            context.close()
    print(f"agent CPU over {window_s:.0f} s: {idle:.2f} % of a core with no dashboard open,")
    print(f"  {loaded:.2f} % with {DASHBOARDS} open: {loaded - idle:.2f} % for the dashboards")

    charts = live_charts(browser, demo.url, window_s, samples=5)
    task = statistics.median(r["TaskDuration"] for r in charts["runs"])
    script = statistics.median(r["ScriptDuration"] for r in charts["runs"])
    print(
        f"{charts['charts']} live charts, points per chart {charts['points']} "
        f"-> {charts['after']}, tab hidden: {charts['hidden']}"
    )
    print(f"  main thread {task:.1f} ms/s (script {script:.1f} ms/s), median of 5 windows")
    return {
        "overview_fcp_ms": round(fcp, 1),
        "overview_meaningful_paint_ms": round(meaningful, 1),
        "overview_first_load_kb": round(kb, 1),
        "overview_first_load_api_kb": round(api_kb, 1),
        "agent_cpu_idle_pct": round(idle, 2),
        "agent_cpu_20_dashboards_pct": round(loaded, 2),
        "dashboards_cpu_pct": round(loaded - idle, 2),
        "main_thread_ms_per_s_10_charts": round(task, 1),
        "script_ms_per_s_10_charts": round(script, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=7, help="cold loads of the overview")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per CPU window")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="edgewatch-bench-") as tmp,
        demo_agent(Path(tmp)) as demo,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
        )
        try:
            figures = measure(browser, demo, args.loads, args.window)
        finally:
            browser.close()
    print("targets: paint < 500 ms, first load < 300 KB, 20 dashboards < 5 % of a core,")
    print("  10 live charts < 100 ms/s of main thread")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
