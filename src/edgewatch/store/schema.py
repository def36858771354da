"""The store's SQLite file: opening it safely, its tables and its key layout.

Chunk and rollup rows are keyed time first, ``(bucket << 20) | series_id``,
so new rows append at the right edge of the b-tree (few pages touched per
commit, which is what spares an SD card) and retention is a range delete.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)

APPLICATION_ID = 0x45445743  # "EDWC"
# 2: blobs in block format 2 (codec.py), chunk and rollup blobs based on their row key.
# 3: integer words' low bits packed apart (flag F_LOW, lowbits.py) and rollup rows
# whose min, max and sum are stored relative to last (rollup.py, fields 5-7).
# Files of schema 1 and 2 are upgraded in place when opened for writing: their blobs
# stay readable (codec_v1.py for format 1) and new rows are written the new way.
SCHEMA_VERSION = 3
ID_BITS = 20
MAX_SERIES = (1 << ID_BITS) - 1
SID_MASK = MAX_SERIES

CHUNK_MS = 600_000  # raw chunk: 10 minutes of one series
ROLLUP_1M_MS = 60_000
ROLLUP_1M_WINDOW_MS = 3_600_000  # one row holds an hour of 1-minute rollups
ROLLUP_1H_MS = 3_600_000
ROLLUP_1H_WINDOW_MS = 86_400_000  # one row holds a day of 1-hour rollups

SQLITE_MAGIC = b"SQLite format 3\x00"

TABLES = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    UNIQUE (name, labels)
);
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY,
    max_ts INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS rollup_1m (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS rollup_1h (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class StoreError(Exception):
    """The store cannot be opened or used (unreadable directory, bad path)."""


class StoreCorrupt(StoreError):
    """The file at the store path is corrupt or is not an edgewatch store."""


def row_id(bucket: int, sid: int) -> int:
    return (bucket << ID_BITS) | sid


def chunk_base(rid: int) -> tuple[int, int]:
    """What a chunk row's key stands for: its segment id and its bucket's start."""
    return rid, (rid >> ID_BITS) * CHUNK_MS


def rollup_base(rid: int, window: int) -> tuple[int, int]:
    """What a rollup row's key stands for: its first field's segment id, its window's start."""
    return rid * 8, (rid >> ID_BITS) * window


def check_foreign(path: Path) -> None:
    """Refuse, without touching it, a file that is not SQLite."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot read store file {path}: {exc.strerror}") from exc
    if head and head != SQLITE_MAGIC:
        raise StoreCorrupt(
            f"{path} exists but is not an edgewatch store (not an SQLite file); "
            "refusing to overwrite it: move it away or choose another --data-dir"
        )


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    check_foreign(path)
    if readonly and not path.exists():
        raise StoreError(f"no edgewatch store at {path} (has the agent run with this data dir?)")
    try:
        if readonly:
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
            )
        else:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open store {path}: {exc}") from exc
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        _check_identity(conn, path, readonly=readonly)
    except StoreError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
            raise StoreError(f"cannot open store {path}: {exc}") from exc
        raise StoreCorrupt(f"{path} is not a usable edgewatch store: {exc}") from exc
    return conn


def _check_identity(conn: sqlite3.Connection, path: Path, *, readonly: bool) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app_id == 0 and tables == 0:
        if readonly:
            raise StoreError(f"{path} is an empty file, not an edgewatch store yet")
        _create(conn)
        return
    if app_id != APPLICATION_ID:
        raise StoreCorrupt(
            f"{path} is an SQLite database of another application "
            f"(application_id {app_id:#x}); refusing to use it"
        )
    if version > SCHEMA_VERSION:
        raise StoreCorrupt(
            f"{path} was written by a newer edgewatch (schema {version} > {SCHEMA_VERSION})"
        )
    if not readonly:
        _pragmas(conn)
        if version < SCHEMA_VERSION:
            _upgrade(conn, version)


def _upgrade(conn: sqlite3.Connection, version: int) -> None:
    """Schema 1 or 2 -> 3: the tables are the same and the older blobs stay readable, so
    the upgrade is the version number (after it, an older edgewatch refuses the file)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    log.info("store: upgraded schema %d to %d", version, SCHEMA_VERSION)


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("PRAGMA auto_vacuum = NONE")
    conn.execute("PRAGMA journal_mode = WAL")
    _pragmas(conn)
    # One transaction: a crash leaves either an empty file or a complete store.
    conn.executescript(
        f"BEGIN IMMEDIATE; {TABLES}"
        f"PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
        "COMMIT;"
    )


def _pragmas(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA secure_delete = OFF")
    conn.execute("PRAGMA cache_size = -2048")  # 2 MiB: the head lives in numpy, not here


def get_meta(conn: sqlite3.Connection, key: str, default: int = 0) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else default


def set_meta(conn: sqlite3.Connection, key: str, value: int) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
