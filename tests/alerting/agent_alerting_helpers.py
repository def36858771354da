"""The real agent with alerting on, for the end-to-end tests: config, pushes, API, CLI.

``AlertingAgent`` wraps ``AgentProcess`` (``python -m edgewatch run``): it finds
the URL the agent logs (``listen: 127.0.0.1:0``, so a restart never races for a
port), pushes metrics through ``POST /api/push`` (a background ``Pusher`` keeps
them fresh, across restarts), calls the API and runs the CLI on the data dir.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from agent_process import AgentProcess, wait_for

URL_RE = re.compile(r"dashboard and API on (http://127\.0\.0\.1:\d+)/?")

BASE_CONFIG = """\
log_level: info
listen: 127.0.0.1:0
store:
  commit_interval: 1s
collectors:
  cpu: {{enabled: false}}
  memory: {{enabled: false}}
  disk: {{enabled: false}}
  network: {{enabled: false}}
  sensors: {{enabled: false}}
  system: {{enabled: false}}
  processes: {{enabled: false}}
  services: {{enabled: false}}
  self: {{interval: 5s}}
alerting:
  default_rules: false
  rule_files: [{rules}]
{rest}"""


def agent_config(rules: Path, rest: str) -> str:
    """An agent config with only the rules of ``rules`` and ``rest`` (receivers, route...)."""
    return BASE_CONFIG.format(rules=json.dumps(str(rules)), rest=rest)


def webhook_receiver() -> ModuleType:
    """``tests/notify/webhook_receiver.py`` (its folder is on sys.path only when a test
    of tests/notify was collected first)."""
    name = "webhook_receiver"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parent.parent / "notify" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class AlertingAgent:
    def __init__(self, tmp: Path, config_text: str) -> None:
        self.process = AgentProcess(tmp, config_text)
        self.url = ""

    @property
    def data_dir(self) -> Path:
        return self.process.data_dir

    def start(self, timeout: float = 60.0) -> None:
        """Start the agent and wait until it serves and its alerting engine runs."""
        self.process.start()
        self.process.wait_log("dashboard and API on", timeout)
        found = URL_RE.search(self.process.log())
        if found is None:
            raise AssertionError(f"no URL in the agent's log:\n{self.process.log()}")
        self.url = found.group(1)
        self.process.wait_log("alerting: ", timeout)
        wait_for(lambda: self._ready(), timeout, "/readyz")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        self.process.stop()

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.url}{path}", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: object) -> Any:
        response = httpx.post(f"{self.url}{path}", json=body, timeout=10)
        assert response.status_code == 200, f"POST {path}: {response.status_code} {response.text}"
        return response.json()

    def cli(self, *args: str) -> str:
        """``edgewatch ARGS --config ... --data-dir ...``; its standard output."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWATCH_")}
        where = ["--config", str(self.process.config_path), "--data-dir", str(self.data_dir)]
        done = subprocess.run(
            [sys.executable, "-m", "edgewatch", *args, *where],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"edgewatch {' '.join(args)}: {done.stderr}"
        return done.stdout

    def alerts(self) -> list[dict[str, Any]]:
        """``edgewatch alerts list --json``."""
        found: list[dict[str, Any]] = json.loads(self.cli("alerts", "list", "--json"))
        return found

    def history(self, rule: str) -> list[dict[str, Any]]:
        """``edgewatch alerts history --json --rule RULE``, newest first."""
        found: list[dict[str, Any]] = json.loads(
            self.cli("alerts", "history", "--since", "1h", "--rule", rule, "--json")
        )
        return found


class Pusher:
    """Pushes ``metrics`` (Prometheus text) to the agent every ``every`` seconds.

    A push that cannot connect (the agent killed or restarting) is counted in
    ``refused`` and retried at the next round; any other failure is kept in
    ``error`` and stops the pusher (``check()`` raises it)."""

    def __init__(self, agent: AlertingAgent, every: float = 0.5) -> None:
        self.agent = agent
        self.every = every
        self.metrics: dict[str, float] = {}
        self.pushed = 0
        self.refused = 0
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pusher", daemon=True)

    def set(self, series: str, value: float) -> None:
        with self._lock:
            self.metrics[series] = value

    def push_now(self) -> None:
        with self._lock:
            body = "".join(f"{s} {v}\n" for s, v in self.metrics.items())
        if not body or not self.agent.url:
            return
        response = httpx.post(
            f"{self.agent.url}/api/push",
            content=body.encode(),
            headers={"Content-Type": "text/plain"},
            timeout=5,
        )
        if response.status_code != 200:
            raise AssertionError(f"push refused: {response.status_code} {response.text}")
        self.pushed += 1

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.push_now()
            except httpx.TransportError:
                self.refused += 1
            except BaseException as exc:  # kept for check(): the test fails with it
                self.error = exc
                return

    def check(self) -> None:
        if self.error is not None:
            raise AssertionError(f"the pusher failed: {self.error!r}") from self.error

    def __enter__(self) -> Pusher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def notified_alerts(requests: list[Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Each alert of each webhook request: (kind, status of the message, the alert)."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for request in requests:
        body = request.json()
        for alert in body["alerts"]:
            out.append((str(body.get("kind", "notify")), str(body["status"]), alert))
    return out
