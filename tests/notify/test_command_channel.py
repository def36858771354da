"""The command channel with real subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest
from webhook_receiver import notification

from edgewatch.config.notify import CommandConfig
from edgewatch.notify.base import DeliveryError
from edgewatch.notify.command import CommandChannel

RECORD = """
import json, os, sys
out = sys.argv[1]
body = sys.stdin.read()
env = {k: v for k, v in os.environ.items() if k.startswith("EW_") or k == "EXTRA"}
env["LEAK"] = os.environ.get("EW_TEST_SECRET_TOKEN_X", "")
open(out, "w").write(json.dumps({"stdin": json.loads(body), "env": env}))
"""


def run(argv: list[str], timeout: float = 10.0, **env: str) -> None:
    channel = CommandChannel(CommandConfig(argv=argv, timeout=timeout, env=env))
    asyncio.run(channel.send(notification()))


def test_program_gets_json_on_stdin_and_ew_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EW_TEST_SECRET_TOKEN_X", "do-not-pass")
    out = tmp_path / "got.json"
    run([sys.executable, "-c", RECORD, str(out)], EXTRA="yes")
    got = json.loads(out.read_text())
    assert got["stdin"]["version"] == "4"
    assert got["stdin"]["alerts"][0]["labels"]["alertname"] == "DiskFull"
    env = got["env"]
    assert env["EW_RECEIVER"] == "ops"
    assert env["EW_STATUS"] == "firing"
    assert env["EW_ALERTNAME"] == "DiskFull"
    assert env["EW_SEVERITY"] == "critical"
    assert env["EW_ALERT_COUNT"] == "1"
    assert env["EW_SUMMARY"] == "disk /data is 97% full"
    assert env["EW_ACK_URL"] == "http://device.local:9100/ack/abc"
    assert env["EXTRA"] == "yes"
    assert env["LEAK"] == ""  # edgewatch's own environment is not passed on


def test_nonzero_exit_is_retryable_with_the_stderr_tail() -> None:
    script = "import sys; sys.stderr.write('x' * 500 + ' modem busy\\n'); sys.exit(3)"
    with pytest.raises(DeliveryError) as caught:
        run([sys.executable, "-c", script])
    assert caught.value.permanent is False
    message = str(caught.value)
    assert message.startswith(f"{sys.executable} exited with 3: ")
    assert message.endswith("modem busy")
    assert len(message) < len(sys.executable) + 240


@pytest.mark.parametrize("code", [126, 127])
def test_cannot_execute_exit_codes_are_permanent(code: int) -> None:
    with pytest.raises(DeliveryError) as caught:
        run([sys.executable, "-c", f"raise SystemExit({code})"])
    assert caught.value.permanent is True


def test_missing_or_non_executable_program_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError) as missing:
        run([str(tmp_path / "no-such-program")])
    assert missing.value.permanent is True
    assert "cannot run" in str(missing.value)
    script = tmp_path / "plain.txt"
    script.write_text("not a program")
    with pytest.raises(DeliveryError) as denied:
        run([str(script)])
    assert denied.value.permanent is True


def test_a_program_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        run([sys.executable, "-c", script], timeout=3.0)
    assert time.monotonic() - started < 30
    assert caught.value.permanent is False
    assert "did not finish within 3s; killed" in str(caught.value)
    parent, child = (int(p) for p in pids.read_text().split())
    deadline = time.monotonic() + 10
    while _alive(child):  # the child is reaped by init; bounded wait
        assert time.monotonic() < deadline, "the program's child survived"
        time.sleep(0.05)
    assert not _alive(parent)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_describe_names_the_program_only() -> None:
    channel = CommandChannel(CommandConfig(argv=["/usr/local/bin/buzz", "--token=abc"]))
    assert channel.describe() == "command /usr/local/bin/buzz"
    assert os.path.basename(channel.config.argv[0]) == "buzz"
