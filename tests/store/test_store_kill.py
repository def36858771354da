"""SIGKILL a process that writes the store in fast simulated time, so kills land in
commits, compactions and rollup writes alike; after each kill the file is sound and
holds every sample committed before it, exactly."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgewatch.store import Store, StoreOptions

SERIES = 50
BASE_MS = 1_700_006_400_000
CHILD = r"""
import sys
from pathlib import Path
import numpy as np
from edgewatch.model import SeriesKey
from edgewatch.store import Store, StoreOptions

data_dir, start = Path(sys.argv[1]), int(sys.argv[2])
series, base = int(sys.argv[3]), int(sys.argv[4])
# A wall clock far ahead: compaction follows the simulated time of the samples.
store = Store.open(data_dir, StoreOptions(max_bytes=0), clock=lambda: 4e9)
sids = np.array(
    [store.series_id(SeriesKey.of("k", i=str(i))) for i in range(series)], dtype=np.int32
)
for tick in range(start, start + 10**6):
    values = np.round(np.sin(tick / 7 + np.arange(series)) * 100, 3)
    store.append_ids(base + tick * 1000, sids, values)
    if tick % 10 == 9:
        store.commit()
        print(tick, flush=True)
        store.maintain()
"""


def _expected(tick: int) -> np.ndarray:
    return np.round(np.sin(tick / 7 + np.arange(SERIES)) * 100, 3)


def _run_and_kill(data_dir: Path, start: int, seconds: float) -> int:
    """Run the writer from tick ``start``; SIGKILL it; return the last tick it committed."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir), str(start), str(SERIES), str(BASE_MS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    committed = start - 1
    deadline = time.monotonic() + seconds
    try:
        for line in child.stdout:
            committed = int(line)
            if time.monotonic() > deadline:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
    return committed


@pytest.mark.slow
def test_sigkill_during_compaction_loses_nothing_committed(tmp_path: Path) -> None:
    rng = random.Random(7)
    committed = -1
    compactions = 0
    for round_no in range(6):
        committed = max(committed, _run_and_kill(tmp_path, committed + 1, rng.uniform(0.8, 2.5)))
        conn = sqlite3.connect(tmp_path / "edgewatch.db")
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            compactions = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        finally:
            conn.close()
        store = Store.open(tmp_path, StoreOptions(max_bytes=0), readonly=True)
        try:
            data = {d.key.label("i"): d for d in store.read("k", 0, 2**62)}
        finally:
            store.close()
        assert len(data) == SERIES, f"round {round_no}"
        for i in (0, SERIES // 2, SERIES - 1):
            got = data[str(i)]
            ticks = (got.ts - BASE_MS) // 1000
            assert np.all(np.diff(got.ts) > 0), f"round {round_no}: duplicates or disorder"
            want = np.arange(committed + 1)
            assert np.array_equal(ticks[: committed + 1], want), f"round {round_no}: lost samples"
            values = np.array([_expected(int(t))[i] for t in want])
            assert np.array_equal(got.values[: committed + 1], values), f"round {round_no}"
    assert compactions > SERIES  # the kills really landed among compactions
