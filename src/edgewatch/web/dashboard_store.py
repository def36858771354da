"""Custom dashboards: the ``dashboards`` table in the store's SQLite file.

A dashboard is an id, a name and a JSON body (its panels, validated by the API
before it gets here), with who changed it last and when. Every call opens its own
short-lived connection (``busy_timeout`` 5 s): the store's writer thread writes
other tables of the same file. Writes are serialised by a lock and each is one
``BEGIN IMMEDIATE`` transaction, so there is one writer of this table per process.
Blocking: call the methods off the event loop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.web.accounts import db_file, open_db, table_exists

log = logging.getLogger(__name__)

MAX_DASHBOARDS = 500
DASHBOARDS_DDL = """
CREATE TABLE IF NOT EXISTS dashboards (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    updated_by TEXT NOT NULL
)
"""
_COLUMNS = "id, name, body, updated_ms, updated_by"


class DashboardNotFound(KeyError):
    """No dashboard with this id."""


class TooManyDashboards(ValueError):
    """The store holds ``MAX_DASHBOARDS`` already."""


@dataclass(frozen=True)
class Dashboard:
    id: str
    name: str
    body: Mapping[str, Any]  # {"panels": [...]}, as the API validated it
    updated_ms: int
    updated_by: str


def _row(row: tuple[Any, ...]) -> Dashboard:
    body = json.loads(row[2])
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    return Dashboard(str(row[0]), str(row[1]), body, int(row[3]), str(row[4]))


class DashboardStore:
    """The dashboards of one store file (a data directory or ``.db``)."""

    def __init__(self, db_path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = db_file(db_path)
        self._clock = clock
        self._lock = threading.Lock()

    def _now_ms(self) -> int:
        return round(self._clock() * 1000)

    # -- reading -----------------------------------------------------------------------

    def list_all(self) -> list[Dashboard]:
        """Every readable dashboard, by name (an unreadable row is logged and skipped)."""
        return self._select("ORDER BY name COLLATE NOCASE, id", ())

    def get(self, dashboard_id: str) -> Dashboard | None:
        found = self._select("WHERE id = ?", (dashboard_id,))
        return found[0] if found else None

    def _select(self, where: str, args: tuple[object, ...]) -> list[Dashboard]:
        if not self.path.exists():
            return []
        with open_db(self.path, readonly=True) as conn:
            if not table_exists(conn, "dashboards"):
                return []
            rows = conn.execute(f"SELECT {_COLUMNS} FROM dashboards {where}", args).fetchall()
        out = []
        for row in rows:
            try:
                out.append(_row(row))
            except (ValueError, TypeError) as exc:
                log.error(
                    "dashboards: row %s in %s is unreadable, skipped: %s", row[0], self.path, exc
                )
        return out

    # -- writing -----------------------------------------------------------------------

    def create(self, name: str, body: Mapping[str, Any], *, by: str) -> Dashboard:
        dashboard = Dashboard(uuid.uuid4().hex[:12], name, dict(body), self._now_ms(), by)
        with self._lock, open_db(self.path) as conn:
            conn.execute(DASHBOARDS_DDL)
            conn.execute("BEGIN IMMEDIATE")
            try:
                (count,) = conn.execute("SELECT count(*) FROM dashboards").fetchone()
                if count >= MAX_DASHBOARDS:
                    raise TooManyDashboards(
                        f"there are {MAX_DASHBOARDS} dashboards already; delete one first"
                    )
                conn.execute(
                    f"INSERT INTO dashboards ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                    _values(dashboard),
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        log.info("dashboard %s (%r) created by %s", dashboard.id, name, by)
        return dashboard

    def replace(
        self, dashboard_id: str, name: str, body: Mapping[str, Any], *, by: str
    ) -> Dashboard:
        """Replace the dashboard's name and body; raises DashboardNotFound."""
        with self._lock, open_db(self.path) as conn:
            conn.execute(DASHBOARDS_DDL)
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT updated_ms FROM dashboards WHERE id = ?", (dashboard_id,)
                ).fetchone()
                if row is None:
                    raise DashboardNotFound(dashboard_id)
                # updated_ms only grows, even when the clock steps back
                updated = max(self._now_ms(), int(row[0]) + 1)
                dashboard = Dashboard(dashboard_id, name, dict(body), updated, by)
                conn.execute(
                    "UPDATE dashboards SET name = ?, body = ?, updated_ms = ?, updated_by = ? "
                    "WHERE id = ?",
                    (*_values(dashboard)[1:], dashboard_id),
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        log.info("dashboard %s (%r) changed by %s", dashboard_id, name, by)
        return dashboard

    def delete(self, dashboard_id: str) -> bool:
        """Delete the dashboard; False when there was none."""
        if not self.path.exists():
            return False
        with self._lock, open_db(self.path) as conn:
            if not table_exists(conn, "dashboards"):
                return False
            deleted = conn.execute("DELETE FROM dashboards WHERE id = ?", (dashboard_id,)).rowcount
        if deleted:
            log.info("dashboard %s deleted", dashboard_id)
        return deleted > 0


def _values(d: Dashboard) -> tuple[object, ...]:
    body = json.dumps(d.body, separators=(",", ":"), ensure_ascii=False)
    return (d.id, d.name, body, d.updated_ms, d.updated_by)
