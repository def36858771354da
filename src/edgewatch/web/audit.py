"""The audit log: one ``audit_log`` row per mutating request, login and logout.

Rows hold who (actor, how authenticated, role), what (method and path, never the
query string: it may carry a token), the answer's status and the client address.
Writes happen off the event loop (``record`` runs the insert in a worker thread).
The table keeps the newest ``MAX_ROWS`` rows (pruned every ``PRUNE_EVERY`` inserts).
Refused requests without valid credentials get no row: ``RefusalLog`` logs them,
at most one line per client per window, so a flood fills neither table nor log.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgewatch.web.accounts import db_file, open_db, table_exists

log = logging.getLogger(__name__)

AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    via TEXT NOT NULL,
    role TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    client TEXT
)
"""
MAX_FIELD = 512
MAX_ROWS = 100_000  # the newest rows kept
PRUNE_EVERY = 1000  # inserts between two prunings (and one at the first insert)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    ts_ms: int
    actor: str
    via: str  # token | session | anonymous
    role: str | None
    method: str
    path: str
    status: int
    client: str | None


@dataclass(frozen=True)
class AuditRow:
    """What one audit row says, before it is stamped and stored."""

    actor: str
    via: str  # token | session | anonymous | remediation
    role: str | None
    method: str
    path: str
    status: int
    client: str | None = None


class AuditLog:
    """Appends audit rows to the store file ``path`` (a data directory or ``.db``)."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        max_rows: int = MAX_ROWS,
        prune_every: int = PRUNE_EVERY,
    ) -> None:
        self.path = db_file(path)
        self.max_rows = max_rows
        self.prune_every = prune_every
        self._clock = clock
        self._ready = False
        self._inserts = 0
        self._lock = threading.Lock()  # writes run in worker threads

    def write(self, row: AuditRow) -> None:
        """Insert one row now (blocking)."""
        values = (
            int(self._clock() * 1000),
            row.actor[:MAX_FIELD],
            row.via,
            row.role,
            row.method[:16],
            row.path[:MAX_FIELD],
            row.status,
            None if row.client is None else row.client[:MAX_FIELD],
        )
        with open_db(self.path) as conn:
            if not self._ready:
                conn.execute(AUDIT_DDL)
                self._ready = True
            cursor = conn.execute(
                "INSERT INTO audit_log (ts_ms, actor, via, role, method, path, status, client) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            with self._lock:
                prune = self._inserts % self.prune_every == 0
                self._inserts += 1
            if prune and cursor.lastrowid is not None:
                # Ids only grow (rows are deleted oldest first): a range delete on the rowid.
                conn.execute(
                    "DELETE FROM audit_log WHERE id <= ?", (cursor.lastrowid - self.max_rows,)
                )

    async def record(self, row: AuditRow) -> None:
        """``write`` in a worker thread; a failure is logged, not raised to the request."""
        try:
            await asyncio.to_thread(self.write, row)
        except (sqlite3.Error, OSError) as exc:
            log.error(
                "audit: cannot record %s %s by %s (status %d) in %s: %s",
                row.method,
                row.path[:MAX_FIELD],
                row.actor[:64],
                row.status,
                self.path,
                exc,
            )


def read_audit(db_path: Path, limit: int = 100) -> list[AuditEntry]:
    """The newest ``limit`` audit rows, newest first (none when there is no log yet)."""
    path = db_file(db_path)
    if not path.exists():
        return []
    with open_db(path, readonly=True) as conn:
        if not table_exists(conn, "audit_log"):
            return []
        rows = conn.execute(
            "SELECT id, ts_ms, actor, via, role, method, path, status, client FROM audit_log "
            "ORDER BY id DESC LIMIT ?",
            (max(0, limit),),
        ).fetchall()
    return [AuditEntry(*row) for row in rows]


class RefusalLog:
    """Logs refused requests at info level: per client address, the first refusal of
    a ``window_s`` window, then the next one after it with how many went unlogged."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 4096,
    ) -> None:
        self.logger = logger
        self.window_s = window_s
        self._clock = clock
        self._max_clients = max_clients
        self._clients: dict[str, list[float]] = {}  # client -> [logged at, unlogged since]

    def refused(self, client: str | None, method: str, path: str, status: int, why: str) -> None:
        now = self._clock()
        key = client or "-"
        seen = self._clients.get(key)
        if seen is not None and now - seen[0] < self.window_s:
            seen[1] += 1
            return
        unlogged = 0 if seen is None else int(seen[1])
        if seen is None and len(self._clients) >= self._max_clients:
            self._forget_quiet(now)
        self._clients[key] = [now, 0]
        more = f" ({unlogged} more from this client not logged)" if unlogged else ""
        self.logger.info(
            "auth: %s %s from %s refused (%d): %s%s",
            method,
            path[:MAX_FIELD],
            key,
            status,
            why,
            more,
        )

    def _forget_quiet(self, now: float) -> None:
        quiet = [k for k, (at, _) in self._clients.items() if now - at >= self.window_s]
        for key in quiet:
            del self._clients[key]
        if len(self._clients) >= self._max_clients:
            self._clients.clear()  # a flood from many addresses: start counting afresh
