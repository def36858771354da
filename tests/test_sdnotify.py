"""The sd_notify protocol over real AF_UNIX datagram sockets, in-process and from the
real agent (READY=1, WATCHDOG=1 while its loop turns, STOPPING=1 on SIGTERM)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent_process import AgentProcess, wait_for
from edgewatch.sdnotify import SdNotifier, socket_address, watchdog_interval

Message = dict[str, str]
# sun_path holds 108 bytes; pytest's tmp_path can be longer than that.
MAX_SUN_PATH = 100


def _parse(datagram: bytes) -> Message:
    fields = dict(line.split("=", 1) for line in datagram.decode().split("\n") if line)
    assert fields, f"empty datagram {datagram!r}"
    return fields


def _drain(sock: socket.socket) -> list[Message]:
    """Every datagram queued on ``sock`` now, without waiting."""
    out: list[Message] = []
    sock.setblocking(False)
    while True:
        try:
            out.append(_parse(sock.recv(4096)))
        except BlockingIOError:
            return out


class Receiver:
    """A bound datagram socket standing in for systemd's notification socket."""

    def __init__(self, sock: socket.socket, env_value: str) -> None:
        self.sock = sock
        self.env_value = env_value
        self.seen: list[Message] = []

    def wait(self, pred: Callable[[Message], bool], timeout: float, what: str) -> Message:
        """The first message (from now on) matching ``pred``; bounded by ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
            try:
                message = _parse(self.sock.recv(4096))
            except TimeoutError:
                continue
            self.seen.append(message)
            if pred(message):
                return message
        raise AssertionError(f"no {what} within {timeout} s; received {self.seen}")

    def count_for(self, seconds: float, key: str) -> int:
        """How many messages carrying ``key`` arrive within ``seconds``."""
        count = 0
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(max(0.01, left))
            try:
                message = _parse(self.sock.recv(4096))
            except TimeoutError:
                break
            self.seen.append(message)
            count += key in message
        return count


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    with tempfile.TemporaryDirectory(prefix="ew-notify-") as short:
        path = tmp_path / "notify.sock"
        if len(os.fsencode(path)) > MAX_SUN_PATH:
            path = Path(short) / "notify.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(path))
            yield Receiver(sock, str(path))


def test_socket_address_forms() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@edgewatch/notify") == b"\0edgewatch/notify"
    for bad in ("", "@", "run/notify", "vsock:2:1234"):
        with pytest.raises(ValueError, match="neither an absolute path nor @abstract"):
            socket_address(bad)


def test_abstract_namespace_socket_receives_ready_and_status() -> None:
    name = f"edgewatch-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        notifier = SdNotifier.from_environ({"NOTIFY_SOCKET": f"@{name}"})
        assert notifier.enabled
        assert notifier.ready("running:\n 3 collectors")
        assert sock.recv(4096) == b"READY=1\nSTATUS=running: 3 collectors"
        assert notifier.stopping()
        assert sock.recv(4096) == b"STOPPING=1"
    assert notifier.sent == 2 and notifier.failures == 0


def test_path_socket_receives_each_message_as_one_datagram(receiver: Receiver) -> None:
    notifier = SdNotifier.from_environ({"NOTIFY_SOCKET": receiver.env_value})
    assert notifier.status("x" * 500)
    assert notifier.watchdog()
    got = [receiver.wait(lambda m: True, 5, "a message") for _ in range(2)]
    assert got == [{"STATUS": "x" * 200}, {"WATCHDOG": "1"}]


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    notifier = SdNotifier.from_environ({"WATCHDOG_USEC": "2000000"})
    assert not notifier.enabled
    assert notifier.watchdog_s is None
    assert not notifier.ready() and not notifier.watchdog() and not notifier.stopping()
    assert notifier.sent == 0 and notifier.failures == 0
    asyncio.run(asyncio.wait_for(notifier.watchdog_loop(), 5))  # returns at once


def test_a_bad_notify_socket_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "edgewatch.sdnotify"):
        notifier = SdNotifier.from_environ({"NOTIFY_SOCKET": "relative/notify"})
    assert not notifier.enabled
    assert "not notifying systemd" in caplog.text


def test_watchdog_interval_is_half_the_timeout_for_this_pid_only() -> None:
    pid = 4321
    assert watchdog_interval({"WATCHDOG_USEC": "2000000"}, pid) == 1.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4321"}, pid) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "99"}, pid) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}, pid) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}, pid) is None
    assert watchdog_interval({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "x"}, pid) is None
    assert watchdog_interval({}, pid) is None
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "99"}
    assert SdNotifier.from_environ(env, pid=pid).watchdog_s is None


def test_a_failed_send_is_counted_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SdNotifier(str(tmp_path / "nobody-listens.sock"))
    with caplog.at_level(logging.DEBUG, "edgewatch.sdnotify"):
        assert not notifier.watchdog()
        assert not notifier.watchdog()
    assert notifier.failures == 2 and notifier.sent == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "sd_notify" in warnings[0].getMessage()


def test_a_blocked_event_loop_sends_no_watchdog_pings(receiver: Receiver) -> None:
    notifier = SdNotifier(receiver.env_value, watchdog_s=0.02)

    async def scenario() -> int:
        task = asyncio.create_task(notifier.watchdog_loop())
        try:
            for _ in range(500):  # at least two pings while the loop turns (bounded)
                if notifier.sent >= 2:
                    break
                await asyncio.sleep(0.01)
            assert notifier.sent >= 2
            _drain(receiver.sock)
            time.sleep(0.4)  # a hung call: the loop is blocked for 20 intervals
            during = len(_drain(receiver.sock))
            before = notifier.sent
            for _ in range(500):  # the loop turns again: pings resume
                if notifier.sent > before:
                    break
                await asyncio.sleep(0.01)
            assert notifier.sent > before
            return during
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    assert asyncio.run(scenario()) == 0


def _start_agent(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> AgentProcess:
    agent = AgentProcess(tmp_path)
    # What systemd passes a Type=notify unit with WatchdogSec=2s; stderr is "the journal".
    agent.log_path.touch()
    st = agent.log_path.stat()
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.env_value)
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    agent.start()
    return agent


@pytest.mark.slow
def test_agent_sends_ready_then_watchdog_pings_then_stopping(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = _start_agent(tmp_path, receiver, monkeypatch)
    try:
        ready = receiver.wait(lambda m: "READY" in m, 60, "READY=1")
        assert ready["READY"] == "1"
        assert "collectors" in ready["STATUS"] and "http://127.0.0.1:" in ready["STATUS"]
        for _ in range(3):
            receiver.wait(lambda m: m == {"WATCHDOG": "1"}, 20, "WATCHDOG=1")
        agent.signal(signal.SIGTERM)
        receiver.wait(lambda m: m.get("STOPPING") == "1", 20, "STOPPING=1")
        assert agent.wait(timeout=20) == 0
    finally:
        agent.stop()
    kinds = [next(iter(m)) for m in receiver.seen]
    assert kinds.index("READY") < kinds.index("STOPPING")
    log = agent.log()
    # journald stamps each line: the agent's own lines then start with the level.
    assert "INFO edgewatch.agent: edgewatch running" in log
    assert all(line.startswith(("DEBUG", "INFO", "WARNING")) for line in log.splitlines())


@pytest.mark.slow
def test_a_stopped_agent_sends_no_watchdog_pings_until_continued(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = _start_agent(tmp_path, receiver, monkeypatch)
    try:
        receiver.wait(lambda m: "READY" in m, 60, "READY=1")
        receiver.wait(lambda m: "WATCHDOG" in m, 20, "WATCHDOG=1")
        agent.signal(signal.SIGSTOP)
        stat = Path(f"/proc/{agent.pid}/stat")
        wait_for(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T", 10, "stopped")
        _drain(receiver.sock)  # every ping sent before the stop
        # Three watchdog intervals (1 s each) while the agent cannot run.
        assert receiver.count_for(3.0, "WATCHDOG") == 0
        agent.signal(signal.SIGCONT)
        receiver.wait(lambda m: "WATCHDOG" in m, 20, "WATCHDOG=1 after SIGCONT")
        agent.signal(signal.SIGTERM)
        receiver.wait(lambda m: m.get("STOPPING") == "1", 20, "STOPPING=1")
        assert agent.wait(timeout=20) == 0
    finally:
        agent.stop()  # SIGKILL ends a stopped process too
