"""Health events: a row per episode of a check in trouble, with its start and end.

When a check's reported status turns ``fail`` (or ``warn`` too, with
``health.events_on: warn``), an event opens; when it turns back, the event
closes with its end time. Until the alerting engine exists these rows are the
record of what went wrong and when; it will raise alerts from the same state
changes. The table lives in the store file; writes run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgewatch.health.model import CheckResult, Status
from edgewatch.web.accounts import open_db, table_exists

log = logging.getLogger(__name__)

EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS health_events (
    id INTEGER PRIMARY KEY,
    check_name TEXT NOT NULL,
    component TEXT NOT NULL,
    status TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER,
    message TEXT NOT NULL
)
"""
EVENTS_INDEX = "CREATE INDEX IF NOT EXISTS health_events_open ON health_events (check_name, end_ms)"


@dataclass(frozen=True)
class HealthEvent:
    id: int
    check: str
    component: str
    status: Status
    start_ms: int
    end_ms: int | None
    message: str


class HealthEvents:
    """Opens and closes ``health_events`` rows as checks change status."""

    def __init__(self, path: Path, *, on: str = "fail") -> None:
        self.path = path
        self._troubled = {Status.FAIL} if on == "fail" else {Status.FAIL, Status.WARN}
        self._ready = False
        self._pending: set[asyncio.Future[None]] = set()

    def on_change(self, result: CheckResult, previous: CheckResult | None) -> None:
        """The HealthMonitor's ``on_change``: called on the loop, writes off it."""
        was = previous is not None and previous.status in self._troubled
        now = result.status in self._troubled
        if not was and not now:
            return
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._write, result, was, now)
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[None]) -> None:
        self._pending.discard(future)
        exc = future.exception()
        if exc is not None:
            log.error("health events: cannot write to %s: %s", self.path, exc)

    def _write(self, r: CheckResult, was: bool, now: bool) -> None:
        with open_db(self.path) as conn:
            if not self._ready:
                conn.execute(EVENTS_DDL)
                conn.execute(EVENTS_INDEX)
                self._ready = True
            if was:  # the episode in progress ends (maybe to start another: warn -> fail)
                conn.execute(
                    "UPDATE health_events SET end_ms = ? WHERE check_name = ? AND end_ms IS NULL",
                    (r.since_ms, r.name),
                )
            if now:
                conn.execute(
                    "INSERT INTO health_events (check_name, component, status, start_ms, "
                    "end_ms, message) VALUES (?, ?, ?, ?, NULL, ?)",
                    (r.name, r.component, r.status.value, r.since_ms, r.message[:500]),
                )

    async def flush(self) -> None:
        """Wait for the writes in flight (shutdown, tests)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


def read_events(
    path: Path, *, since_ms: int = 0, limit: int = 1000, open_only: bool = False
) -> list[HealthEvent]:
    """Events that were open at or after ``since_ms``, newest first."""
    try:
        with open_db(path, readonly=True) as conn:
            if not table_exists(conn, "health_events"):
                return []
            where = "end_ms IS NULL" if open_only else "(end_ms IS NULL OR end_ms >= ?)"
            args: tuple[int, ...] = () if open_only else (since_ms,)
            rows = conn.execute(
                "SELECT id, check_name, component, status, start_ms, end_ms, message "
                f"FROM health_events WHERE {where} ORDER BY start_ms DESC, id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
    except (sqlite3.Error, OSError) as exc:
        log.error("health events: cannot read %s: %s", path, exc)
        return []
    return [HealthEvent(r[0], r[1], r[2], Status(r[3]), r[4], r[5], r[6]) for r in rows]


EventSink = Callable[[CheckResult, CheckResult | None], None]
