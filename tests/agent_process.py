"""Helpers for tests that run the real agent as a subprocess (``python -m edgewatch run``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from edgewatch.agent import store_path
from edgewatch.store import Store, StoreOptions

T = TypeVar("T")

FAST_CONFIG = """\
log_level: info
listen: 127.0.0.1:0
store:
  commit_interval: 1s
collectors:
  cpu: {interval: 1s}
  memory: {interval: 1s}
  disk: {enabled: false}
  network: {enabled: false}
  sensors: {enabled: false}
  system: {enabled: false}
  processes: {enabled: false}
  services: {enabled: false}
  self: {interval: 1s}
"""


def wait_for(check: Callable[[], T | None], timeout: float = 20.0, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy; bounded by ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


class AgentProcess:
    def __init__(self, tmp: Path, config_text: str = FAST_CONFIG) -> None:
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.config_path = tmp / "edgewatch.yaml"
        self.log_path = tmp / "agent.log"
        self.config_path.write_text(config_text)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def store_file(self) -> Path:
        return store_path(self.data_dir)

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWATCH_")}
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "edgewatch",
                    "run",
                    "--config",
                    str(self.config_path),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("not started")
        return self.proc.pid

    def log(self) -> str:
        """What this run (since the last start) has logged."""
        with self.log_path.open("rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def wait_log(self, text: str, timeout: float = 20.0, count: int = 1) -> None:
        def seen() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"agent exited ({self.proc.returncode}):\n{self.log()}")
            return self.log().count(text) >= count

        wait_for(seen, timeout, f"{text!r} in the agent's log:\n{self.log()}")

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        if self.proc is None:
            raise RuntimeError("not started")
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """Make sure the process is gone (used in ``finally``)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def read_all(path: Path) -> dict[str, dict[int, float]]:
    """Every sample in the store at ``path``, by series, read by a separate reader."""
    store = Store.open(path, StoreOptions(), readonly=True)
    try:
        out: dict[str, dict[int, float]] = {}
        now_ms = int(time.time() * 1000)
        for data in store.read(ALL_SERIES, now_ms - 86_400_000, now_ms + 3_600_000):
            series = out.setdefault(str(data.key), {})
            series.update(
                zip((int(t) for t in data.ts), (float(v) for v in data.values), strict=True)
            )
        return out
    finally:
        store.close()


ALL_SERIES = '{__name__=~".+"}'
