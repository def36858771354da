"""GET /metrics: text 0.0.4 and OpenMetrics, checked by promtool and scraped by Prometheus."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_helpers import LiveServer, live_context, make_app, peer_binary

from edgewatch.collect.registry import load_collector_class
from edgewatch.export.exposition import (
    FamilyMeta,
    format_value,
    render_openmetrics,
    render_text,
    wants_openmetrics,
)
from edgewatch.model import MetricFamily, Sample, SeriesKey
from edgewatch.web.context import AppContext

FIXTURE_SYS = Path(__file__).parents[1] / "collect" / "fixtures" / "sys"
OM_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)  # what Prometheus 2.x sends
# Lints promtool raises on names the collectors chose after node_exporter (not on rendering).
KNOWN_NAME_LINTS = re.compile(
    r"^node_memory_\w+ metric names should be written in 'snake_case' not 'camelCase'$"
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def collect_real(ctx: AppContext) -> dict[str, MetricFamily]:
    """Run the system collectors (sensors on the fixture tree) twice; publish to the hub."""
    families: dict[str, MetricFamily] = {}
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("cpu", {}),
        ("processes", {"groups": {"python": "python"}}),
        ("memory", {}),
        ("disk", {}),
        ("network", {}),
        ("system", {}),
        ("sensors", {"sys_root": str(FIXTURE_SYS)}),
    ]
    for kind, kw in kinds:
        collector = load_collector_class(kind)(**kw)
        if collector.available() is not None:
            continue
        families.update({f.name: f for f in collector.families()})
        for _ in range(2):
            ctx.hub.publish(int(time.time() * 1000), list(collector.collect()))
    return families


def make_ctx_families(ctx: AppContext, families: dict[str, MetricFamily]) -> None:
    ctx.families = lambda: dict(families)


async def push_tricky(c: httpx.AsyncClient) -> None:
    body = (
        '# HELP app_note_total Notes with a \\\\ backslash and a "quote".\n'
        "# TYPE app_note_total counter\n"
        'app_note_total{path="C:\\\\x",msg="say \\"hi\\"\\nbye"} 3\n'
        "app_ratio NaN\napp_peak +Inf\n"
    )
    r = await c.post("/api/push", content=body)
    assert r.status_code == 200, r.text


def promtool_problems(text: str) -> list[str]:
    promtool = peer_binary("promtool")
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60
    )
    out = (done.stdout + done.stderr).decode()
    assert done.returncode in (0, 3), f"promtool could not parse the body:\n{out}"
    return [line for line in out.splitlines() if line.strip()]


def test_metrics_body_passes_promtool(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path) as ctx:
            families = collect_real(ctx)
            make_ctx_families(ctx, families)
            transport = httpx.ASGITransport(app=make_app(ctx))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                await push_tricky(c)
                r = await c.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        body = r.text
        assert "# TYPE node_cpu_seconds_total counter\n" in body
        assert "# TYPE node_vmstat_pswpin untyped\n" in body
        assert "# TYPE node_hwmon_chip_names gauge\n" in body  # info, written as a gauge
        assert "# TYPE system_cpus gauge\n" in body  # linted by promtool below
        assert "# TYPE system_process_group_num_procs gauge\n" in body  # and this
        assert '# HELP app_note_total Notes with a \\\\ backslash and a "quote".\n' in body
        assert 'msg="say \\"hi\\"\\nbye",path="C:\\\\x"} 3 ' in body
        assert re.search(r"^app_ratio NaN \d{13}$", body, re.M)
        assert re.search(r"^app_peak \+Inf \d{13}$", body, re.M)
        assert "# HELP app_peak app_peak (no description given)\n" in body
        problems = promtool_problems(body)
        unexpected = [p for p in problems if not KNOWN_NAME_LINTS.match(p)]
        assert unexpected == [], "\n".join(problems)

    run(main())


def test_openmetrics_on_accept(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path) as ctx:
            make_ctx_families(ctx, collect_real(ctx))
            transport = httpx.ASGITransport(app=make_app(ctx))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                await push_tricky(c)
                r = await c.get("/metrics", headers={"accept": OM_ACCEPT})
                plain = await c.get("/metrics", params={"timestamps": "false"})
        assert r.headers["content-type"] == (
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        )
        body = r.text
        assert body.endswith("\n# EOF\n")
        assert "# TYPE node_cpu_seconds counter\n" in body
        assert re.search(
            r'^node_cpu_seconds_total\{cpu="0",mode="idle"\} \S+ \d+\.\d{3}$', body, re.M
        )
        assert "# TYPE app_note counter\n" in body
        assert '# HELP app_note Notes with a \\\\ backslash and a \\"quote\\".\n' in body
        assert "# TYPE node_power_supply info\n" in body
        assert re.search(r"^node_power_supply_info\{.*\} 1 \d+\.\d{3}$", body, re.M)
        assert "# TYPE node_hwmon_chip_names gauge\n" in body  # info without _info suffix
        assert "# TYPE node_vmstat_pswpin unknown\n" in body
        assert re.search(r"^node_load1 \S+$", plain.text, re.M)  # no timestamp

    run(main())


def test_exposition_rules() -> None:
    latest = {
        SeriesKey.of("a_total"): (1000, 1.0),
        SeriesKey.of("a"): (1000, 2.0),  # takes the OpenMetrics family name of a_total
        SeriesKey.of("b_info", x="1"): (1000, 1.0),
        SeriesKey.of("c_info", x="1"): (1000, 2.0),  # an info value must be 1
    }
    meta = {
        "a_total": FamilyMeta("counter", "line1\nline2"),
        "a": FamilyMeta("gauge", ""),
        "b_info": FamilyMeta("info", "B."),
        "c_info": FamilyMeta("info", "C."),
    }
    om = render_openmetrics(latest, meta)
    assert "# TYPE a gauge\n" in om and "# TYPE a_total unknown\n" in om
    assert "# TYPE b info\n" in om and "# TYPE c_info gauge\n" in om
    assert "# HELP a_total line1\\nline2\n" in om
    assert "a_total 1 1.000\n" in om
    text = render_text(latest, meta)
    assert "a_total 1 1000\n" in text and "# TYPE b_info gauge\n" in text
    assert [format_value(v) for v in (1e20, 0.5, -0.0, 3.0, float("-inf"), 7)] == [
        "1e+20",
        "0.5",
        "0",
        "3",
        "-Inf",
        "7",  # an int from a collector (int.is_integer exists only from Python 3.12)
    ]
    assert wants_openmetrics(OM_ACCEPT)
    assert not wants_openmetrics(None)
    assert not wants_openmetrics("*/*")
    assert not wants_openmetrics("text/plain;q=0.9,application/openmetrics-text;q=0.5")
    assert not wants_openmetrics("application/openmetrics-text;q=0")


@pytest.mark.slow
def test_real_prometheus_scrapes_the_device(tmp_path: Path) -> None:
    prometheus = peer_binary("prometheus")

    async def main() -> None:
        with live_context(tmp_path) as ctx:
            make_ctx_families(ctx, collect_real(ctx))
            async with LiveServer(make_app(ctx)) as srv:
                async with httpx.AsyncClient(base_url=srv.url, timeout=5) as c:
                    await push_tricky(c)
                await scrape_with_prometheus(prometheus, srv.url, tmp_path, ctx)

    run(main())


async def scrape_with_prometheus(
    prometheus: str, target_url: str, tmp_path: Path, ctx: AppContext
) -> None:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    target = target_url.removeprefix("http://")
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: edgewatch\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as prom:
            found: dict[str, Any] = {}

            async def query(expr: str) -> list[Any]:
                try:
                    r = await prom.get("/api/v1/query", params={"query": expr})
                except httpx.TransportError:
                    return []
                return list(r.json()["data"]["result"]) if r.status_code == 200 else []

            async def poll() -> None:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 60
                while loop.time() < deadline and proc.poll() is None:
                    found["load"] = await query('node_load1{job="edgewatch"}')
                    found["push"] = await query("app_note_total")
                    if found["load"] and found["push"]:
                        return
                    # Keep the samples fresh: a scrape repeats their collection timestamps.
                    now = int(time.time() * 1000)
                    ctx.hub.publish(now, [Sample(k, v) for k, (_, v) in ctx.hub.latest().items()])
                    await asyncio.sleep(0.5)

            await poll()
            if not (found.get("load") and found.get("push")):
                targets = (await prom.get("/api/v1/targets")).text if proc.poll() is None else ""
                pytest.fail(f"Prometheus never returned the series; targets: {targets}")
            assert found["load"][0]["metric"]["instance"] == target
            labels = found["push"][0]["metric"]
            assert labels["msg"] == 'say "hi"\nbye' and labels["path"] == "C:\\x"
            meta = (
                await prom.get("/api/v1/metadata", params={"metric": "node_cpu_seconds"})
            ).json()
            assert (
                meta["data"]["node_cpu_seconds"][0]["type"] == "counter"
            )  # scraped as OpenMetrics
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
