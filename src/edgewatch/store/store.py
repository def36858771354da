"""Store: the series index, the head, the writer thread and the read API.

Writes: ``append`` puts samples in the in-memory head (numpy columns). The
writer thread commits what is new every ``commit_interval`` as one
compressed head row, and once a 10-minute bucket is over it compacts the
bucket into one chunk per series, updates the rollups and deletes the head
rows it covered, all in one transaction: a ``kill -9`` loses at most the
uncommitted seconds and never leaves a half-written state.

If the disk refuses a write (full, read-only, I/O error) the samples stay in
memory (up to ``max_pending_samples``), the problem is logged once and the
next tick retries.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edgewatch.malloc import return_freed_memory
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import schema as sc
from edgewatch.store.chunks import encode_chunks, sorted_unique
from edgewatch.store.codec import CodecError, decode_block, encode_journal
from edgewatch.store.head import I32, HeadBuffer
from edgewatch.store.journal import UNKNOWN
from edgewatch.store.options import StoreOptions
from edgewatch.store.reader import Reader
from edgewatch.store.retention import Retention
from edgewatch.store.schema import StoreCorrupt, StoreError
from edgewatch.store.tiers import RollupTiers
from edgewatch.store.transforms import F64, I64, per_sample

AppendHook = Callable[[int | I64, np.ndarray], None]  # remote_write (issue 7)

__all__ = ["SeriesData", "Store", "StoreCorrupt", "StoreError", "StoreStats"]

log = logging.getLogger(__name__)

GRACE_MS = 60_000  # a bucket is compacted this long after it ends
LATE_MERGE_S = 600.0  # late samples are merged into written chunks at most this often
DB_NAME = "edgewatch.db"


class SeriesData(NamedTuple):
    key: SeriesKey
    ts: I64
    values: F64


class StoreStats(NamedTuple):
    series: int
    samples_ingested: int
    file_bytes: int
    commits: int
    last_commit_seconds: float
    write_errors: int
    pending_samples: int
    dropped_samples: int
    compacted_until_ms: int


class Store(Reader):
    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        options: StoreOptions,
        *,
        readonly: bool,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(path, conn, readonly=readonly)
        self.options = options
        self._clock = clock
        self._lock = threading.Lock()  # guards the head and the series index
        self._write_lock = threading.RLock()  # one writer at a time
        self._head = HeadBuffer()
        # Per series id, the decimals its last chunk needed (journal.UNKNOWN: none yet):
        # head commits try these first instead of working them out again.
        self._decimal_hints = np.full(1, UNKNOWN, dtype=np.int8)
        self._new_series: list[tuple[int, SeriesKey]] = []
        self._tiers = RollupTiers(conn, self._raw)
        self._retention = Retention(conn, self._transaction, options)
        # Rows before this index must not move: a commit or compaction is writing them.
        self._pinned = 0
        self._compacted_until = 0  # samples before this are in chunks (set by _recover)
        self._last_late_merge = float("-inf")
        self._writer_error: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._failing: str | None = None
        self.samples_ingested = 0
        self.commits = 0
        self.last_commit_seconds = 0.0
        self.write_errors = 0
        self.dropped_samples = 0
        self._next_sid = max(self._keys_by_id, default=0) + 1
        if not readonly:
            self._recover()

    # ---------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: Path,
        options: StoreOptions | None = None,
        *,
        readonly: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> Store:
        """Open the store at ``path``: a data directory (its ``edgewatch.db``), or a
        file path ending in ``.db``."""
        path = Path(path)
        if path.is_dir() or path.suffix != ".db":
            path = path / DB_NAME
        if not readonly:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create data directory {path.parent}: {exc}") from exc
        conn = sc.connect(path, readonly=readonly)
        return cls(path, conn, options or StoreOptions(), readonly=readonly, clock=clock)

    def _recover(self) -> None:
        """Replay committed head rows and rebuild the open rollup windows."""
        rows = self._conn.execute("SELECT data FROM head ORDER BY id").fetchall()
        for (blob,) in rows:
            try:
                block = decode_block(blob)
            except CodecError as exc:
                raise StoreCorrupt(f"{self.path}: unreadable head row ({exc})") from exc
            sids = np.repeat(block.ids, np.diff(block.starts))
            self._head.extend(block.ts, sids, block.values)
        self._head.committed = self._head.n
        self._compacted_until = sc.get_meta(self._conn, "compacted_until")
        self._tiers.recover(self._compacted_until)
        if rows:
            log.info("store: replayed %d committed samples from %s", self._head.n, self.path)

    # ----------------------------------------------------------------- writes

    def series_id(self, key: SeriesKey) -> int:
        with self._lock:
            return self._sid_locked(key)

    def _sid_locked(self, key: SeriesKey) -> int:
        sid = self._ids.get(key)
        if sid is None:
            # The index is keyed by canonical keys (sorted labels, no empty values), as
            # they are read back from the file; a key built otherwise becomes an alias.
            canonical = SeriesKey.of(key.name, dict(key.labels))
            sid = self._ids.get(canonical)
            if sid is not None:
                self._ids[key] = sid
                return sid
            key = canonical
            if self.readonly:
                raise StoreError("store opened read-only")
            sid = self._next_sid
            if sid > sc.MAX_SERIES:
                raise StoreError(f"too many series (limit {sc.MAX_SERIES})")
            self._next_sid += 1
            self._ids[key] = sid
            self._keys_by_id[sid] = key
            self._new_series.append((sid, key))
        return sid

    def append(self, ts_ms: int, samples: Iterable[Sample]) -> None:
        """Add samples that share one timestamp. Cheap: memory only."""
        with self._lock:
            ids = self._ids
            sids: list[int] = []
            vals: list[float] = []
            for key, value in samples:
                sid = ids.get(key)
                sids.append(self._sid_locked(key) if sid is None else sid)
                vals.append(value)
            self._extend_locked(ts_ms, np.array(sids, dtype=np.int32), np.array(vals))

    def append_ids(self, ts_ms: int | I64, sids: np.ndarray, values: np.ndarray) -> None:
        """Fast path: ids from ``series_id``; ``ts_ms`` a scalar or one per sample."""
        with self._lock:
            self._extend_locked(ts_ms, sids, values)

    def _extend_locked(self, ts_ms: int | I64, sids: np.ndarray, values: np.ndarray) -> None:
        self._head.extend(ts_ms, sids, values)
        self._appended(ts_ms, sids)  # remote_write (issue 7): append hooks, head groups
        self.samples_ingested += len(sids)
        cap = self.options.max_pending_samples
        over = self._head.uncommitted - cap
        if over > 0:  # drop a tenth of the cap at once: not an array move per append
            batch = max(over, cap // 10)
            self.dropped_samples += self._head.drop_oldest_uncommitted(batch, self._pinned)

    def commit(self) -> bool:
        """Make every sample appended so far durable. False if the disk refused."""
        with self._write_lock:
            with self._lock:
                end = self._pinned = self._head.n
                ts, sid, val = self._head.rows(self._head.committed, end)
                new_series = list(self._new_series)
            try:
                return self._commit(ts, sid, val, new_series, end)
            finally:
                self._pinned = 0

    def _commit(
        self, ts: I64, sid: I32, val: F64, new_series: list[tuple[int, SeriesKey]], end: int
    ) -> bool:
        if len(ts) == 0 and not new_series:
            return True
        started = time.perf_counter()
        blob = encode_journal(ts, sid, val, self._decimal_hints) if len(ts) else b""

        def work(conn: sqlite3.Connection) -> None:
            self._insert_series(conn, new_series)
            if blob:
                conn.execute("INSERT INTO head(max_ts, data) VALUES (?, ?)", (int(ts.max()), blob))

        if not self._transaction(work):
            return False
        with self._lock:
            self._head.committed = end
            del self._new_series[: len(new_series)]
        self.commits += 1
        self.last_commit_seconds = time.perf_counter() - started
        return True

    def _insert_series(self, conn: sqlite3.Connection, items: list[tuple[int, SeriesKey]]) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO series(id, name, labels) VALUES (?, ?, ?)",
            [(sid, k.name, json.dumps(dict(k.labels), sort_keys=True)) for sid, k in items],
        )

    def _transaction(self, work: Callable[[sqlite3.Connection], None]) -> bool:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:  # full, read-only, I/O error, corrupt page
            self.write_errors += 1
            reason = str(exc)
            if self._failing != reason:
                log.warning(
                    "store: cannot write to %s (%s); keeping samples in memory and retrying",
                    self.path,
                    reason,
                )
                self._failing = reason
            return False
        if self._failing is not None:
            log.warning("store: writes to %s resumed", self.path)
            self._failing = None
        return True

    def _data_now(self) -> int:
        """The store's 'now': the newest sample, but never far ahead of the wall clock."""
        wall = int(self._clock() * 1000)
        with self._lock:
            newest = self._head.max_ts
        return min(newest, wall + sc.CHUNK_MS) if newest > 0 else wall

    def maintain(self) -> None:
        """Compact finished buckets, close rollup windows, apply retention."""
        with self._write_lock:
            now = self._data_now()
            cutoff = (now - GRACE_MS) // sc.CHUNK_MS * sc.CHUNK_MS
            if cutoff > self._compacted_until or self._late_merge_due():
                self._compact(max(cutoff, self._compacted_until))
            self._retention.apply(now)

    def _late_merge_due(self) -> bool:
        """Samples older than the compacted range wait for a merge. After a backward clock
        step every new sample is late: merge at most every LATE_MERGE_S, not every tick."""
        with self._lock:
            late = self._head.min_ts() < self._compacted_until
        return late and time.monotonic() - self._last_late_merge >= LATE_MERGE_S

    def _compact(self, cutoff: int) -> None:
        with self._lock:
            limit = self._pinned = self._head.n
            new_series = list(self._new_series)
        try:
            ok, late_ts, late_sid = self._write_chunks(cutoff, limit, new_series)
            if ok:  # the rows are in chunks now: only then do they leave the head
                with self._lock:
                    self._head.take_before(cutoff, limit)
                    del self._new_series[: len(new_series)]
        finally:
            self._pinned = 0
        if ok and len(late_ts):
            self._last_late_merge = time.monotonic()
            self._tiers.redo(late_ts, late_sid, cutoff, self._transaction)
        if ok:
            return_freed_memory()

    def _write_chunks(
        self, cutoff: int, limit: int, new_series: list[tuple[int, SeriesKey]]
    ) -> tuple[bool, I64, I64]:
        """One transaction: chunks, closed rollup windows, head rows dropped, watermark."""
        with self._lock:  # the rows before ``limit`` are pinned: they stay where they are
            ts, sid32, val = self._head.before(cutoff, limit)
        sid = sid32.astype(np.int64)
        # Only these names hold the head's copies: sorting below rebinds them, and the
        # copies go then, not at the end (a compaction's peak memory is what the next one
        # faults in again once it was handed back to the OS).
        del sid32
        previous = self._compacted_until
        late = ts < previous
        late_ts, late_sid = ts[late], sid[late]
        late_buckets = np.unique(late_ts // sc.CHUNK_MS).tolist()
        if late_buckets:
            ts, sid, val = self._merge_existing(late_buckets, ts, sid, val)
        ts, sid, val = sorted_unique(ts, sid, val)
        chunks, decimals, stored = encode_chunks(ts, sid, val, self.options.timestamp_tolerance)
        chunks.sort()
        self._learn_decimals(sid, decimals)
        fresh = ts >= previous  # late samples are folded into the rollups by redo()
        # Rollups are made of the timestamps as stored (snapped), so that they agree
        # with the raw samples read back and with rollups recomputed from the chunks.
        if fresh.all():  # the usual compaction: no copies
            closing = self._tiers.close(sid, stored, val, decimals, cutoff)
        else:
            closing = self._tiers.close(
                sid[fresh], stored[fresh], val[fresh], decimals[fresh], cutoff
            )

        def work(conn: sqlite3.Connection) -> None:
            self._insert_series(conn, new_series)
            # A bucket late samples landed in is rewritten whole: its packs may now start
            # at other series than before.
            conn.executemany(
                "DELETE FROM chunks WHERE id >= ? AND id < ?",
                [(b << sc.ID_BITS, (b + 1) << sc.ID_BITS) for b in late_buckets],
            )
            conn.executemany("INSERT OR REPLACE INTO chunks(id, data) VALUES (?, ?)", chunks)
            self._tiers.write(conn, closing)
            conn.execute("DELETE FROM head WHERE max_ts < ?", (cutoff,))
            sc.set_meta(conn, "compacted_until", cutoff)

        ok = self._transaction(work)
        if ok:
            self._compacted_until = cutoff
            self._tiers.accept(closing)
        return ok, late_ts, late_sid

    def _learn_decimals(self, sid: I64, decimals: I64) -> None:
        if len(sid) == 0:
            return
        top = int(sid.max())
        if top >= len(self._decimal_hints):
            grown = np.full(top + 1, UNKNOWN, dtype=np.int8)
            grown[: len(self._decimal_hints)] = self._decimal_hints
            self._decimal_hints = grown
        self._decimal_hints[sid] = decimals  # the last chunk of each series wins

    def _merge_existing(
        self, buckets: list[int], ts: I64, sid: I64, val: F64
    ) -> tuple[I64, I64, F64]:
        """Prepend every sample of the buckets late samples land in (the late ones win):
        the caller rewrites those buckets whole."""
        parts_ts, parts_sid, parts_val = [], [], []
        for bucket in buckets:
            for rid, blob in self._conn.execute(
                "SELECT id, data FROM chunks WHERE id >= ? AND id < ?",
                (bucket << sc.ID_BITS, (bucket + 1) << sc.ID_BITS),
            ):
                try:
                    block = decode_block(blob, sc.chunk_base(rid))
                except CodecError as exc:  # unreadable already: the new samples replace it
                    log.warning("store: chunk %d is corrupt (%s); replacing it", rid, exc)
                    continue
                parts_ts.append(block.ts)
                parts_sid.append(per_sample(block.starts, block.ids & sc.SID_MASK))
                parts_val.append(block.values)
        return (
            np.concatenate([*parts_ts, ts]),
            np.concatenate([*parts_sid, sid]),
            np.concatenate([*parts_val, val]),
        )

    def used_bytes(self) -> int:
        """Bytes in pages that hold data: what the size cap compares with."""
        return self._retention.used_bytes()

    # ----------------------------------------------------------- the thread

    def start(self) -> None:
        """Start the writer thread: commit every commit_interval, then maintain."""
        if self.readonly or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="edgewatch-store", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = self.options.commit_interval_s
        while not self._stop.wait(interval):
            try:
                if self.commit():
                    self.maintain()
            except Exception as exc:  # the writer must outlive any one error: count, log once
                self.write_errors += 1
                if str(exc) != self._writer_error:
                    self._writer_error = str(exc)
                    log.exception("store: writer error (retrying every commit interval)")

    def close(self) -> None:
        """Stop the writer and make everything appended durable (one last try)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=30)
            self._thread = None
        if not self.readonly:
            self.commit()
        super().close()

    # ----------------------------------------------------------------- reads

    def _head_rows_for(self, sid: int) -> tuple[I64, F64] | None:
        if self.readonly:
            return None
        with self._lock:
            return self._head.rows_for(sid)

    def stats(self) -> StoreStats:
        try:
            size = self.path.stat().st_size
            wal = self.path.with_name(self.path.name + "-wal")
            size += wal.stat().st_size if wal.exists() else 0
        except OSError:
            size = 0
        return StoreStats(
            series=len(self._keys_by_id),
            samples_ingested=self.samples_ingested,
            file_bytes=size,
            commits=self.commits,
            last_commit_seconds=self.last_commit_seconds,
            write_errors=self.write_errors,
            pending_samples=self._head.uncommitted,
            dropped_samples=self.dropped_samples,
            compacted_until_ms=self._compacted_until,
        )

    # --- remote_write (issue 7): append hooks, and the head grouped once per read ---------
    # Class-level defaults (immutable), so that this block needs nothing in __init__.
    _append_hooks: tuple[AppendHook, ...] = ()
    _head_groups: tuple[tuple[int, int, int, int], I32, I64, F64] | None = None

    def add_append_hook(self, hook: AppendHook) -> None:
        """Call ``hook(ts_ms, sids)`` after each append, under the store's lock: it sees the
        appends in the order the reads do. It must be quick and must not call the store
        (remote_write's late-sample watch, ``edgewatch.export.remote_write_late``)."""
        with self._lock:
            self._append_hooks = (*self._append_hooks, hook)

    def remove_append_hook(self, hook: AppendHook) -> None:
        with self._lock:
            self._append_hooks = tuple(h for h in self._append_hooks if h is not hook)

    def _appended(self, ts_ms: int | I64, sids: np.ndarray) -> None:
        """Under ``_lock``, right after the head took an append."""
        self._head_groups = None  # the head changed: do not keep a stale copy in memory
        for hook in self._append_hooks:
            hook(ts_ms, sids)

    def _head_rows_in(self, sid: int, start: int, end: int) -> tuple[I64, F64] | None:
        """The head rows of ``sid`` in [start, end]. The head is masked by the range once and
        grouped by series, and the groups serve every series of the read while the head and
        the range stay the same (a window of 1000 series: one pass, not 1000)."""
        if self.readonly:
            return None
        with self._lock:
            # samples_ingested grows with every append, n shrinks with every compaction:
            # together they name the head's contents.
            key = (start, end, self.samples_ingested, self._head.n)
            groups = self._head_groups
            if groups is None or groups[0] != key:
                ts, sids, vals = self._head.before(end + 1, self._head.n)
                keep = ts >= start
                order = np.argsort(sids[keep], kind="stable")
                groups = (key, sids[keep][order], ts[keep][order], vals[keep][order])
                self._head_groups = groups
        _, g_sid, g_ts, g_val = groups
        a, b = np.searchsorted(g_sid, sid, "left"), np.searchsorted(g_sid, sid, "right")
        return g_ts[a:b], g_val[a:b]

    # --- end remote_write (issue 7) -----------------------------------------------------
