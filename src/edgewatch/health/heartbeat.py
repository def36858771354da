"""Heartbeat pings: the last-seen state of each heartbeat, in memory.

An application pings ``POST /api/heartbeat/NAME`` (or ``edgewatch.client.heartbeat``)
when its loop or job succeeds; ``.../start`` when a job starts and ``.../fail`` when
it failed. ``HeartbeatKind`` reads this registry on its interval. The state is not
persisted: after a restart every heartbeat check waits a full period for its first
ping, measured from when the check was built.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, cast, get_args

PingKind = Literal["success", "start", "fail"]
PING_KINDS: tuple[str, ...] = get_args(PingKind)


@dataclass(frozen=True)
class HeartbeatState:
    """What the pings of one heartbeat said, times in seconds since the epoch."""

    last_ping: float
    last_kind: PingKind
    last_success: float | None = None
    last_fail: float | None = None
    started: float | None = None  # a run in progress: its start ping
    last_duration: float | None = None  # of the last run with start and success pings
    pings: int = 0


class Heartbeats:
    """The registry of heartbeat pings. Thread-safe: the web app and the checks share it."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, HeartbeatState] = {}

    def ping(self, name: str, kind: str = "success", now: float | None = None) -> HeartbeatState:
        """Record a ping of ``name``; returns the new state. ValueError on an unknown kind."""
        if kind not in PING_KINDS:
            raise ValueError(f"unknown ping kind {kind!r}: success, start or fail")
        at = self._clock() if now is None else now
        with self._lock:
            state = self._states.get(name)
            new = _next(state, cast(PingKind, kind), at)
            self._states[name] = new
            return new

    def get(self, name: str) -> HeartbeatState | None:
        with self._lock:
            return self._states.get(name)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._states)


def _next(state: HeartbeatState | None, kind: PingKind, at: float) -> HeartbeatState:
    if state is None:
        state = HeartbeatState(last_ping=at, last_kind=kind)
    state = replace(state, last_ping=at, last_kind=kind, pings=state.pings + 1)
    if kind == "start":
        return replace(state, started=at)
    if kind == "fail":
        return replace(state, last_fail=at, started=None)
    # A success without a start ping measures no run.
    duration = None if state.started is None else max(0.0, at - state.started)
    return replace(state, last_success=at, started=None, last_duration=duration)
