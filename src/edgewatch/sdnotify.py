"""The sd_notify protocol: tell systemd the agent is ready, alive, and stopping.

Under a ``Type=notify`` unit, systemd passes ``NOTIFY_SOCKET`` (an ``AF_UNIX``
datagram socket: a path, or ``@name`` for the abstract namespace) and, with
``WatchdogSec=``, ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``). Each message is one
datagram of newline-separated ``KEY=value`` lines: ``READY=1``, ``STATUS=...``,
``WATCHDOG=1``, ``STOPPING=1`` (see sd_notify(3)).

``SdNotifier.from_environ()`` reads those variables; without ``NOTIFY_SOCKET``
every call is a no-op, so the agent runs the same outside systemd. The watchdog is
on only when ``WATCHDOG_USEC`` is a positive number and ``WATCHDOG_PID`` is unset
or this process's pid; ``watchdog_loop()`` then sends ``WATCHDOG=1`` every half of
it. It runs as a task on the agent's event loop, so its pings prove that loop
still turns: a loop blocked by a hung call sends none, and systemd restarts the
service once ``WatchdogSec=`` has passed.

Sends never block the loop (the socket is non-blocking). A send that fails is
counted (``failures``), logged at warning level the first time and at debug level
after that, and the agent keeps running: a monitor must not die because its
supervisor is busy.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"
# systemd truncates STATUS= for display; keep ours short and on one line.
MAX_STATUS = 200


def socket_address(value: str) -> str | bytes:
    """The address ``NOTIFY_SOCKET`` names: a filesystem path, or (``@name``) a name
    in the abstract namespace, which is a leading NUL byte on the wire.

    ValueError for anything else (an empty name, a relative path, ``vsock:``)."""
    if value.startswith("@") and len(value) > 1:
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return value
    raise ValueError(f"{NOTIFY_SOCKET}={value!r} is neither an absolute path nor @abstract")


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between two ``WATCHDOG=1`` (half of ``WATCHDOG_USEC``, as sd_watchdog_enabled(3)
    recommends), or None when the watchdog is off or meant for another process."""
    raw_usec = environ.get(WATCHDOG_USEC, "")
    if not raw_usec:
        return None
    try:
        usec = int(raw_usec)
    except ValueError:
        log.warning("ignoring %s=%r: not a whole number of microseconds", WATCHDOG_USEC, raw_usec)
        return None
    if usec <= 0:
        return None
    raw_pid = environ.get(WATCHDOG_PID, "")
    if raw_pid:
        try:
            meant_for = int(raw_pid)
        except ValueError:
            log.warning("ignoring the watchdog: %s=%r is not a pid", WATCHDOG_PID, raw_pid)
            return None
        if meant_for != pid:
            return None
    return usec / 2_000_000


class SdNotifier:
    """A client of systemd's notification socket; a no-op when ``address`` is None."""

    def __init__(self, address: str | bytes | None, *, watchdog_s: float | None = None) -> None:
        self.address = address
        self.watchdog_s = watchdog_s if address is not None else None
        self.failures = 0
        self.sent = 0

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, *, pid: int | None = None
    ) -> SdNotifier:
        """From ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` (``os.environ``
        unless given); a bad ``NOTIFY_SOCKET`` is logged and leaves the notifier off."""
        env = os.environ if environ is None else environ
        value = env.get(NOTIFY_SOCKET, "")
        if not value:
            return cls(None)
        try:
            address = socket_address(value)
        except ValueError as exc:
            log.warning("not notifying systemd: %s", exc)
            return cls(None)
        return cls(address, watchdog_s=watchdog_interval(env, os.getpid() if pid is None else pid))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram; True when it was sent."""
        if self.address is None:
            return False
        message = "\n".join(lines).encode()
        try:
            # A socket per message, as libsystemd does: nothing to close, nothing to leak.
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto(message, self.address)
        except OSError as exc:
            self.failures += 1
            level = logging.WARNING if self.failures == 1 else logging.DEBUG
            log.log(
                level, "sd_notify to %r failed (%d so far): %s", self.address, self.failures, exc
            )
            return False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: start-up is over (systemd's ``systemctl start`` returns now)."""
        return self.notify("READY=1", *_status_line(status))

    def status(self, text: str) -> bool:
        """``STATUS=``: one line shown by ``systemctl status``."""
        return self.notify(*_status_line(text))

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the service is alive."""
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``: shutting down on purpose (not a crash)."""
        return self.notify("STOPPING=1", *_status_line(status))

    async def watchdog_loop(self) -> None:
        """Ping every ``watchdog_s`` seconds until cancelled; returns at once when the
        watchdog is off."""
        interval = self.watchdog_s
        if interval is None:
            return
        log.info("systemd watchdog: a ping every %.3g s", interval)
        while True:
            self.watchdog()
            await asyncio.sleep(interval)


def _status_line(text: str | None) -> list[str]:
    if not text:
        return []
    one_line = " ".join(text.split())
    return [f"STATUS={one_line[:MAX_STATUS]}"]
