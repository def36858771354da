"""Tunables of the store; the config's ``store:`` section maps onto these."""

from __future__ import annotations

from dataclasses import dataclass

DAY_S = 86_400


@dataclass(frozen=True)
class StoreOptions:
    # Seconds between commits of the head; a power cut loses at most this much.
    commit_interval_s: float = 10.0
    # Raw samples older than this are dropped (their rollups stay).
    raw_retention_s: float = 14 * DAY_S
    # 1-minute rollups (min, max, sum, count, last) are kept this long.
    rollup_1m_retention_s: float = 90 * DAY_S
    # 1-hour rollups are kept this long.
    rollup_1h_retention_s: float = 730 * DAY_S
    # Total file size cap in bytes (0: no cap); oldest data goes first.
    max_bytes: int = 2 * 1024**3
    # A timestamp within this fraction of the series' interval from its
    # scheduled tick is snapped onto the tick; larger jitter is kept exactly.
    timestamp_tolerance: float = 0.02
    # Samples kept in memory when the disk refuses writes (full, read-only);
    # beyond this the oldest are dropped and counted.
    max_pending_samples: int = 500_000
