"""Cost of one collect() of each built-in collector on this machine (a script, not a test).

Run: .venv/bin/python tests/collect/timing.py [ROUNDS] [EXTRA_IDLE_PROCESSES]
Prints CPU time (process time, so waiting on I/O is not counted) and wall time
per collect(), and the number of samples.
"""

from __future__ import annotations

import subprocess
import sys
import time

from edgewatch.collect.registry import BUILTIN_COLLECTORS, DEFAULT_INTERVALS, load_collector_class


def main(rounds: int) -> None:
    print(f"{'collector':<10} {'cpu ms':>8} {'wall ms':>8} {'samples':>8}")
    for kind in BUILTIN_COLLECTORS:
        collector = load_collector_class(kind)(interval=DEFAULT_INTERVALS[kind])
        reason = collector.available()
        if reason is not None:
            print(f"{kind:<10} disabled: {reason}")
            continue
        samples = len(list(collector.collect()))  # warm: caches, deltas
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(rounds):
            samples = len(list(collector.collect()))
        cpu = (time.process_time() - cpu0) / rounds * 1000
        wall = (time.perf_counter() - wall0) / rounds * 1000
        print(f"{kind:<10} {cpu:>8.3f} {wall:>8.3f} {samples:>8}")


def spawn_idle(count: int) -> list[subprocess.Popen[bytes]]:
    """Idle processes, like a real device's process table (stopped by the caller)."""
    return [subprocess.Popen(["sleep", "3600"]) for _ in range(count)]


if __name__ == "__main__":
    extra = spawn_idle(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    try:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    finally:
        for proc in extra:
            proc.kill()
            proc.wait()
