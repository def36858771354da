"""Where each remote_write endpoint has got to: one row per endpoint in the store file.

``cursor_ms`` means: every sample with a timestamp at or before it has been
accepted by the endpoint (or skipped: too old, or refused as bad data), except
the late ones listed in ``late`` (series id -> the oldest late timestamp, JSON;
see ``remote_write_late``), which are still to be sent. The sender moves the
cursor only after a 2xx, so a restart resends at most what was sent since the
last save (remote_write is at-least-once).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path

DDL = """
CREATE TABLE IF NOT EXISTS remote_write_checkpoints (
    endpoint TEXT PRIMARY KEY,
    cursor_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    late TEXT NOT NULL DEFAULT '{}'
)
"""


class Checkpoints:
    """The ``remote_write_checkpoints`` table; short-lived connections (a few writes a minute).

    Blocking (SQLite): the sender calls it from a worker thread."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute(DDL)
            columns = {
                row[1] for row in conn.execute("PRAGMA table_info(remote_write_checkpoints)")
            }
            if "late" not in columns:  # a table from before late samples were tracked
                conn.execute(
                    "ALTER TABLE remote_write_checkpoints "
                    "ADD COLUMN late TEXT NOT NULL DEFAULT '{}'"
                )
        except BaseException:
            conn.close()
            raise
        return conn

    def load(self, endpoint: str) -> int | None:
        """The endpoint's cursor, or None when it has never sent."""
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT cursor_ms FROM remote_write_checkpoints WHERE endpoint = ?", (endpoint,)
            ).fetchone()
        return None if row is None else int(row[0])

    def load_late(self, endpoint: str) -> dict[int, int]:
        """The late samples still to send: series id -> oldest timestamp."""
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT late FROM remote_write_checkpoints WHERE endpoint = ?", (endpoint,)
            ).fetchone()
        if row is None:
            return {}
        return {int(sid): int(ts) for sid, ts in json.loads(row[0]).items()}

    def save(
        self, endpoint: str, cursor_ms: int, now_ms: int, late: Mapping[int, int] | None = None
    ) -> None:
        text = json.dumps({str(sid): ts for sid, ts in sorted((late or {}).items())})
        with closing(self._connect()) as conn:
            conn.execute(
                "INSERT INTO remote_write_checkpoints(endpoint, cursor_ms, updated_ms, late) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(endpoint) DO UPDATE SET "
                "cursor_ms = excluded.cursor_ms, updated_ms = excluded.updated_ms, "
                "late = excluded.late",
                (endpoint, cursor_ms, now_ms, text),
            )
