"""The embedded time-series store (SQLite: series index, head, compressed chunks, rollups).

Public API::

    store = Store.open(path, StoreOptions(), readonly=False)
    store.start()                      # writer thread: commits, compaction, rollups, retention
    store.append(ts_ms, samples)       # cheap, in memory, thread-safe
    store.series("node_cpu_seconds_total{mode=\"idle\"}")   -> list[SeriesKey]
    store.read(selector, start_ms, end_ms, step_ms=None)    -> list[SeriesData]
    store.stats()                      -> StoreStats
    store.close()                      # final commit, stops the writer
"""

from edgewatch.store.options import StoreOptions
from edgewatch.store.store import SeriesData, Store, StoreCorrupt, StoreError, StoreStats

__all__ = ["SeriesData", "Store", "StoreCorrupt", "StoreError", "StoreOptions", "StoreStats"]
