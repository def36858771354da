"""Store benchmark: size, ingest CPU, device writes, crash loss and reads.

Synthetic but realistic data: about 500 series at 1 s over one simulated day
(noisy gauges, counters, mostly-constant values, one-decimal percentages,
full-precision application floats), timestamps with millisecond jitter and
a few missed scrapes. Each figure is printed beside the same figure for a
plain row-per-sample SQLite table run in the same process (the baseline).

    python bench/store.py                 # the full day (about 2-3 minutes on 2 cores)
    python bench/store.py --hours 2       # a quick look

The last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from edgewatch.model import SeriesKey
from edgewatch.store import Store, StoreOptions
from edgewatch.store.codec import decode_block, encode_segments
from edgewatch.store.schema import chunk_base

TICK_MS = 1000
COMMIT_S = 10
DAY_MS = 86_400_000
# Data ends at a fixed, minute-aligned moment in the past; the store's clock is pinned there.
END_MS = 1_790_000_040_000

# (kind, share of the series). The shares follow what an edgewatch agent on an idle
# 2-core box actually stores (61 % constant, 20 % integers, 10 % two or three decimals,
# 8 % full-precision floats), shifted towards a busy device: fewer constants, more
# noisy gauges and busy counters.
KINDS = (
    ("noisy_gauge", 0.15),
    ("counter_busy", 0.12),
    ("counter_slow", 0.10),
    ("constant", 0.40),
    ("percent_1dp", 0.15),
    ("app_float", 0.08),
)


class Synth:
    """Deterministic generator of one block of ticks for every series."""

    def __init__(self, n_series: int, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        counts = [round(share * n_series) for _, share in KINDS]
        counts[0] += n_series - sum(counts)
        self.kind = np.repeat(np.arange(len(KINDS)), counts)
        self.n = n_series
        self.state = np.where(self.kind == 0, 2.0e9, 0.0)
        self.state[self.kind == 3] = self.rng.integers(1, 10**6, int((self.kind == 3).sum())) * 4096
        self.state[self.kind == 4] = 50.0

    def series_keys(self) -> list[SeriesKey]:
        return [
            SeriesKey.of(f"bench_{KINDS[k][0]}", series=str(i)) for i, k in enumerate(self.kind)
        ]

    def block(self, ticks: int) -> np.ndarray:
        """values[tick, series] for the next ``ticks`` seconds."""
        rng, k = self.rng, self.kind
        out = np.empty((ticks, self.n))
        for kind in range(len(KINDS)):
            cols = np.flatnonzero(k == kind)
            m = len(cols)
            if m == 0:
                continue
            if kind == 0:  # memory-like bytes in 4 KiB pages
                steps = rng.normal(0, 40, (ticks, m)).round() * 4096
            elif kind == 1:  # bytes counter of a busy interface
                steps = rng.poisson(12_000, (ticks, m)).astype(float)
            elif kind == 2:  # error counter: mostly still
                steps = (rng.random((ticks, m)) < 0.002).astype(float)
            elif kind == 3:  # filesystem size, link speed: changes rarely
                steps = np.where(rng.random((ticks, m)) < 0.0005, 4096.0, 0.0)
            elif kind == 4:  # CPU percent with one decimal
                steps = rng.normal(0, 1.5, (ticks, m))
            else:  # inference latency, full precision
                out[:, cols] = rng.lognormal(-3.5, 0.3, (ticks, m))
                continue
            walk = self.state[cols] + np.cumsum(steps, axis=0)
            if kind == 4:
                walk = np.clip(walk, 0.0, 100.0).round(1)
            out[:, cols] = walk
            self.state[cols] = walk[-1]
        return out


def timestamps(rng: np.random.Generator, tick0: int, ticks: int, n: int) -> np.ndarray:
    base = (tick0 + np.arange(ticks))[:, None] * TICK_MS
    return base + rng.integers(-4, 5, (ticks, n))


def block_device_stat(path: Path) -> Path | None:
    dev = os.stat(path).st_dev
    stat = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}/stat")
    return stat if stat.exists() else None


def sectors_written(stat: Path | None) -> int:
    return int(stat.read_text().split()[6]) * 512 if stat else 0


def pinned(ms: int) -> Callable[[], float]:
    return lambda: ms / 1000


def ingest_edgewatch(
    dirpath: Path, hours: float, n_series: int, on_missed: float = 0.001
) -> dict[str, float]:
    store = Store.open(dirpath, StoreOptions(max_bytes=0), clock=pinned(END_MS))
    synth = Synth(n_series)
    sids = np.array([store.series_id(k) for k in synth.series_keys()], dtype=np.int32)
    ticks = int(hours * 3600)
    tick0 = END_MS // TICK_MS - ticks
    dev = block_device_stat(dirpath)
    written0 = sectors_written(dev)
    cpu = 0.0
    samples = 0
    block_ticks = 600
    for b0 in range(0, ticks, block_ticks):
        nt = min(block_ticks, ticks - b0)
        vals = synth.block(nt)
        ts = timestamps(synth.rng, tick0 + b0, nt, n_series)
        present = synth.rng.random((nt, n_series)) >= on_missed
        for t in range(nt):
            row = present[t]
            c0 = time.thread_time()
            store.append_ids(ts[t][row], sids[row], vals[t][row])
            if (b0 + t + 1) % COMMIT_S == 0:
                store.commit()
                store.maintain()
            cpu += time.thread_time() - c0
            samples += int(row.sum())
    c0 = time.thread_time()
    store.close()
    cpu += time.thread_time() - c0
    written = sectors_written(dev) - written0
    size = sum(p.stat().st_size for p in dirpath.iterdir() if p.name.startswith("edgewatch.db"))
    print_breakdown(dirpath / "edgewatch.db", synth, samples)
    return {
        "samples": samples,
        "bytes_per_sample": size / samples,
        "ingest_us_per_sample": cpu / samples * 1e6,
        "device_bytes_written_per_sample": written / samples if dev else float("nan"),
    }


def print_breakdown(db: Path, synth: Synth, samples: int) -> None:
    """Where the bytes go: per table, per kind of series, and SQLite's own overhead."""
    conn = sqlite3.connect(db)
    per_kind = np.zeros(len(KINDS))
    # A pack row holds several series: its bytes are shared out in proportion to what
    # each of its series' chunk costs encoded alone.
    for rid, blob in conn.execute("SELECT id, data FROM chunks"):
        block = decode_block(blob, chunk_base(rid))
        seg = np.repeat(block.ids, np.diff(block.starts))
        alone, _, _ = encode_segments(seg, block.ts, block.values, tolerance=0.02)
        sizes = np.array([len(b) for _, b in alone], dtype=np.float64)
        kinds = synth.kind[(block.ids & 0xFFFFF) - 1]
        np.add.at(per_kind, kinds, len(blob) * sizes / sizes.sum())
    counts = np.bincount(synth.kind, minlength=len(KINDS))
    print("  raw chunks by kind of series (bytes per sample of that kind):")
    for i, (name, _) in enumerate(KINDS):
        mine = samples * counts[i] / synth.n
        print(f"    {name:14} {counts[i]:4} series  {per_kind[i] / mine:6.3f}")
    for table in ("chunks", "rollup_1m", "rollup_1h", "head"):
        total = conn.execute(f"SELECT coalesce(sum(length(data)), 0) FROM {table}").fetchone()[0]
        print(f"  {table:10} {total / samples:6.3f} bytes per sample")
    pages, free = (
        conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count")
    )
    print(f"  file: {pages} pages of 4 KiB, {free} free")
    conn.close()


def ingest_baseline(dirpath: Path, hours: float, n_series: int) -> dict[str, float]:
    db = dirpath / "rows.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(
        "CREATE TABLE samples (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, "
        "value REAL NOT NULL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID"
    )
    synth = Synth(n_series)
    ticks = int(hours * 3600)
    tick0 = END_MS // TICK_MS - ticks
    dev = block_device_stat(dirpath)
    written0 = sectors_written(dev)
    cpu = 0.0
    samples = 0
    sids = np.arange(n_series)
    pending: list[tuple[int, int, float]] = []
    for b0 in range(0, ticks, 600):
        nt = min(600, ticks - b0)
        vals = synth.block(nt)
        ts = timestamps(synth.rng, tick0 + b0, nt, n_series)
        for t in range(nt):
            rows = list(zip(sids.tolist(), ts[t].tolist(), vals[t].tolist(), strict=True))
            c0 = time.thread_time()
            pending += rows
            if (b0 + t + 1) % COMMIT_S == 0:
                conn.execute("BEGIN")
                conn.executemany("INSERT OR REPLACE INTO samples VALUES (?, ?, ?)", pending)
                conn.execute("COMMIT")
                pending.clear()
            cpu += time.thread_time() - c0
            samples += len(rows)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    written = sectors_written(dev) - written0
    size = sum(p.stat().st_size for p in dirpath.iterdir() if p.name.startswith("rows.db"))
    return {
        "samples": samples,
        "bytes_per_sample": size / samples,
        "ingest_us_per_sample": cpu / samples * 1e6,
        "device_bytes_written_per_sample": written / samples if dev else float("nan"),
    }


def median_ms(fn: Callable[[], object], repeat: int = 7) -> float:
    fn()  # warm the cache
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def read_figures(dirpath: Path, n_series: int) -> dict[str, float]:
    """Read one series: 24 h thinned to ~1,000 points, and 7 days of 1-minute averages."""
    store = Store.open(dirpath, StoreOptions(max_bytes=0), clock=pinned(END_MS))
    start = END_MS - DAY_MS
    sel = 'bench_percent_1dp{series="' + str(_first_of(n_series, 4)) + '"}'
    step = DAY_MS // 1000
    points: list[int] = []

    def read_24h(resolution: str) -> Callable[[], None]:
        def run() -> None:
            (data,) = store.read(sel, start, END_MS, step, resolution=resolution)
            points.append(len(data.ts))

        return run

    # auto: the store picks 1-minute rollups for an 86 s step; raw: decode every sample.
    read_auto = median_ms(read_24h("auto"))
    auto_points = points[-1]
    read_raw = median_ms(read_24h("raw"))
    print(f"  24 h read gave {auto_points} points (auto), {points[-1]} (raw)", flush=True)
    store.close()

    week_dir = dirpath / "week"
    week_dir.mkdir()
    week = Store.open(week_dir, StoreOptions(max_bytes=0), clock=pinned(END_MS))
    key = SeriesKey.of("bench_week", series="0")
    sid = np.array([week.series_id(key)], dtype=np.int32)
    rng = np.random.default_rng(3)
    ticks = 7 * 86400
    vals = np.clip(50 + np.cumsum(rng.normal(0, 1.5, ticks)), 0, 100).round(1)
    t0 = END_MS - 7 * DAY_MS
    for i in range(ticks):
        week.append_ids(t0 + i * TICK_MS, sid, vals[i : i + 1])
        if i % 600 == 599:
            week.commit()
            week.maintain()
    week.commit()

    def avg_7d() -> None:
        (data,) = week.read("bench_week", t0, END_MS, 60_000, agg="avg", resolution="1m")
        points.append(len(data.ts))

    read_7d = median_ms(avg_7d)
    print(f"  7 d read gave {points[-1]} points", flush=True)
    week.close()
    return {"read_24h_ms": read_auto, "read_24h_raw_ms": read_raw, "read_7d_1m_ms": read_7d}


def _first_of(n_series: int, kind: int) -> int:
    return int(np.flatnonzero(Synth(n_series).kind == kind)[0])


def baseline_reads(dirpath: Path) -> dict[str, float]:
    """The same two reads on a row-per-sample table holding a day of 10 series and a week of 1."""
    conn = sqlite3.connect(dirpath / "rows_read.db", isolation_level=None)
    conn.execute(
        "CREATE TABLE samples (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, "
        "value REAL NOT NULL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID"
    )
    rng = np.random.default_rng(5)
    conn.execute("BEGIN")
    for sid in range(10):
        vals = np.clip(50 + np.cumsum(rng.normal(0, 1.5, 86400)), 0, 100).round(1)
        ts = END_MS - DAY_MS + np.arange(86400) * TICK_MS
        conn.executemany(
            "INSERT INTO samples VALUES (?, ?, ?)",
            zip([sid] * 86400, ts.tolist(), vals.tolist(), strict=True),
        )
    week = np.clip(50 + np.cumsum(rng.normal(0, 1.5, 7 * 86400)), 0, 100).round(1)
    wts = END_MS - 7 * DAY_MS + np.arange(7 * 86400) * TICK_MS
    conn.executemany(
        "INSERT INTO samples VALUES (?, ?, ?)",
        zip([99] * len(wts), wts.tolist(), week.tolist(), strict=True),
    )
    conn.execute("COMMIT")
    step = DAY_MS // 1000
    q24 = (
        "SELECT (ts - ?) / ? AS b, avg(value) FROM samples "
        "WHERE series_id = 3 AND ts BETWEEN ? AND ? GROUP BY b"
    )
    q7 = (
        "SELECT ts / 60000 AS b, avg(value) FROM samples "
        "WHERE series_id = 99 AND ts BETWEEN ? AND ? GROUP BY b"
    )
    start = END_MS - DAY_MS
    r24 = median_ms(lambda: conn.execute(q24, (start, step, start, END_MS)).fetchall())
    r7 = median_ms(lambda: conn.execute(q7, (END_MS - 7 * DAY_MS, END_MS)).fetchall())
    conn.close()
    return {"read_24h_ms": r24, "read_24h_raw_ms": r24, "read_7d_1m_ms": r7}


# ------------------------------------------------------------------ kill -9


def _kill_child(dirpath: str, n_series: int) -> None:
    """Child: ingest deterministic values at 1 s in real time with the writer thread on."""
    store = Store.open(Path(dirpath), StoreOptions(max_bytes=0))
    keys = [SeriesKey.of("bench_kill", series=str(i)) for i in range(n_series)]
    sids = np.array([store.series_id(k) for k in keys], dtype=np.int32)
    store.start()
    base = int(time.time()) * 1000
    for tick in range(10_000):
        target = base + tick * TICK_MS
        time.sleep(max(0.0, target / 1000 - time.time()))
        store.append_ids(target, sids, _kill_values(tick, n_series))
        print(tick, target, flush=True)


def _kill_values(tick: int, n_series: int) -> np.ndarray:
    out: np.ndarray = np.round(np.sin(tick / 10 + np.arange(n_series)) * 100, 2)
    return out


def kill_figures(dirpath: Path, n_series: int, seconds: float) -> dict[str, float]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--kill-child", str(dirpath), "--series", str(n_series)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    appended: list[tuple[int, int]] = []
    deadline = time.monotonic() + seconds
    for line in _lines(child.stdout, deadline):
        tick, ts = map(int, line.split())
        appended.append((tick, ts))
    child.send_signal(signal.SIGKILL)
    child.wait()
    store = Store.open(dirpath, StoreOptions(max_bytes=0))
    data = store.read('bench_kill{series="0"}', 0, 2**62)
    found = {int(t) for t in data[0].ts} if data else set()
    exact = True
    for tick, ts in appended:
        if ts in found:
            (d,) = store.read(f'bench_kill{{series="{tick % n_series}"}}', ts, ts)
            exact &= bool(d.values[0] == _kill_values(tick, n_series)[tick % n_series])
    store.close()
    present = [tick for tick, ts in appended if ts in found]
    last_present = max(present, default=-1)
    holes = sum(1 for tick, ts in appended if tick < last_present and ts not in found)
    return {
        "kill9_appended_seconds": len(appended),
        "kill9_lost_seconds": len(appended) - len(present),
        "kill9_holes": holes,
        "kill9_replayed_exact": exact,
    }


def _lines(stream: object, deadline: float) -> Iterator[str]:
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
    while time.monotonic() < deadline:
        if sel.select(timeout=max(0.0, deadline - time.monotonic())):
            line = stream.readline()  # type: ignore[attr-defined]
            if not line:
                return
            yield line


# --------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    ap.add_argument("--series", type=int, default=500)
    ap.add_argument("--baseline-hours", type=float, default=1.0)
    ap.add_argument("--kill-seconds", type=float, default=27.0)
    ap.add_argument("--kill-child", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.kill_child:
        _kill_child(args.kill_child, args.series)
        return

    base = Path(os.environ.get("EDGEWATCH_BENCH_DIR", "/var/tmp"))
    with tempfile.TemporaryDirectory(prefix="edgewatch-bench-", dir=base) as tmp:
        root = Path(tmp)
        for name in ("ew", "rows", "kill"):
            (root / name).mkdir()
        t0 = time.monotonic()
        print(f"ingesting {args.hours:g} h of {args.series} series at 1 s ...", flush=True)
        ew = ingest_edgewatch(root / "ew", args.hours, args.series)
        print(f"  done in {time.monotonic() - t0:.0f} s; reading ...", flush=True)
        ew.update(read_figures(root / "ew", args.series))
        print(f"baseline: {args.baseline_hours:g} h of row-per-sample ...", flush=True)
        bl = ingest_baseline(root / "rows", args.baseline_hours, args.series)
        bl.update(baseline_reads(root / "rows"))
        print(f"kill -9 after {args.kill_seconds:g} s of real-time ingest ...", flush=True)
        kill = kill_figures(root / "kill", 100, args.kill_seconds)

    rows = [
        ("bytes per sample on disk", "bytes_per_sample", "{:.3f}"),
        ("ingest CPU per sample (us)", "ingest_us_per_sample", "{:.3f}"),
        ("device bytes written per sample", "device_bytes_written_per_sample", "{:.2f}"),
        ("24 h of one series -> ~1,000 points (ms)", "read_24h_ms", "{:.2f}"),
        ("  the same from raw samples only (ms)", "read_24h_raw_ms", "{:.2f}"),
        ("7 days of 1-minute averages (ms)", "read_7d_1m_ms", "{:.2f}"),
    ]
    print()
    print(f"{'figure':44} {'edgewatch':>12} {'row/sample':>12} {'ratio':>8}")
    for label, key, fmt in rows:
        ratio = bl[key] / ew[key] if ew[key] else float("nan")
        print(f"{label:44} {fmt.format(ew[key]):>12} {fmt.format(bl[key]):>12} {ratio:>7.1f}x")
    print(
        f"kill -9 after {kill['kill9_appended_seconds']} s: lost the last "
        f"{kill['kill9_lost_seconds']} s (commit interval {StoreOptions().commit_interval_s:g} s), "
        f"holes {kill['kill9_holes']}, replayed exactly: {kill['kill9_replayed_exact']}"
    )
    figures: dict[str, object] = {
        "samples": ew["samples"],
        "simulated_hours": args.hours,
        "series": args.series,
    }
    for key in (
        "bytes_per_sample",
        "ingest_us_per_sample",
        "device_bytes_written_per_sample",
        "read_24h_ms",
        "read_24h_raw_ms",
        "read_7d_1m_ms",
    ):
        figures[key] = round(ew[key], 4)
        figures[f"baseline_{key}"] = round(bl[key], 4)
    figures["baseline_simulated_hours"] = args.baseline_hours
    figures.update(kill)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
