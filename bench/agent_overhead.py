"""Agent overhead: the agent's CPU (% of one core) and RSS beside a plain psutil loop.

Spawns ~250 idle processes (a real device's process table), starts
``edgewatch run`` with the built-in defaults on a temporary data dir, and beside
it a plain psutil loop that collects the same families at the same intervals
without storing anything (the floor). After a warm-up, both are measured over
the same window from /proc/PID/stat (utime + stime) and /proc/PID/status (VmRSS, and
its anonymous and file-backed parts: RssAnon, RssFile). The agent runs with
``python -X importtime``, whose lines in its log count the modules it imported.

The agent loads its web app (FastAPI, the routers) on the first request, so these
figures are an agent nobody has browsed: ``rss_mib``. After the window the bench
opens the dashboard page and ``/api/system`` once (the agent listens on a free
loopback port), waits a few seconds, and reports the RSS then: ``rss_after_web_mib``.

    python bench/agent_overhead.py [--duration 60] [--warmup 15] [--idle-processes 250]

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TARGET_CPU_PCT = 0.8
TARGET_RSS_MIB = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Seconds after the first requests before the RSS with the web app loaded is read.
AFTER_WEB_S = 5.0
WEB_PATHS = ("/", "/api/system")


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_split_mib(pid: int) -> tuple[float, float]:
    """(anonymous, file-backed) resident MiB: Python's heap vs mapped libraries."""
    parts = {"RssAnon:": float("nan"), "RssFile:": float("nan")}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0] + ":"
        if key in parts:
            parts[key] = int(line.split()[1]) / 1024
    return parts["RssAnon:"], parts["RssFile:"]


def imported_modules(log: str) -> int:
    """Modules the agent imported, from its ``-X importtime`` lines (header excluded)."""
    lines = [line for line in log.splitlines() if line.startswith("import time:")]
    return max(0, len(lines) - 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def browse(port: int) -> list[int]:
    """GET the dashboard page and /api/system once, as a first visitor would; statuses."""
    statuses = []
    for path in WEB_PATHS:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as response:
            response.read()
            statuses.append(response.status)
    return statuses


def default_intervals() -> dict[str, float]:
    from edgewatch.config import Config

    c = Config().collectors
    return {
        "cpu": c.cpu.interval,
        "memory": c.memory.interval,
        "disk": c.disk.interval,
        "filesystems": c.disk.filesystems_interval,
        "network": c.network.interval,
        "sensors": c.sensors.interval,
        "system": c.system.interval,
        "processes": c.processes.interval,
    }


def floor_loop(intervals: dict[str, float]) -> None:
    """The plain psutil loop: the same families, the same intervals, nothing stored."""
    import psutil

    attrs = [
        "name",
        "cmdline",
        "username",
        "cpu_times",
        "memory_info",
        "num_threads",
        "io_counters",
        "status",
    ]

    def processes() -> object:
        return [p.info for p in psutil.process_iter(attrs)]

    funcs = {
        "cpu": lambda: (
            psutil.cpu_times(percpu=True),
            psutil.getloadavg(),
            psutil.cpu_stats(),
            psutil.cpu_freq(percpu=True),
        ),
        "memory": lambda: (psutil.virtual_memory(), psutil.swap_memory()),
        "disk": lambda: psutil.disk_io_counters(perdisk=True),
        "filesystems": lambda: [psutil.disk_usage(p.mountpoint) for p in psutil.disk_partitions()],
        "network": lambda: (psutil.net_io_counters(pernic=True), psutil.net_if_stats()),
        "sensors": lambda: (
            psutil.sensors_temperatures(),
            psutil.sensors_fans(),
            psutil.sensors_battery(),
        ),
        "system": lambda: (psutil.boot_time(), psutil.users(), len(psutil.pids())),
        "processes": processes,
    }
    due = dict.fromkeys(funcs, 0.0)
    while True:
        now = time.time()
        for name, fn in funcs.items():
            if now >= due[name]:
                fn()
                due[name] = (now // intervals[name] + 1) * intervals[name]
        time.sleep(max(0.0, min(due.values()) - time.time()))


def measure(
    pids: dict[str, int], duration: float
) -> dict[str, tuple[float, float, tuple[float, float]]]:
    t0 = time.monotonic()
    c0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    time.sleep(duration)
    wall = time.monotonic() - t0
    return {
        name: ((cpu_seconds(pid) - c0[name]) / wall * 100, rss_mib(pid), rss_split_mib(pid))
        for name, pid in pids.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--idle-processes", type=int, default=250)
    parser.add_argument("--floor-loop", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_loop:
        floor_loop(json.loads(args.floor_loop))
        return 0

    idle: list[subprocess.Popen[bytes]] = []
    procs: dict[str, subprocess.Popen[bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="ew-bench-") as tmp:
        log_path = Path(tmp) / "agent.log"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWATCH_")}
        try:
            for _ in range(args.idle_processes):
                idle.append(subprocess.Popen(["sleep", "600"]))
            with log_path.open("wb") as log:
                procs["agent"] = subprocess.Popen(
                    [
                        sys.executable,
                        "-X",
                        "importtime",
                        "-m",
                        "edgewatch",
                        "run",
                        "--data-dir",
                        str(Path(tmp) / "data"),
                        "--listen",
                        f"127.0.0.1:{port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            procs["floor"] = subprocess.Popen(
                [sys.executable, __file__, "--floor-loop", json.dumps(default_intervals())],
                env=env,
            )
            time.sleep(args.warmup)
            for name, p in procs.items():
                if p.poll() is not None:
                    print(f"{name} exited early with {p.returncode}; log:", file=sys.stderr)
                    print(log_path.read_text(), file=sys.stderr)
                    return 1
            figures = measure({n: p.pid for n, p in procs.items()}, args.duration)
            modules = imported_modules(log_path.read_text())  # before any request
            statuses = browse(port)
            time.sleep(AFTER_WEB_S)
            rss_after_web = rss_mib(procs["agent"].pid)
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs.values():
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for p in idle:
                p.kill()
            for p in idle:
                p.wait()
        agent_log = log_path.read_text()

    cpu, rss, (rss_anon, rss_file) = figures["agent"]
    floor_cpu, floor_rss, _ = figures["floor"]
    modules_after_web = imported_modules(agent_log)
    rows = [
        ("edgewatch agent (stores everything)", cpu, rss),
        ("plain psutil loop (floor, stores nothing)", floor_cpu, floor_rss),
        ("target", TARGET_CPU_PCT, TARGET_RSS_MIB),
    ]
    print(
        f"agent overhead: {args.idle_processes} extra idle processes, "
        f"warm-up {args.warmup:g} s, measured {args.duration:g} s"
    )
    print(f"{'':44} {'CPU % of one core':>18} {'RSS MiB':>9}")
    for label, c, r in rows:
        print(f"{label:44} {c:18.2f} {r:9.1f}")
    print(
        f"agent RSS: {rss_anon:.1f} MiB anonymous (heap, objects), {rss_file:.1f} MiB file-backed "
        f"(libraries); {modules} modules imported"
    )
    print(
        f"agent RSS above: idle, web app not loaded (nobody browsed yet). After one visit "
        f"({', '.join(WEB_PATHS)}: HTTP {', '.join(map(str, statuses))}) it loaded the "
        f"web app: RSS {rss_after_web:.1f} MiB, {modules_after_web} modules imported"
    )
    problems = [line for line in agent_log.splitlines() if " ERROR " in line or "Traceback" in line]
    for line in problems[:10]:
        print(f"agent log: {line}")
    print(
        json.dumps(
            {
                "cpu_pct_one_core": round(cpu, 3),
                "rss_mib": round(rss, 1),
                "rss_anon_mib": round(rss_anon, 1),
                "rss_file_mib": round(rss_file, 1),
                "modules": modules,
                "rss_after_web_mib": round(rss_after_web, 1),
                "modules_after_web": modules_after_web,
                "floor_cpu_pct_one_core": round(floor_cpu, 3),
                "floor_rss_mib": round(floor_rss, 1),
                "idle_processes": args.idle_processes,
                "duration_s": args.duration,
                "agent_exit_code": procs["agent"].returncode,
                "agent_error_lines": len(problems),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
