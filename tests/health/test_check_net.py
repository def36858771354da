"""The ``tcp``, ``dns`` and ``ping`` checks against loopback targets."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from health_net_helpers import run_check

from edgewatch.health.kinds import net
from edgewatch.health.kinds.net import NOT_PERMITTED, parse_ping_output
from edgewatch.health.model import Status

IPUTILS = """PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.
64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.041 ms
64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.060 ms

--- 127.0.0.1 ping statistics ---
3 packets transmitted, 2 received, 33.3333% packet loss, time 2031ms
rtt min/avg/max/mdev = 0.041/0.050/0.060/0.009 ms
"""
BUSYBOX = """PING 10.0.0.1 (10.0.0.1): 56 data bytes
64 bytes from 10.0.0.1: seq=0 ttl=64 time=1.234 ms

--- 10.0.0.1 ping statistics ---
1 packets transmitted, 1 packets received, 0% packet loss
round-trip min/avg/max = 1.234/1.234/1.234 ms
"""
ALL_LOST = """--- 192.0.2.1 ping statistics ---
2 packets transmitted, 0 received, 100% packet loss, time 1010ms
"""


# -- tcp ----------------------------------------------------------------------------


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def test_tcp_open_port_passes(listening: int) -> None:
    result = run_check({"name": "t", "kind": "tcp", "host": "127.0.0.1", "port": listening})
    assert result.status is Status.PASS, result.message
    assert result.unit == "seconds" and result.value is not None


def test_tcp_closed_port_fails() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    result = run_check({"name": "t", "kind": "tcp", "host": "127.0.0.1", "port": port})
    assert result.status is Status.FAIL
    assert result.message.startswith(f"127.0.0.1:{port}: ")


# -- dns ----------------------------------------------------------------------------


def test_dns_localhost_resolves_with_address_count() -> None:
    result = run_check({"name": "d", "kind": "dns", "hostname": "localhost"})
    assert result.status is Status.PASS, result.message
    assert result.unit == "count"
    assert result.value is not None and result.value >= 1
    assert result.message.startswith("localhost -> ")


def test_dns_invalid_name_fails() -> None:
    result = run_check({"name": "d", "kind": "dns", "hostname": "nonexistent.invalid"})
    assert result.status is Status.FAIL
    assert result.value is None
    assert result.message.startswith("nonexistent.invalid does not resolve: ")


def test_dns_too_few_addresses_trip_a_threshold() -> None:
    result = run_check({"name": "d", "kind": "dns", "hostname": "localhost", "warn_below": 50})
    assert result.status is Status.WARN
    assert "count is below 50" in result.message


# -- ping ---------------------------------------------------------------------------


def _assert_ping_ok_or_unsupported(status: Status, value: float | None, message: str) -> None:
    if status is Status.UNKNOWN:
        assert message == NOT_PERMITTED
        return
    assert status is Status.PASS, message
    assert value is not None and 0 < value < 1
    assert message.startswith("2/2 replies from 127.0.0.1, mean ")


def test_ping_loopback_through_a_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net, "PING_SEARCH_PATH", str(tmp_path))  # no ping program there
    result = run_check({"name": "p", "kind": "ping", "host": "127.0.0.1", "count": 2})
    _assert_ping_ok_or_unsupported(result.status, result.value, result.message)


def test_ping_loopback_with_what_is_installed() -> None:
    result = run_check({"name": "p", "kind": "ping", "host": "127.0.0.1", "count": 2})
    _assert_ping_ok_or_unsupported(result.status, result.value, result.message)


def test_ping_unresolvable_host_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net, "PING_SEARCH_PATH", str(tmp_path))
    result = run_check({"name": "p", "kind": "ping", "host": "nonexistent.invalid"})
    assert result.status is Status.FAIL
    assert result.message.startswith("nonexistent.invalid does not resolve")


def test_parse_ping_output_of_iputils_and_busybox() -> None:
    sent, received, avg = parse_ping_output(IPUTILS)
    assert (sent, received) == (3, 2) and avg == pytest.approx(0.000050)
    sent, received, avg = parse_ping_output(BUSYBOX)
    assert (sent, received) == (1, 1) and avg == pytest.approx(0.001234)
    assert parse_ping_output(ALL_LOST) == (2, 0, None)
    with pytest.raises(ValueError):
        parse_ping_output("ping: unknown host")


def _fake_ping(folder: Path, output: str, code: int) -> None:
    """A ``ping`` program (for this machine has none) printing ``output``."""
    (folder / "out.txt").write_text(output)
    script = folder / "ping"
    script.write_text(f"#!/bin/sh\ncat '{folder / 'out.txt'}'\nexit {code}\n")
    script.chmod(0o755)


@pytest.mark.parametrize(
    ("output", "code", "status", "message"),
    [
        (IPUTILS, 1, Status.WARN, "2/3 replies from 127.0.0.1, mean 0.05 ms, 33% lost"),
        (BUSYBOX, 0, Status.PASS, "1/1 replies from 127.0.0.1, mean 1.23 ms"),
        (ALL_LOST, 1, Status.FAIL, "no reply from 127.0.0.1 (2 sent)"),
        ("ping: socket: Operation not permitted\n", 2, Status.UNKNOWN, NOT_PERMITTED),
        ("ping: bad.host: Name or service not known\n", 2, Status.FAIL,
         "127.0.0.1: ping: bad.host: Name or service not known"),
    ],
)  # fmt: skip
def test_ping_program_output_decides(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    output: str,
    code: int,
    status: Status,
    message: str,
) -> None:
    _fake_ping(tmp_path, output, code)
    monkeypatch.setattr(net, "PING_SEARCH_PATH", str(tmp_path))
    result = run_check({"name": "p", "kind": "ping", "host": "127.0.0.1"})
    assert (result.status, result.message) == (status, message)
