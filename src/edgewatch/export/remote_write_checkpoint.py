"""Where each remote_write endpoint has got to: one row per endpoint in the store file.

``cursor_ms`` means: every sample with a timestamp at or before it has been
accepted by the endpoint (or skipped: too old, or refused as bad data). The
sender moves it only after a 2xx, so a restart resends at most what was sent
since the last save (remote_write is at-least-once).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

DDL = """
CREATE TABLE IF NOT EXISTS remote_write_checkpoints (
    endpoint TEXT PRIMARY KEY,
    cursor_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
)
"""


class Checkpoints:
    """The ``remote_write_checkpoints`` table; short-lived connections (a few writes a minute)."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute(DDL)
        return conn

    def load(self, endpoint: str) -> int | None:
        """The endpoint's cursor, or None when it has never sent."""
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT cursor_ms FROM remote_write_checkpoints WHERE endpoint = ?", (endpoint,)
            ).fetchone()
        return None if row is None else int(row[0])

    def save(self, endpoint: str, cursor_ms: int, now_ms: int) -> None:
        with closing(self._connect()) as conn:
            conn.execute(
                "INSERT INTO remote_write_checkpoints(endpoint, cursor_ms, updated_ms) "
                "VALUES (?, ?, ?) ON CONFLICT(endpoint) DO UPDATE SET "
                "cursor_ms = excluded.cursor_ms, updated_ms = excluded.updated_ms",
                (endpoint, cursor_ms, now_ms),
            )
