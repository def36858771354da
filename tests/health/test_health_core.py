"""The health monitor's core: thresholds, retries against flapping, timeouts, the
score with components, dependencies and critical checks, and the samples."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from edgewatch.config import ConfigError, load_config
from edgewatch.config.health import HealthConfig
from edgewatch.health.blocking import run_blocking
from edgewatch.health.model import CheckEnv, Observation, Status
from edgewatch.health.runner import HealthMonitor
from edgewatch.model import Sample
from edgewatch.store import StoreError


def _config(*checks: dict[str, Any], components: dict[str, Any] | None = None) -> HealthConfig:
    return HealthConfig.model_validate({"checks": list(checks), "components": components or {}})


def _run(monitor: HealthMonitor, name: str, times: int = 1) -> list[Status]:
    async def main() -> list[Status]:
        return [(await monitor.run_once(name)).status for _ in range(times)]

    return asyncio.run(main())


def test_file_check_passes_fresh_and_fails_stale_with_retries(tmp_path: Path) -> None:
    frame = tmp_path / "frame.jpg"
    frame.write_bytes(b"x" * 100)
    config = _config({"kind": "file", "name": "frame", "path": str(frame), "max_age": 30,
                      "retries": 2, "interval": 10, "timeout": 5})  # fmt: skip
    monitor = HealthMonitor(config, CheckEnv())
    assert _run(monitor, "frame") == [Status.PASS]
    old = time.time() - 120
    os.utime(frame, (old, old))  # left stale
    # retries: 2 — the first stale reading is not enough to change the reported status
    assert _run(monitor, "frame", 2) == [Status.PASS, Status.FAIL]
    result = monitor.results()["frame"]
    assert result.observed is Status.FAIL and "not modified for" in result.message
    frame.unlink()
    assert "does not exist" in asyncio.run(monitor.run_once("frame")).message


def test_a_flapping_target_is_damped_by_retries(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    config = _config({"kind": "file", "name": "flap", "path": str(flag), "retries": 3})
    monitor = HealthMonitor(config, CheckEnv())
    seen = []
    for i in range(9):  # alternates every run: never 3 in a row; ends up
        if i % 2 == 0:
            flag.write_text("up")
        else:
            flag.unlink()
        seen.append(_run(monitor, "flap")[0])
    assert seen == [Status.PASS] * 9
    flag.unlink()
    for _ in range(3):  # now down for good: reported on the third failure
        seen.append(_run(monitor, "flap")[0])
    assert seen[-3:] == [Status.PASS, Status.PASS, Status.FAIL]


def test_thresholds_raise_the_status_by_the_value(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        config = _config(
            {"kind": "tcp", "name": "fast", "host": "127.0.0.1", "port": port,
             "warn_above": 10.0},
            {"kind": "tcp", "name": "slow", "host": "127.0.0.1", "port": port,
             "warn_above": 0.0, "fail_above": 1e-9},
        )  # fmt: skip
        monitor = HealthMonitor(config, CheckEnv())
        assert _run(monitor, "fast") == [Status.PASS]
        assert _run(monitor, "slow") == [Status.FAIL]
        assert "is above 1e-09" in monitor.results()["slow"].message
    finally:
        listener.close()
    assert _run(monitor, "fast") == [Status.FAIL]  # closed port
    assert "127.0.0.1:" in monitor.results()["fast"].message


class _Hangs:
    def __init__(self, settings: Any, env: CheckEnv) -> None:
        pass

    async def observe(self) -> Observation:
        await asyncio.sleep(3600)
        return Observation(Status.PASS)


def test_a_hanging_check_is_unknown_at_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edgewatch.health.runner.load_kind", lambda kind: _Hangs)
    config = _config({"kind": "tcp", "name": "hang", "host": "h", "port": 1, "timeout": 0.2})
    monitor = HealthMonitor(config, CheckEnv())
    result = asyncio.run(monitor.run_once("hang"))
    assert result.status is Status.UNKNOWN and "timed out after 0.2s" in result.message


def test_results_become_samples(tmp_path: Path) -> None:
    got: list[tuple[int, Sequence[Sample]]] = []
    (tmp_path / "f").write_text("x")
    config = _config({"kind": "file", "name": "f", "path": str(tmp_path / "f")})
    monitor = HealthMonitor(config, CheckEnv(), sink=lambda ts, s: got.append((ts, s)))
    _run(monitor, "f")
    ((_, samples),) = got
    by_name = {s.key.name: s for s in samples}
    assert by_name["edgewatch_check_status"].value == 0.0
    assert dict(by_name["edgewatch_check_status"].key.labels) == {
        "check": "f", "component": "system", "kind": "file"}  # fmt: skip
    assert set(by_name) == {
        "edgewatch_check_status", "edgewatch_check_duration_seconds",
        "edgewatch_check_observed_value",
        "edgewatch_health_score", "edgewatch_component_health_score"}  # fmt: skip


def test_score_blocks_dependants_and_caps_on_critical(tmp_path: Path) -> None:
    present = tmp_path / "present"
    present.write_text("x")
    missing = str(tmp_path / "missing")
    config = _config(
        {"kind": "file", "name": "cam", "component": "camera", "path": missing},
        {"kind": "file", "name": "model", "component": "vision", "path": missing},
        {"kind": "file", "name": "disk", "component": "storage", "path": str(present)},
        {"kind": "file", "name": "cfg", "component": "storage", "path": missing,
         "warn_above": 0},
        components={"vision": {"depends_on": ["camera"], "weight": 3}, "camera": {"weight": 1},
                    "storage": {"weight": 1}},
    )  # fmt: skip
    monitor = HealthMonitor(config, CheckEnv())
    for name in monitor.names():
        _run(monitor, name)
    summary = monitor.summary()
    assert summary.components["vision"].blocked_by == ("camera",)
    assert summary.components["vision"].score is None  # not failed in its own right
    assert summary.components["camera"].score == 0.0
    assert summary.components["storage"].score == 50.0  # pass 100, fail 0
    # camera (weight 1) at 0 and storage (weight 1) at 50: vision is left out
    assert summary.score == 25.0
    assert summary.status is Status.FAIL
    assert [(loss.check, loss.points) for loss in summary.losses] == [("cam", 50.0), ("cfg", 25.0)]
    critical = _config(
        {"kind": "file", "name": "ok1", "path": str(present)},
        {"kind": "file", "name": "ok2", "path": str(present)},
        {"kind": "file", "name": "ok3", "path": str(present)},
        {"kind": "file", "name": "key", "path": missing, "critical": True},
    )
    monitor = HealthMonitor(critical, CheckEnv())
    for name in monitor.names():
        _run(monitor, name)
    summary = monitor.summary()
    assert summary.capped_by == ("key",)
    assert summary.score == 25.0  # 75 without the cap


def test_bad_definitions_are_config_errors() -> None:
    with pytest.raises(ValueError, match="two checks are named"):
        _config({"kind": "tcp", "name": "a", "host": "h", "port": 1},
                {"kind": "tcp", "name": "a", "host": "h", "port": 2})  # fmt: skip
    with pytest.raises(ValueError, match="cycle"):
        _config(components={"a": {"depends_on": ["b"]}, "b": {"depends_on": ["a"]}})
    with pytest.raises(ValueError, match="longer than interval"):
        _config({"kind": "tcp", "name": "a", "host": "h", "port": 1, "interval": 1, "timeout": 5})
    with pytest.raises(ValueError, match="not a valid name"):
        _config({"kind": "tcp", "name": "Bad Name", "host": "h", "port": 1})


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"kind": "process", "name": "p", "match": "(unclosed"}, "bad regular expression"),
        ({"kind": "metric", "name": "m", "query": "rate(x)"}, "expected type matrix"),
        ({"kind": "camera", "name": "c"}, "needs device, snapshot or both"),
        ({"kind": "http", "name": "h", "url": "ftp://user:pw@host/"}, "http:// or https://"),
        (
            {"kind": "heartbeat", "name": "b", "period": 60, "min_duration": 10, "max_duration": 5},
            "min_duration is longer",
        ),
    ],
)
def test_definitions_that_cannot_run_are_config_errors(check: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _config(check)


def test_a_bad_url_in_a_config_file_is_reported_without_its_credentials(tmp_path: Path) -> None:
    path = tmp_path / "edgewatch.yaml"
    path.write_text(
        "health:\n  checks:\n    - {kind: http, name: h, url: 'ftp://user:pw@host/'}\n"
        "    - {kind: tcp, name: t, host: 'http://me:secret@h', port: 99999}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert "url must be http:// or https://" in text and "edgewatch.yaml:3" in text
    assert "pw@" not in text and "secret" not in text


def test_a_dependency_on_an_unknown_component_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="which no check or component defines"):
        _config(components={"vision": {"depends_on": ["camrea"]}})


class _Scripted:
    """Observes the statuses of ``SCRIPT`` in turn."""

    SCRIPT: ClassVar[list[Status]] = []

    def __init__(self, settings: Any, env: CheckEnv) -> None:
        self._next = iter(self.SCRIPT)

    async def observe(self) -> Observation:
        status = next(self._next)
        return Observation(status, message=status.value)


def test_alternating_bad_results_switch_after_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    _Scripted.SCRIPT = [Status.PASS, Status.FAIL, Status.UNKNOWN, Status.FAIL, Status.PASS]
    monkeypatch.setattr("edgewatch.health.runner.load_kind", lambda kind: _Scripted)
    config = _config({"kind": "file", "name": "x", "path": "/x", "retries": 2})
    monitor = HealthMonitor(config, CheckEnv())
    # fail then unknown: two runs in a row differ from pass, the latest is reported;
    # then fail and pass both differ from unknown: the latest of the two, pass
    statuses = _run(monitor, "x", 5)
    assert statuses == [Status.PASS, Status.PASS, Status.UNKNOWN, Status.UNKNOWN, Status.PASS]


class _Blocks:
    """A blocking call (``run_blocking``) that returns only when ``release`` is set."""

    release = threading.Event()
    calls = 0

    def __init__(self, settings: Any, env: CheckEnv) -> None:
        pass

    async def observe(self) -> Observation:
        return await run_blocking(self._observe)

    def _observe(self) -> Observation:
        type(self).calls += 1
        type(self).release.wait(60)  # bounded: the test sets it
        return Observation(Status.PASS, message="released")


def test_a_stuck_blocking_call_is_not_started_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edgewatch.health.runner.load_kind", lambda kind: _Blocks)
    _Blocks.release = threading.Event()
    _Blocks.calls = 0
    config = _config({"kind": "file", "name": "stuck", "path": "/x", "timeout": 0.2})
    monitor = HealthMonitor(config, CheckEnv())

    async def main() -> list[str]:
        messages = [(await monitor.run_once("stuck")).message for _ in range(3)]
        _Blocks.release.set()
        for _ in range(100):  # bounded: the released thread returns at once
            if not monitor._states["stuck"].slot.busy:
                break
            await asyncio.sleep(0.05)
        messages.append((await monitor.run_once("stuck")).message)
        return messages

    try:
        messages = asyncio.run(main())
    finally:
        _Blocks.release.set()
    assert messages[0] == "timed out after 0.2s"
    assert messages[1:3] == ["previous run still stuck (its blocking call has not returned)"] * 2
    assert messages[3] == "released"
    assert _Blocks.calls == 2


def test_a_hung_blocking_call_does_not_keep_the_process_from_exiting(tmp_path: Path) -> None:
    script = tmp_path / "hang.py"
    script.write_text(
        "import asyncio, threading\n"
        "from edgewatch.config.health import HealthConfig\n"
        "from edgewatch.health.blocking import run_blocking\n"
        "from edgewatch.health.model import CheckEnv, Observation, Status\n"
        "from edgewatch.health import runner\n"
        "class Hangs:\n"
        "    def __init__(self, s, env): pass\n"
        "    async def observe(self):\n"
        "        return await run_blocking(threading.Event().wait)\n"
        "runner.load_kind = lambda kind: Hangs\n"
        "cfg = HealthConfig.model_validate({'checks': [\n"
        "    {'kind': 'file', 'name': 'h', 'path': '/x', 'timeout': 0.1}]})\n"
        "async def main():\n"
        "    m = runner.HealthMonitor(cfg, CheckEnv())\n"
        "    print((await m.run_once('h')).message, flush=True)\n"
        "    task = asyncio.create_task(m.run())\n"
        "    await asyncio.sleep(0.2)\n"
        "    task.cancel()\n"
        "    await asyncio.gather(task, return_exceptions=True)\n"
        "asyncio.run(main())\n"
        "print('exited', flush=True)\n"
    )
    # the bound only stops a hang from hanging the suite: the process exits at once
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["timed out after 0.1s", "exited"]


def test_a_failing_sink_is_logged_and_the_checks_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "f").write_text("x")
    config = _config(
        *(
            {
                "kind": "file",
                "name": n,
                "path": str(tmp_path / "f"),
                "interval": 0.01,
                "timeout": 0.01,
            }
            for n in ("a", "b")
        )
    )
    runs = {"a": 0, "b": 0}
    enough = asyncio.Event()

    def sink(ts_ms: int, samples: Sequence[Sample]) -> None:
        name = samples[0].key.label("check")
        runs[name] += 1
        if min(runs.values()) >= 6:
            enough.set()
        if name == "b" and runs[name] >= 3:
            raise StoreError("too many series (limit 10)")

    monitor = HealthMonitor(config, CheckEnv(), sink=sink)

    async def main() -> bool:
        task = asyncio.create_task(monitor.run())
        await asyncio.wait_for(enough.wait(), 60)  # bounded
        alive = not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return alive

    assert asyncio.run(main())
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == ["health check b: sink failed"]  # once
    assert monitor.results()["b"].status is Status.PASS
