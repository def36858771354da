"""Acknowledgements: someone has seen an alert and is on it.

An ack names the person and their comment and holds for one incident: the
alerting service clears it when the alert resolves, and ``acked_by`` can also be
told when the incident began (``since_ms``) so an ack older than that does not
count. Acked alerts stop escalating (the dispatcher asks ``acked_by``).

Rows live in the ``alert_acks`` table of the store file, one per fingerprint.
``acked_by`` runs on every dispatcher tick and answers from memory: the cache is
reloaded after each write of this store, and at most once per second it checks,
with one cheap query, whether another process (the CLI) changed the table.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgewatch.web.accounts import db_file, open_db, table_exists

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
MAX_BY = 128
MAX_COMMENT = 2000
MAX_FINGERPRINT = 64

ACKS_DDL = """
CREATE TABLE IF NOT EXISTS alert_acks (
    fingerprint TEXT PRIMARY KEY,
    acked_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    acked_ms INTEGER NOT NULL
)
"""


class AckError(ValueError):
    """An acknowledgement that cannot be recorded; the message says why."""


@dataclass(frozen=True)
class Ack:
    fingerprint: str
    acked_by: str
    comment: str
    acked_ms: int


def check_fingerprint(fingerprint: str) -> str:
    if not fingerprint or len(fingerprint) > MAX_FINGERPRINT or not fingerprint.isalnum():
        raise AckError(f"bad alert fingerprint {fingerprint[:MAX_FINGERPRINT]!r}")
    return fingerprint


class AckStore:
    """The acknowledgements of one store file (a data directory or ``.db``). Blocking
    SQLite: call the writers off the event loop; ``acked_by`` is in-memory."""

    def __init__(self, db_path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = db_file(db_path)
        self._clock = clock
        self._lock = threading.RLock()
        self._cache: dict[str, Ack] = {}
        self._signature: tuple[int, float, int] | None = None
        self._checked_at: float | None = None
        self._ready = False

    # -- reading -----------------------------------------------------------------------

    def acked_by(self, fingerprint: str, since_ms: int | None = None) -> str | None:
        """Who acknowledged the alert (None: nobody); with ``since_ms``, an ack made
        before it (a previous incident) does not count."""
        self._maybe_refresh()
        ack = self._cache.get(fingerprint)
        if ack is None or (since_ms is not None and ack.acked_ms < since_ms):
            return None
        return ack.acked_by

    def get(self, fingerprint: str) -> Ack | None:
        self._refresh()
        return self._cache.get(fingerprint)

    def list(self) -> list[Ack]:
        """Every acknowledgement, the newest first."""
        self._refresh()
        return sorted(self._cache.values(), key=lambda a: (a.acked_ms, a.fingerprint), reverse=True)

    def _maybe_refresh(self) -> None:
        now = self._clock()
        checked = self._checked_at
        if checked is not None and 0 <= now - checked < CHECK_EVERY_S:
            return
        try:
            self._refresh()
        except (sqlite3.Error, OSError) as exc:
            log.error("acks: cannot read %s: %s", self.path, exc)
            self._checked_at = now

    def _refresh(self) -> None:
        with self._lock:
            self._checked_at = self._clock()
            if not self.path.exists():
                self._cache, self._signature = {}, None
                return
            with open_db(self.path, readonly=True) as conn:
                if not table_exists(conn, "alert_acks"):
                    self._cache, self._signature = {}, None
                    return
                # An insert changes the count and the top rowid, a delete the count,
                # a re-ack the sum (acked_ms only grows per fingerprint).
                row = conn.execute(
                    "SELECT count(*), total(acked_ms), coalesce(max(rowid), 0) FROM alert_acks"
                ).fetchone()
                signature = (int(row[0]), float(row[1]), int(row[2]))
                if signature == self._signature:
                    return
                rows = conn.execute(
                    "SELECT fingerprint, acked_by, comment, acked_ms FROM alert_acks"
                ).fetchall()
            self._cache = {r[0]: Ack(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows}
            self._signature = signature

    # -- writing -----------------------------------------------------------------------

    def ack(self, fingerprint: str, *, by: str, comment: str = "") -> Ack:
        """Acknowledge the alert ``fingerprint`` (again: the newer ack replaces)."""
        check_fingerprint(fingerprint)
        if not by.strip() or len(by) > MAX_BY:
            raise AckError(f"an acknowledgement needs a name (1-{MAX_BY} characters)")
        if len(comment) > MAX_COMMENT:
            raise AckError(f"the comment may have at most {MAX_COMMENT} characters")
        now = round(self._clock() * 1000)
        with self._lock:
            previous = self._cache.get(fingerprint)
            if previous is not None and previous.acked_ms >= now:
                now = previous.acked_ms + 1  # a re-ack is always seen as a change
            ack = Ack(fingerprint, by, comment, now)
            self._write(
                "INSERT OR REPLACE INTO alert_acks (fingerprint, acked_by, comment, acked_ms) "
                "VALUES (?, ?, ?, ?)",
                (fingerprint, by, comment, now),
            )
        log.info("alert %s acknowledged by %s", fingerprint, by)
        return ack

    def unack(self, fingerprint: str) -> bool:
        """Withdraw the acknowledgement; False when there was none."""
        removed = self._delete(fingerprint)
        if removed:
            log.info("alert %s no longer acknowledged", fingerprint)
        return removed

    def clear(self, fingerprint: str) -> None:
        """Forget the ack of an alert that resolved (an ack holds for one incident)."""
        self._refresh()  # one cheap query; the write only when there is an ack
        if fingerprint in self._cache:
            self._delete(fingerprint)

    def close(self) -> None:
        """Nothing to release (connections are per call); for symmetry with the others."""

    def _delete(self, fingerprint: str) -> bool:
        with self._lock:
            if not self.path.exists():
                return False
            return self._write("DELETE FROM alert_acks WHERE fingerprint = ?", (fingerprint,)) > 0

    def _write(self, sql: str, args: tuple[object, ...]) -> int:
        with self._lock, open_db(self.path) as conn:
            if not self._ready:
                conn.execute(ACKS_DDL)
                self._ready = True
            conn.execute("BEGIN IMMEDIATE")
            try:
                count = conn.execute(sql, args).rowcount
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            self._signature = None
            self._refresh()
            return count
