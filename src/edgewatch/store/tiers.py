"""Rollup tiers: the windows still open, and how they close into rollup rows.

1-minute rollups are written an hour at a time (one row per series), 1-hour
rollups a day at a time; until its window closes a rollup lives here, in
memory. Both are derived data: after a restart they are rebuilt from the
chunks and the 1-minute rows, and a sample that arrives late for a window is
folded in by recomputing that series' hour from its raw samples.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from edgewatch.store import rollup as ru
from edgewatch.store import schema as sc
from edgewatch.store.codec import decode_blocks
from edgewatch.store.transforms import F64, I64

M1, W1 = sc.ROLLUP_1M_MS, sc.ROLLUP_1M_WINDOW_MS  # 1-minute points, hour rows
H1, W2 = sc.ROLLUP_1H_MS, sc.ROLLUP_1H_WINDOW_MS  # 1-hour points, day rows

RawReader = Callable[[int, int, int], tuple[I64, F64]]  # (sid, start, end) -> ts, values
Transaction = Callable[[Callable[[sqlite3.Connection], None]], bool]


class Closing(NamedTuple):
    """What one compaction writes, and what stays open after it."""

    closed_1m: ru.Rollup
    closed_1h: ru.Rollup
    open_1m: ru.Rollup
    open_1h: ru.Rollup
    rolled_1m: int
    rolled_1h: int


def by_series(r: ru.Rollup) -> ru.Rollup:
    return r.take(np.lexsort((r.ts, r.sid)))


def _split(r: ru.Rollup, end: int) -> tuple[ru.Rollup, ru.Rollup]:
    closed = r.ts < end
    return r.take(closed), r.take(~closed)


def write_rows(conn: sqlite3.Connection, table: str, r: ru.Rollup, window: int) -> None:
    if r.size:
        rows = ru.encode_rows(r, window)
        conn.executemany(f"INSERT OR REPLACE INTO {table}(id, data) VALUES (?, ?)", rows)


class RollupTiers:
    def __init__(self, conn: sqlite3.Connection, read_raw: RawReader) -> None:
        self._conn = conn
        self._read_raw = read_raw
        self.open_1m = ru.Rollup.empty()
        self.open_1h = ru.Rollup.empty()

    def recover(self, compacted_until: int) -> None:
        """Rebuild the open windows from what the file holds."""
        r1 = sc.get_meta(self._conn, "rolled_1m_until")
        r2 = sc.get_meta(self._conn, "rolled_1h_until")
        if r1 and compacted_until > r1:
            sid, ts, val = self._scan_chunks(r1, compacted_until)
            self.open_1m = ru.from_samples(sid, ts, val, M1)
        if r2 and r1 > r2:
            self.open_1h = ru.from_rollups(self._scan_1m(r2, r1), H1)

    def _scan_chunks(self, start: int, end: int) -> tuple[I64, I64, F64]:
        """Every sample of every series in the chunks of [start, end), sorted by series."""
        lo, hi = sc.row_id(start // sc.CHUNK_MS, 0), sc.row_id(end // sc.CHUNK_MS, 0)
        rows = self._conn.execute(
            "SELECT id, data FROM chunks WHERE id >= ? AND id < ? ORDER BY id", (lo, hi)
        ).fetchall()
        block = decode_blocks([blob for _, blob in rows], [sc.chunk_base(rid) for rid, _ in rows])
        sid = np.repeat(block.ids & sc.SID_MASK, np.diff(block.starts))  # packs hold several
        order = np.lexsort((block.ts, sid))
        return sid[order], block.ts[order], block.values[order]

    def _scan_1m(self, start: int, end: int) -> ru.Rollup:
        lo, hi = sc.row_id(start // W1, 0), sc.row_id(end // W1, 0)
        rows = self._conn.execute(
            "SELECT id, data FROM rollup_1m WHERE id >= ? AND id < ?", (lo, hi)
        ).fetchall()
        return by_series(
            ru.Rollup.concat([ru.decode([(rid, b)], rid & sc.SID_MASK, W1) for rid, b in rows])
        )

    def close(self, sid: I64, ts: I64, val: F64, decimals: I64, cutoff: int) -> Closing:
        """Add freshly compacted samples; split off every window that ``cutoff`` closed."""
        rolled_1m = cutoff // W1 * W1
        rolled_1h = cutoff // W2 * W2
        pending = ru.Rollup.concat([self.open_1m, ru.from_samples(sid, ts, val, M1, decimals)])
        if self.open_1m.size:
            # A sample snapped onto the next minute opens that minute in one compaction
            # and the next compaction adds to it: one point per series and minute.
            pending = ru.from_rollups(by_series(pending), M1)
        closed_1m, open_1m = _split(pending, rolled_1m)
        hourly = ru.Rollup.concat([self.open_1h, ru.from_rollups(by_series(closed_1m), H1)])
        closed_1h, open_1h = _split(hourly, rolled_1h)
        return Closing(closed_1m, closed_1h, open_1m, open_1h, rolled_1m, rolled_1h)

    @staticmethod
    def write(conn: sqlite3.Connection, c: Closing) -> None:
        """Inside the compaction's transaction."""
        write_rows(conn, "rollup_1m", c.closed_1m, W1)
        write_rows(conn, "rollup_1h", c.closed_1h, W2)
        sc.set_meta(conn, "rolled_1m_until", c.rolled_1m)
        sc.set_meta(conn, "rolled_1h_until", c.rolled_1h)

    def accept(self, c: Closing) -> None:
        """After the compaction committed."""
        self.open_1m, self.open_1h = c.open_1m, c.open_1h

    def redo(
        self, late_ts: I64, late_sid: I64, compacted_until: int, transaction: Transaction
    ) -> None:
        """Recompute the hours that late samples (already in the chunks) landed in."""
        r1 = sc.get_meta(self._conn, "rolled_1m_until")
        r2 = sc.get_meta(self._conn, "rolled_1h_until")
        closed: list[ru.Rollup] = []
        for key in np.unique((late_ts // W1 << sc.ID_BITS) | late_sid).tolist():
            hour_start, sid = (key >> sc.ID_BITS) * W1, key & sc.SID_MASK
            end = min(hour_start + W1, compacted_until)
            ts, vals = self._read_raw(sid, hour_start, end - 1)
            fresh = ru.from_samples(np.full(len(ts), sid, dtype=np.int64), ts, vals, M1)
            if hour_start + W1 <= r1:
                closed.append(fresh)
            else:
                self.open_1m = _replace(self.open_1m, sid, hour_start, W1, fresh)
        if not closed:
            return
        rows_1m = ru.Rollup.concat(closed)

        def work(conn: sqlite3.Connection) -> None:
            write_rows(conn, "rollup_1m", rows_1m, W1)

        if not transaction(work):
            return  # the raw samples are safe; the rollups stay as they were
        hourly = ru.from_rollups(by_series(rows_1m), H1)
        for sid, hour in zip(hourly.sid.tolist(), hourly.ts.tolist(), strict=True):
            if hour >= r2:  # that day is still open: its hourly point lives here
                point = hourly.take((hourly.sid == sid) & (hourly.ts == hour))
                self.open_1h = _replace(self.open_1h, sid, hour, H1, point)
        closed_days = hourly.take(hourly.ts < r2)
        days = set(zip(closed_days.sid.tolist(), (closed_days.ts // W2).tolist(), strict=True))
        for sid, day in sorted(days):
            self._redo_day(sid, day, transaction)

    def _redo_day(self, sid: int, day: int, transaction: Transaction) -> None:
        """Rewrite one series' 1-hour row of a closed day from its 1-minute rows."""
        ids = [sc.row_id(h, sid) for h in range(day * W2 // W1, (day + 1) * W2 // W1)]
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(
            f"SELECT id, data FROM rollup_1m WHERE id IN ({marks}) ORDER BY id", ids
        ).fetchall()
        day_rows = ru.from_rollups(ru.decode(rows, sid, W1), H1)

        def work(conn: sqlite3.Connection) -> None:
            write_rows(conn, "rollup_1h", day_rows, W2)

        transaction(work)


def _replace(r: ru.Rollup, sid: int, start: int, width: int, new: ru.Rollup) -> ru.Rollup:
    """``r`` with the points of one series in [start, start + width) replaced by ``new``."""
    drop = (r.sid == sid) & (r.ts >= start) & (r.ts < start + width)
    return ru.Rollup.concat([r.take(~drop), new])
