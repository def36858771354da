"""The head: recent samples in growable numpy columns, until compaction takes them.

Rows ``[0, committed)`` are durable in the ``head`` table; rows after that
are in memory only and are written by the next commit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edgewatch.store.transforms import F64, I64

I32 = npt.NDArray[np.int32]


class HeadBuffer:
    def __init__(self, capacity: int = 4096) -> None:
        self._ts: I64 = np.empty(capacity, dtype=np.int64)
        self._sid: I32 = np.empty(capacity, dtype=np.int32)
        self._val: F64 = np.empty(capacity, dtype=np.float64)
        self.n = 0
        self.committed = 0
        # The oldest and newest timestamps of rows [0, _seen): extend does not scan its
        # rows (a numpy call per append costs more than the append), the readers do.
        self._seen = 0
        self._lo = np.iinfo(np.int64).max
        self._hi = np.iinfo(np.int64).min

    def __len__(self) -> int:
        return self.n

    @property
    def uncommitted(self) -> int:
        return self.n - self.committed

    def _reserve(self, extra: int) -> None:
        need = self.n + extra
        if need <= len(self._ts):
            return
        cap = max(need, len(self._ts) * 2)
        for attr in ("_ts", "_sid", "_val"):
            old = getattr(self, attr)
            new = np.empty(cap, dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, attr, new)

    def extend(self, ts: int | I64, sids: npt.ArrayLike, values: npt.ArrayLike) -> None:
        sid_arr = np.asarray(sids, dtype=np.int32)
        k = len(sid_arr)
        if k == 0:
            return
        self._reserve(k)
        a, b = self.n, self.n + k
        self._ts[a:b] = ts
        self._sid[a:b] = sid_arr
        self._val[a:b] = values
        self.n = b

    def _scan(self) -> None:
        if self._seen < self.n:
            new = self._ts[self._seen : self.n]
            self._lo = min(self._lo, int(new.min()))
            self._hi = max(self._hi, int(new.max()))
            self._seen = self.n

    @property
    def max_ts(self) -> int:
        """The newest timestamp ever appended (compaction does not lower it)."""
        self._scan()
        return self._hi

    def min_ts(self) -> int:
        self._scan()
        return self._lo if self.n else np.iinfo(np.int64).max

    def _rows_moved(self) -> None:
        """Rows were removed: the oldest timestamp is scanned again."""
        self._scan()
        self._lo = int(self._ts[: self.n].min()) if self.n else np.iinfo(np.int64).max
        self._seen = self.n

    def rows(self, a: int = 0, b: int | None = None) -> tuple[I64, I32, F64]:
        b = self.n if b is None else b
        return self._ts[a:b].copy(), self._sid[a:b].copy(), self._val[a:b].copy()

    def rows_for(self, sid: int) -> tuple[I64, F64]:
        sel = self._sid[: self.n] == sid
        return self._ts[: self.n][sel], self._val[: self.n][sel]

    def take_before(self, cutoff: int, limit: int) -> None:
        """Remove the rows before ``limit`` with ts < cutoff (compaction wrote them)."""
        self._scan()  # before the rows move: the newest stays known
        take = self._ts[:limit] < cutoff
        if not take.any():
            return
        keep = np.ones(self.n, dtype=bool)
        keep[:limit] = ~take
        kept = int(keep.sum())
        self.committed = int(keep[: self.committed].sum())
        # Right after a compaction the head holds a minute or two, and by the next one it
        # holds as many rows as now: arrays up to twice that stay (growing them again
        # costs a copy and fresh pages each time, and the peak is the same); larger ones,
        # after a backlog or when fewer series report, give the rest back.
        held = max(self.n, 4096)
        cap = len(self._ts) if len(self._ts) <= 2 * held else 2 * max(kept, 4096)
        for attr in ("_ts", "_sid", "_val"):
            arr = getattr(self, attr)
            new = arr if cap == len(arr) else np.empty(cap, dtype=arr.dtype)
            new[:kept] = arr[: self.n][keep]
            setattr(self, attr, new)
        self.n = kept
        self._rows_moved()

    def before(self, cutoff: int, limit: int) -> tuple[I64, I32, F64]:
        """Copies of the rows before ``limit`` with ts < cutoff."""
        sel = self._ts[:limit] < cutoff
        return self._ts[:limit][sel], self._sid[:limit][sel], self._val[:limit][sel]

    def drop_oldest_uncommitted(self, count: int, pinned: int = 0) -> int:
        """Forget the oldest ``count`` rows not yet committed (the memory cap while the disk
        refuses writes). Committed rows are durable and stay until compaction, and rows
        before ``pinned`` stay where they are (a commit or compaction is writing them)."""
        a = max(self.committed, pinned)
        count = min(count, self.n - a)
        if count <= 0:
            return 0
        self._scan()  # before the rows move: the newest stays known
        for attr in ("_ts", "_sid", "_val"):
            arr = getattr(self, attr)
            arr[a : self.n - count] = arr[a + count : self.n].copy()
        self.n -= count
        self._rows_moved()
        return count
