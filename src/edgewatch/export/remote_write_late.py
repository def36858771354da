"""Late samples: those that reach the store after the sender has read past their time.

A collection is stamped with the tick it started at and reaches the store when
it finishes (a slow scrape, a collector queued behind the worker threads, a slow
health check), and ``POST /api/push`` may carry older timestamps still. The
sender reads ``(cursor, hi]`` once; a sample stamped at or before ``hi`` that is
appended after that read would never be sent.

``LateWatch`` is a store append hook (``Store.add_append_hook``). The sender
*publishes a mark* (the ``hi`` of the window it is about to read) before each
read; the hook records, per series, the oldest timestamp appended at or before
the mark since the sender last looked. The hook runs under the store's lock
right after the head took the samples, so every append is either visible to the
read that follows a publish, or recorded: none falls between. The sender then
re-reads just those series from their oldest late timestamp up to its cursor.

Only the series with late samples are re-read: re-sending every series would
make Prometheus refuse the request (their newer samples are already there:
"out of order sample"). The floors are kept per endpoint in the checkpoint row
(``remote_write_checkpoint``), so a restart does not forget them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edgewatch.model import SeriesKey
from edgewatch.store.selector import Selector
from edgewatch.store.transforms import I64

NO_MARK = -(2**63)


class LateWatch:
    """Per series id, the oldest timestamp appended at or before the published mark."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mark = NO_MARK
        self._floors: dict[int, int] = {}

    @property
    def mark(self) -> int:
        return self._mark

    def publish(self, mark: int) -> None:
        """The sender is about to read up to ``mark``: appends at or before it are late."""
        with self._lock:
            self._mark = max(self._mark, mark)

    def reset(self, mark: int) -> None:
        """The cursor went back (the clock was set back): the mark goes with it."""
        with self._lock:
            self._mark = mark

    def __call__(self, ts_ms: int | I64, sids: np.ndarray) -> None:
        """The store's append hook (under the store's lock): must stay cheap."""
        mark = self._mark
        if isinstance(ts_ms, np.ndarray):
            late = ts_ms <= mark
            if not late.any():
                return
            pairs = list(zip(np.asarray(sids)[late].tolist(), ts_ms[late].tolist(), strict=True))
        else:
            if ts_ms > mark:
                return
            stamp = int(ts_ms)
            pairs = [(sid, stamp) for sid in np.asarray(sids).tolist()]
        with self._lock:
            floors = self._floors
            for sid, ts in pairs:
                old = floors.get(sid)
                if old is None or ts < old:
                    floors[sid] = ts

    def take(self) -> dict[int, int]:
        """The floors recorded since the last take, and forget them."""
        with self._lock:
            floors, self._floors = self._floors, {}
        return floors

    def restore(self, floors: Mapping[int, int]) -> None:
        """Put floors back (their samples were not sent: stopping, or a checkpoint)."""
        with self._lock:
            for sid, ts in floors.items():
                old = self._floors.get(sid)
                if old is None or ts < old:
                    self._floors[sid] = ts

    def pending(self) -> dict[int, int]:
        """A copy of the floors not taken yet (for the checkpoint)."""
        with self._lock:
            return dict(self._floors)


@dataclass(frozen=True)
class KeySelector(Selector):
    """Exactly these series (a store read of the late series only)."""

    keys: frozenset[SeriesKey] = frozenset()

    def matches(self, key: SeriesKey) -> bool:
        return key in self.keys

    def select(self, keys: Sequence[SeriesKey]) -> list[SeriesKey]:
        return [k for k in keys if k in self.keys]
