"""Network reachability: ``tcp`` connect, ``dns`` resolve, ``ping`` (ICMP echo)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
import secrets
import shutil
import socket
import struct
import time

from edgewatch.config.health import DnsCheck, PingCheck, TcpCheck
from edgewatch.health.model import CheckEnv, Observation, Status

_SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# Where the ``ping`` program is looked for (never the agent's own PATH).
PING_SEARCH_PATH = _SYSTEM_PATH
NOT_PERMITTED = "ICMP not permitted here"
_REPLY_WAIT_S = 1.0


class TcpKind:
    def __init__(self, settings: TcpCheck, env: CheckEnv) -> None:
        self.settings = settings

    async def observe(self) -> Observation:
        s = self.settings
        started = time.perf_counter()
        try:
            _, writer = await asyncio.open_connection(s.host, s.port)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return Observation(Status.FAIL, message=f"{s.host}:{s.port}: {reason}")
        latency = time.perf_counter() - started
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass  # the connection was made: that is what the check asks
        return Observation(Status.PASS, latency, f"connected in {latency * 1000:.1f} ms", "seconds")


class DnsKind:
    """The system resolver (``getaddrinfo``) finds the name; the value is how many addresses."""

    def __init__(self, settings: DnsCheck, env: CheckEnv) -> None:
        self.settings = settings

    async def observe(self) -> Observation:
        name = self.settings.hostname
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            reason = exc.strerror if isinstance(exc, socket.gaierror) else "invalid name"
            return Observation(Status.FAIL, message=f"{name} does not resolve: {reason}")
        latency = time.perf_counter() - started
        addresses = sorted({str(info[4][0]) for info in infos})
        if not addresses:
            return Observation(Status.FAIL, 0.0, f"{name} resolves to no address", "count")
        shown = ", ".join(addresses[:4]) + (" …" if len(addresses) > 4 else "")
        return Observation(
            Status.PASS,
            float(len(addresses)),
            f"{name} -> {shown} in {latency * 1000:.1f} ms",
            "count",
        )


class PingKind:
    """ICMP echo through the system ``ping`` if installed, else an ICMP socket
    (unprivileged datagram, or raw with CAP_NET_RAW). Where neither is allowed the
    check is unknown ("ICMP not permitted here"), not failed. The value is the mean
    round trip in seconds; no reply fails, some lost replies warn."""

    def __init__(self, settings: PingCheck, env: CheckEnv) -> None:
        self.settings = settings

    async def observe(self) -> Observation:
        s = self.settings
        binary = shutil.which("ping", path=PING_SEARCH_PATH)
        if binary is not None:
            return await _ping_program(binary, s.host, s.count)
        return await _ping_socket(s.host, s.count)


_SENT_RE = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_AVG_RE = re.compile(r"min/avg/max\S* = [\d.]+/([\d.]+)/")


def parse_ping_output(text: str) -> tuple[int, int, float | None]:
    """(sent, received, mean round trip in seconds) from iputils' or busybox's summary."""
    sent = _SENT_RE.search(text)
    if sent is None:
        raise ValueError("no summary in ping's output")
    avg = _AVG_RE.search(text)
    return int(sent[1]), int(sent[2]), float(avg[1]) / 1000 if avg else None


def _verdict(host: str, sent: int, received: int, avg: float | None) -> Observation:
    if received == 0 or avg is None:
        return Observation(Status.FAIL, message=f"no reply from {host} ({sent} sent)")
    loss = 1 - received / sent
    text = f"{received}/{sent} replies from {host}, mean {avg * 1000:.2f} ms"
    if loss > 0:
        return Observation(Status.WARN, avg, f"{text}, {loss:.0%} lost", "seconds")
    return Observation(Status.PASS, avg, text, "seconds")


async def _ping_program(binary: str, host: str, count: int) -> Observation:
    proc = await asyncio.create_subprocess_exec(
        binary, "-n", "-c", str(count), "-W", "1", "--", host,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={"PATH": _SYSTEM_PATH, "LANG": "C"},
    )  # fmt: skip
    try:
        out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:  # cancelled at the check's timeout
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
    text = out[:8192].decode("utf-8", errors="replace")
    try:
        sent, received, avg = parse_ping_output(text)
    except ValueError:
        lines = [line for line in text.splitlines() if line.strip()]
        first = lines[0][:200] if lines else f"ping exited with {proc.returncode}"
        lowered = first.lower()
        if "not permitted" in lowered or "permission denied" in lowered:
            return Observation(Status.UNKNOWN, message=NOT_PERMITTED)
        return Observation(Status.FAIL, message=f"{host}: {first}")
    return _verdict(host, sent, received, avg)


def _open_icmp() -> tuple[socket.socket, bool] | None:
    """An ICMP socket and whether it is raw (replies carry the IP header); None if refused."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            return socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP), kind == socket.SOCK_RAW
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EPROTONOSUPPORT):
                raise
    return None


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _echo_request(ident: int, seq: int) -> bytes:
    payload = b"edgewatch-ping.."
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    check = _checksum(header + payload)
    return struct.pack("!BBHHH", 8, 0, check, ident, seq) + payload


async def _ping_socket(host: str, count: int) -> Observation:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, family=socket.AF_INET)
    except socket.gaierror as exc:
        return Observation(Status.FAIL, message=f"{host} does not resolve: {exc.strerror}")
    address = str(infos[0][4][0])
    try:
        opened = _open_icmp()
    except OSError as exc:
        return Observation(Status.UNKNOWN, message=f"ICMP socket: {exc.strerror}")
    if opened is None:
        return Observation(Status.UNKNOWN, message=NOT_PERMITTED)
    sock, raw = opened
    ident = secrets.randbelow(0xFFFF) + 1
    rtts: list[float] = []
    with sock:
        sock.setblocking(False)
        for seq in range(1, count + 1):
            try:
                rtt = await _echo(loop, sock, raw, address, ident, seq)
            except OSError as exc:
                return Observation(Status.FAIL, message=f"{host}: {exc.strerror or exc}")
            if rtt is not None:
                rtts.append(rtt)
    avg = sum(rtts) / len(rtts) if rtts else None
    return _verdict(host, count, len(rtts), avg)


async def _echo(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    raw: bool,
    address: str,
    ident: int,
    seq: int,
) -> float | None:
    """Round trip of one echo request, or None when no reply came within a second."""
    started = time.perf_counter()
    await loop.sock_sendto(sock, _echo_request(ident, seq), (address, 0))
    deadline = started + _REPLY_WAIT_S
    for _ in range(1000):  # bounded: other ICMP traffic a raw socket sees
        left = deadline - time.perf_counter()
        if left <= 0:
            return None
        try:
            data, peer = await asyncio.wait_for(loop.sock_recvfrom(sock, 2048), left)
        except TimeoutError:
            return None
        if raw:
            data = data[(data[0] & 0x0F) * 4 :] if data else b""
        if len(data) < 8 or peer[0] != address:
            continue
        kind, _, _, rid, rseq = struct.unpack("!BBHHH", data[:8])
        # A datagram socket's kernel rewrites the id: only the raw socket can check it.
        if kind == 0 and rseq == seq and (rid == ident or not raw):
            return time.perf_counter() - started
    return None
