"""Health events: a row per episode of a check in trouble, with its start and end.

When a check's reported status turns ``fail`` (or ``warn`` too, with
``health.events_on: warn``), an event opens; when it turns back, the event
closes with its end time. Until the alerting engine exists these rows are the
record of what went wrong and when; it will raise alerts from the same state
changes. The table lives in the store file; writes run, in order, in one writer
thread owned by :class:`HealthEvents` (``close()`` stops it), each in a
``BEGIN IMMEDIATE`` transaction.

Rows left open by a previous run are closed on the first result of their check
(at that result's time), and :meth:`HealthEvents.close_stale` closes those of
checks no longer configured.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
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
        self._writer: ThreadPoolExecutor | None = None  # one thread: writes stay in order

    def on_change(self, result: CheckResult, previous: CheckResult | None) -> None:
        """The HealthMonitor's ``on_change``: called on the loop, writes off it.

        The first result of a check after start (``previous`` is None) also closes
        any row its check left open in a previous run.
        """
        stale = previous is None
        was = previous is not None and previous.status in self._troubled
        now = result.status in self._troubled
        if not (was or now or stale):
            return
        self._submit(self._write, result, was or stale, now)

    def close_stale(self, configured: Collection[str], now_ms: int) -> None:
        """Close, at ``now_ms``, the open rows of checks not in ``configured`` (agent start)."""
        self._submit(self._close_stale, frozenset(configured), now_ms)

    def _submit(self, fn: Callable[..., None], *args: object) -> None:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health-events")
        future = asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[None]) -> None:
        self._pending.discard(future)
        if future.cancelled():
            log.warning("health events: a write to %s was cancelled", self.path)
            return
        exc = future.exception()
        if exc is not None:
            log.error("health events: cannot write to %s: %s", self.path, exc)

    def _transaction(self, conn: sqlite3.Connection) -> None:
        if not self._ready:
            conn.execute(EVENTS_DDL)
            conn.execute(EVENTS_INDEX)
            self._ready = True
        conn.execute("BEGIN IMMEDIATE")

    def _write(self, r: CheckResult, close: bool, now: bool) -> None:
        with open_db(self.path) as conn:
            self._transaction(conn)
            try:
                if close:  # the episode in progress (or left by a previous run) ends
                    conn.execute(
                        "UPDATE health_events SET end_ms = ? "
                        "WHERE check_name = ? AND end_ms IS NULL",
                        (r.since_ms, r.name),
                    )
                if now:
                    conn.execute(
                        "INSERT INTO health_events (check_name, component, status, start_ms, "
                        "end_ms, message) VALUES (?, ?, ?, ?, NULL, ?)",
                        (r.name, r.component, r.status.value, r.since_ms, r.message[:500]),
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _close_stale(self, configured: frozenset[str], now_ms: int) -> None:
        with open_db(self.path) as conn:
            self._transaction(conn)
            try:
                names = [
                    row[0]
                    for row in conn.execute(
                        "SELECT DISTINCT check_name FROM health_events WHERE end_ms IS NULL"
                    )
                ]
                gone = [(now_ms, n) for n in names if n not in configured]
                conn.executemany(
                    "UPDATE health_events SET end_ms = ? WHERE check_name = ? AND end_ms IS NULL",
                    gone,
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        if gone:
            log.info("health events: closed the open events of %d removed checks", len(gone))

    async def flush(self) -> None:
        """Wait for the writes in flight (shutdown, tests)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def close(self) -> None:
        """Stop the writer thread, after the writes already queued (call after flush())."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)


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
