"""The audit log: one ``audit_log`` row per mutating request, login and logout.

Rows hold who (actor, how authenticated, role), what (method and path, never the
query string: it may carry a token), the answer's status and the client address.
Writes happen off the event loop (``record`` runs the insert in a worker thread).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
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


class AuditLog:
    """Appends audit rows to the store file ``path`` (a data directory or ``.db``)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = db_file(path)
        self._clock = clock
        self._ready = False

    def write(
        self,
        *,
        actor: str,
        via: str,
        role: str | None,
        method: str,
        path: str,
        status: int,
        client: str | None,
    ) -> None:
        """Insert one row now (blocking)."""
        row = (
            int(self._clock() * 1000),
            actor[:MAX_FIELD],
            via,
            role,
            method[:16],
            path[:MAX_FIELD],
            status,
            None if client is None else client[:MAX_FIELD],
        )
        with open_db(self.path) as conn:
            if not self._ready:
                conn.execute(AUDIT_DDL)
                self._ready = True
            conn.execute(
                "INSERT INTO audit_log (ts_ms, actor, via, role, method, path, status, client) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

    async def record(
        self,
        *,
        actor: str,
        via: str,
        role: str | None,
        method: str,
        path: str,
        status: int,
        client: str | None,
    ) -> None:
        """``write`` in a worker thread; a failure is logged, not raised to the request."""
        try:
            await asyncio.to_thread(
                self.write,
                actor=actor,
                via=via,
                role=role,
                method=method,
                path=path,
                status=status,
                client=client,
            )
        except (sqlite3.Error, OSError) as exc:
            log.error(
                "audit: cannot record %s %s by %s (status %d) in %s: %s",
                method,
                path[:MAX_FIELD],
                actor[:64],
                status,
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
