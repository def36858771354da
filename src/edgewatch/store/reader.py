"""Reading the store: the series index, raw ranges, rollups and thinning.

Works the same inside the agent and from another process (the CLI opens the
file read-only while the agent writes; SQLite's WAL keeps both consistent).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgewatch.model import SeriesKey
from edgewatch.store import rollup as ru
from edgewatch.store import schema as sc
from edgewatch.store.codec import Block, decode_block, decode_blocks
from edgewatch.store.selector import Selector, parse_selector
from edgewatch.store.transforms import F64, I64

if TYPE_CHECKING:
    from edgewatch.store.store import SeriesData

AGGREGATES = ("avg", "min", "max", "sum", "count", "last")
_IN_BATCH = 500
READ_GROUP = 64  # series read together by a raw read of many (their packs decoded once)


class Reader:
    def __init__(self, path: Path, conn: sqlite3.Connection, *, readonly: bool) -> None:
        self.path = path
        self.readonly = readonly
        self._conn = conn
        # The writer's connection may be inside a transaction: reads use their own.
        self._rconn = conn if readonly else sc.connect(path, readonly=True)
        self._read_lock = threading.RLock()
        self._ids: dict[SeriesKey, int] = {}
        self._keys_by_id: dict[int, SeriesKey] = {}
        self._head_cache: dict[tuple[int, int, int], Block] = {}
        self._load_series()

    def close(self) -> None:
        if self._rconn is not self._conn:
            self._rconn.close()
        self._conn.close()

    def _load_series(self) -> None:
        last = max(self._keys_by_id, default=0)
        rows = self._rconn.execute(
            "SELECT id, name, labels FROM series WHERE id > ? ORDER BY id", (last,)
        ).fetchall()
        for sid, name, labels in rows:
            key = SeriesKey.of(name, json.loads(labels))
            self._ids.setdefault(key, sid)
            self._keys_by_id.setdefault(sid, key)

    # -------------------------------------------------------------- series

    def series(self, selector: str | Selector | None = None) -> list[SeriesKey]:
        """Series matching a selector (all when None), sorted by name then labels."""
        with self._read_lock:
            if self.readonly:
                self._load_series()
            keys = list(self._keys_by_id.values())
        if selector is not None:
            sel = parse_selector(selector) if isinstance(selector, str) else selector
            keys = sel.select(keys)
        return sorted(keys)

    def has_series(self, key: SeriesKey) -> bool:
        """Whether the store holds this series already (cheap: the in-memory index)."""
        if key in self._ids:  # no lock: a query holding it must not stall the event loop
            return True
        with self._read_lock:
            if key not in self._ids and self.readonly:
                self._load_series()
            return key in self._ids

    # --------------------------------------------------------------- reads

    def read(
        self,
        selector: str | Selector,
        start_ms: int,
        end_ms: int,
        step_ms: int | None = None,
        *,
        agg: str = "avg",
        resolution: str = "auto",
        progress: Callable[[int], None] | None = None,
    ) -> list[SeriesData]:
        """Samples of every matching series in [start_ms, end_ms].

        Without ``step_ms``: raw samples. With it: one point per step bucket
        (bucket start on the step grid as timestamp), aggregated by ``agg``; ``resolution``
        ``auto`` reads 1-hour rollups for steps of an hour or more, 1-minute
        rollups for steps of a minute or more, and raw samples below that;
        ``raw``, ``1m`` or ``1h`` force one. ``progress`` is called after each series
        with its number of points; an exception it raises stops the read (budgets).
        """
        from edgewatch.store.store import SeriesData

        if agg not in AGGREGATES:
            raise ValueError(f"unknown aggregate {agg!r}; use one of {', '.join(AGGREGATES)}")
        if end_ms < start_ms:
            raise ValueError("end is before start")
        tier = _pick_tier(step_ms, resolution)
        out = []
        with self._read_lock:
            keys = self.series(selector)
            raw: dict[int, tuple[I64, F64]] = {}
            for i, key in enumerate(keys):
                sid = self._ids[key]
                if tier == "raw" and len(keys) > 1:
                    if sid not in raw:  # the next few series, whose packs are shared
                        group = [self._ids[k] for k in keys[i : i + READ_GROUP]]
                        raw = self._raw_group(group, start_ms, end_ms)
                    ts, vals = raw.pop(sid)
                    if step_ms:
                        ts, vals = thin(ts, vals, start_ms, step_ms, agg)
                elif tier == "raw":
                    ts, vals = self._raw(sid, start_ms, end_ms)
                    if step_ms:
                        ts, vals = thin(ts, vals, start_ms, step_ms, agg)
                else:
                    r = self._rollups(sid, start_ms, end_ms, tier)
                    ts, vals = thin_rollups(r, start_ms, step_ms or 1, agg)
                if progress is not None:
                    progress(len(ts))
                out.append(SeriesData(key, ts, vals))
        return out

    def _fetch(self, table: str, ids: list[int]) -> list[tuple[int, bytes]]:
        rows: list[tuple[int, bytes]] = []
        for lo in range(0, len(ids), _IN_BATCH):
            batch = ids[lo : lo + _IN_BATCH]
            marks = ",".join("?" * len(batch))
            rows += self._rconn.execute(
                f"SELECT id, data FROM {table} WHERE id IN ({marks}) ORDER BY id", batch
            ).fetchall()
        return rows

    def _bucket_range(self, table: str, start: int, end: int, width: int) -> range:
        """Buckets of [start, end] that can hold rows: clamped to the table's extent."""
        lo, hi = self._rconn.execute(
            f"SELECT (SELECT min(id) FROM {table}), (SELECT max(id) FROM {table})"
        ).fetchone()  # two subqueries: SQLite optimises min() and max() only alone
        if lo is None:
            return range(0)
        first = max(start // width, lo >> sc.ID_BITS)
        last = min(end // width, hi >> sc.ID_BITS)
        return range(first, last + 1)

    # --- remote_write (issue 7): head rows before chunks; the head grouped once per read ---
    def _raw(self, sid: int, start: int, end: int) -> tuple[I64, F64]:
        # The head first, then the chunks: a compaction committing between the two reads
        # then shows its samples twice (``_clip`` keeps one), never in neither.
        head = self._head_rows_in(sid, start, end)
        if head is None:
            head = self._head_from_table(sid)
        buckets = self._bucket_range("chunks", start, end, sc.CHUNK_MS)
        rows = self._packs_of(buckets, sid)
        block = decode_blocks(
            [blob for _, blob in rows],
            [sc.chunk_base(rid) for rid, _ in rows],
            keep=lambda ids: (ids & sc.SID_MASK) == sid,  # a pack holds other series too
        )
        return _clip([block.ts, head[0]], [block.values, head[1]], start, end)

    def _raw_group(self, sids: list[int], start: int, end: int) -> dict[int, tuple[I64, F64]]:
        """``_raw`` of several series at once: each pack is fetched and decompressed once
        for all of them (a pack holds up to 8 series; a read of every series of a
        device, as remote_write's, would otherwise decompress each pack 8 times)."""
        heads = {}
        for sid in sids:  # the head first, then the chunks (see ``_raw``)
            head = self._head_rows_in(sid, start, end)
            heads[sid] = self._head_from_table(sid) if head is None else head
        buckets = self._bucket_range("chunks", start, end, sc.CHUNK_MS)
        rows = self._packs_of(buckets, min(sids), max(sids))
        want = np.array(sorted(set(sids)), dtype=np.int64)
        block = decode_blocks(
            [blob for _, blob in rows],
            [sc.chunk_base(rid) for rid, _ in rows],
            keep=lambda ids: np.isin(ids & sc.SID_MASK, want),
        )
        sample_sid = np.repeat(block.ids & sc.SID_MASK, np.diff(block.starts))
        order = np.argsort(sample_sid, kind="stable")  # rows come bucket by bucket: in time
        by_sid, ts, vals = sample_sid[order], block.ts[order], block.values[order]
        out = {}
        for sid in sids:
            a, b = np.searchsorted(by_sid, sid, "left"), np.searchsorted(by_sid, sid, "right")
            head_ts, head_val = heads[sid]
            out[sid] = _clip([ts[a:b], head_ts], [vals[a:b], head_val], start, end)
        return out

    def _packs_of(
        self, buckets: range, sid: int, last_sid: int | None = None
    ) -> list[tuple[int, bytes]]:
        """Per bucket, the row holding ``sid``'s chunk, the last at or before its key
        (store/packing.py), and with ``last_sid`` the rows after it up to that series'
        key. One statement a batch: a late merge rewriting a bucket's packs meanwhile
        is seen whole or not at all."""
        last = sid if last_sid is None else last_sid
        rows: list[tuple[int, bytes]] = []
        for lo in range(0, len(buckets), _IN_BATCH // 3):
            part = buckets[lo : lo + _IN_BATCH // 3]
            keys = [
                k for b in part for k in (b << sc.ID_BITS, sc.row_id(b, sid), sc.row_id(b, last))
            ]
            values = ",".join("(?, ?, ?)" for _ in part)
            rows += self._rconn.execute(
                f"WITH b(lo, first, last) AS (VALUES {values}) SELECT c.id, c.data FROM b "
                "JOIN chunks AS c ON c.id BETWEEN coalesce((SELECT id FROM chunks WHERE id "
                "BETWEEN b.lo AND b.first ORDER BY id DESC LIMIT 1), b.first) AND b.last "
                "ORDER BY c.id",
                keys,
            ).fetchall()
        return rows

    def _head_rows_in(self, sid: int, start: int, end: int) -> tuple[I64, F64] | None:
        """In-memory head rows of ``sid``, at least those in [start, end] (the writing
        Store overrides this to group the head once per read, not scan it per series)."""
        return self._head_rows_for(sid)

    # --- end remote_write (issue 7) ---
    def _head_rows_for(self, sid: int) -> tuple[I64, F64] | None:
        """In-memory head rows (the writing Store overrides this)."""
        return None

    def _head_from_table(self, sid: int) -> tuple[I64, F64]:
        # Row ids are reused once compaction empties the table: key the cache on more.
        keys = self._rconn.execute(
            "SELECT id, max_ts, length(data) FROM head ORDER BY id"
        ).fetchall()
        live = set(keys)
        for key in [k for k in self._head_cache if k not in live]:
            del self._head_cache[key]
        parts_ts, parts_val = [], []
        for key in keys:
            block = self._head_cache.get(key)
            if block is None:
                row = self._rconn.execute(
                    "SELECT data FROM head WHERE id = ?", (key[0],)
                ).fetchone()
                if row is None:  # compacted since the listing: its samples are in chunks
                    continue
                block = self._head_cache[key] = decode_block(row[0])
            i = int(np.searchsorted(block.ids, sid))
            if i < len(block.ids) and block.ids[i] == sid:
                a, b = block.starts[i], block.starts[i + 1]
                parts_ts.append(block.ts[a:b])
                parts_val.append(block.values[a:b])
        if not parts_ts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        return np.concatenate(parts_ts), np.concatenate(parts_val)

    def _rollups(self, sid: int, start: int, end: int, tier: str) -> ru.Rollup:
        """Rollup points of one series in [start, end]: rows already written, the rest
        computed from the next finer level (1-hour from 1-minute, 1-minute from raw)."""
        table, width, window, key = {
            "1m": ("rollup_1m", sc.ROLLUP_1M_MS, sc.ROLLUP_1M_WINDOW_MS, "rolled_1m_until"),
            "1h": ("rollup_1h", sc.ROLLUP_1H_MS, sc.ROLLUP_1H_WINDOW_MS, "rolled_1h_until"),
        }[tier]
        rolled = sc.get_meta(self._rconn, key)
        parts = []
        if rolled:
            windows = self._bucket_range(table, start, min(end, rolled - 1), window)
            ids = [sc.row_id(w, sid) for w in windows]
            parts.append(ru.decode(self._fetch(table, ids), sid, window))
        if end >= rolled:  # not rolled up yet
            rest_start = max(start, rolled) // width * width
            if tier == "1h":
                rest = ru.from_rollups(self._rollups(sid, rest_start, end, "1m"), width)
            else:
                ts, vals = self._raw(sid, rest_start, end)
                rest = ru.from_samples(np.full(len(ts), sid, dtype=np.int64), ts, vals, width)
            parts.append(rest)
        r = ru.Rollup.concat(parts)
        sel = (r.ts >= start // width * width) & (r.ts <= end)
        return r.take(sel)


def _pick_tier(step_ms: int | None, resolution: str) -> str:
    if resolution not in ("auto", "raw", "1m", "1h"):
        raise ValueError(f"unknown resolution {resolution!r}; use auto, raw, 1m or 1h")
    if resolution != "auto":
        return resolution
    if not step_ms:
        return "raw"
    if step_ms >= sc.ROLLUP_1H_MS:
        return "1h"
    if step_ms >= sc.ROLLUP_1M_MS:
        return "1m"
    return "raw"


def _clip(parts_ts: list[I64], parts_val: list[F64], start: int, end: int) -> tuple[I64, F64]:
    if not parts_ts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    ts = np.concatenate(parts_ts)
    vals = np.concatenate(parts_val)
    if len(ts) > 1 and not (np.diff(ts) > 0).all():
        # Chunks and head can overlap after a crash replay: the later copy wins.
        order = np.argsort(ts, kind="stable")
        ts, vals = ts[order], vals[order]
        keep = np.ones(len(ts), dtype=bool)
        keep[:-1] = ts[1:] != ts[:-1]
        ts, vals = ts[keep], vals[keep]
    lo, hi = np.searchsorted(ts, start, "left"), np.searchsorted(ts, end, "right")
    return ts[lo:hi], vals[lo:hi]


def _bucket_starts(ts: I64, start: int, step: int) -> tuple[I64, I64]:
    bucket = (ts - start) // step
    change = np.flatnonzero(bucket[1:] != bucket[:-1]) + 1
    first = np.concatenate(([0], change)).astype(np.int64)
    return first, start + bucket[first] * step


def thin(ts: I64, vals: F64, start: int, step: int, agg: str) -> tuple[I64, F64]:
    """One point per step bucket of raw samples."""
    if len(ts) == 0:
        return ts, vals
    first, out_ts = _bucket_starts(ts, start - start % step, step)
    counts = np.diff(np.append(first, len(ts))).astype(np.float64)
    if agg == "avg":
        out = np.add.reduceat(vals, first) / counts
    elif agg == "sum":
        out = np.add.reduceat(vals, first)
    elif agg == "min":
        out = np.fmin.reduceat(vals, first)
    elif agg == "max":
        out = np.fmax.reduceat(vals, first)
    elif agg == "count":
        out = counts
    else:
        out = vals[np.append(first[1:], len(ts)) - 1]
    return out_ts, out


def thin_rollups(r: ru.Rollup, start: int, step: int, agg: str) -> tuple[I64, F64]:
    """One point per step bucket from rollups (a step finer than the rollup keeps them)."""
    if r.size == 0:
        return r.ts, r.sum
    origin = min(start, int(r.ts[0]))
    first, out_ts = _bucket_starts(r.ts, origin - origin % step, step)
    if agg in ("avg", "sum", "count"):
        sums = np.add.reduceat(r.sum, first)
        counts = np.add.reduceat(r.n, first)
        out = {"avg": sums / counts, "sum": sums, "count": counts}[agg]
    elif agg == "min":
        out = np.fmin.reduceat(r.min, first)
    elif agg == "max":
        out = np.fmax.reduceat(r.max, first)
    else:
        out = r.last[np.append(first[1:], r.size) - 1]
    return out_ts, out
