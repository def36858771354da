"""Retention: drop data by age and by total size, oldest first, and say so in the log.

Rows are keyed time first, so each drop is one range delete. Deleted pages go
to SQLite's free list and are reused by the next writes; the file does not
shrink, but it stops growing.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from edgewatch.store import schema as sc
from edgewatch.store.options import StoreOptions

log = logging.getLogger(__name__)

Transaction = Callable[[Callable[[sqlite3.Connection], None]], bool]

# (table, bucket width, what it holds) from the finest to the coarsest.
TIERS = (
    ("chunks", sc.CHUNK_MS, "raw samples"),
    ("rollup_1m", sc.ROLLUP_1M_WINDOW_MS, "1-minute rollups"),
    ("rollup_1h", sc.ROLLUP_1H_WINDOW_MS, "1-hour rollups"),
)
# Buckets dropped per step when over the size cap: an hour of raw samples, a day of
# 1-minute rollups, a week of 1-hour rollups.
SIZE_STEPS = {"chunks": 6, "rollup_1m": 24, "rollup_1h": 7}


class Retention:
    def __init__(
        self, conn: sqlite3.Connection, transaction: Transaction, options: StoreOptions
    ) -> None:
        self._conn = conn
        self._transaction = transaction
        self._options = options
        # Per table, the bucket everything before which was dropped: an age cutoff moves
        # on once per bucket, so most ticks have nothing to drop and need no transaction.
        self._dropped_before: dict[str, int] = {}

    def apply(self, now_ms: int) -> None:
        opts = self._options
        keep = {
            "chunks": opts.raw_retention_s,
            "rollup_1m": opts.rollup_1m_retention_s,
            "rollup_1h": opts.rollup_1h_retention_s,
        }
        for table, width, what in TIERS:
            bucket = (now_ms - int(keep[table] * 1000)) // width
            if bucket <= self._dropped_before.get(table, 0):
                continue
            why = f"{what} older than {keep[table] / 86400:g} days"
            if self._drop_before(table, bucket, why) >= 0:
                self._dropped_before[table] = bucket
        if opts.max_bytes:
            self._enforce_size(opts.max_bytes)

    def used_bytes(self) -> int:
        """Bytes in pages that hold data (free pages are reused before the file grows)."""
        pages, free, size = (
            self._conn.execute(f"PRAGMA {p}").fetchone()[0]
            for p in ("page_count", "freelist_count", "page_size")
        )
        return int((pages - free) * size)

    def _drop_before(self, table: str, bucket: int, why: str) -> int:
        """Rows dropped, or -1 if the disk refused."""
        dropped = 0

        def work(conn: sqlite3.Connection) -> None:
            nonlocal dropped
            cur = conn.execute(f"DELETE FROM {table} WHERE id < ?", (sc.row_id(bucket, 0),))
            dropped = cur.rowcount

        if bucket <= 0:
            return 0
        if not self._transaction(work):
            return -1
        if dropped:
            log.info("store retention: dropped %d %s rows (%s)", dropped, table, why)
        return dropped

    def _enforce_size(self, cap: int) -> None:
        """Drop the oldest data of the finest tier left until the file fits the cap."""
        for table, _, _ in TIERS:
            for _ in range(10_000):
                if self.used_bytes() <= cap:
                    return
                oldest = self._conn.execute(f"SELECT min(id) FROM {table}").fetchone()[0]
                if oldest is None:
                    break
                bucket = (oldest >> sc.ID_BITS) + SIZE_STEPS[table]
                if self._drop_before(table, bucket, f"size cap {cap} bytes reached") <= 0:
                    break
