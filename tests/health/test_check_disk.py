"""The ``disk`` check on tmp_path's real filesystem, and its time-to-full from a real
store and query engine holding a synthetic falling series."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from health_local_helpers import Clock, observe

from edgewatch.config.health import DiskCheck
from edgewatch.health.kinds.disk import DiskKind, trend_query
from edgewatch.health.model import CheckEnv, Status
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import Engine
from edgewatch.store import Store, StoreOptions

NOW_S = 1_767_225_600.0
GIB = 1 << 30


def _kind(mountpoint: Path | str, env: CheckEnv | None = None, /, **fields: object) -> DiskKind:
    settings = DiskCheck.model_validate({"name": "disk", "mountpoint": str(mountpoint), **fields})
    return DiskKind(settings, env or CheckEnv())


def test_free_space_of_a_real_filesystem(tmp_path: Path) -> None:
    st = os.statvfs(tmp_path)
    obs = observe(_kind(tmp_path, min_free_ratio=0.0, min_free_inodes_ratio=0.0))
    assert obs.status is Status.PASS and obs.unit == "ratio"
    assert obs.value == pytest.approx(st.f_bavail / st.f_blocks, abs=0.01)
    assert obs.message.startswith(f"{tmp_path}: ") and "free of" in obs.message


def test_below_min_free_ratio_fails(tmp_path: Path) -> None:
    obs = observe(_kind(tmp_path, min_free_ratio=1.0, min_free_inodes_ratio=0.0))
    assert obs.status is Status.FAIL and obs.message.endswith("below 100.0%")
    assert obs.value is not None and 0 <= obs.value < 1


def test_below_min_free_inodes_fails(tmp_path: Path) -> None:
    if os.statvfs(tmp_path).f_files == 0:
        pytest.skip("this filesystem has no inode count")
    obs = observe(_kind(tmp_path, min_free_ratio=0.0, min_free_inodes_ratio=1.0))
    assert obs.status is Status.FAIL
    assert "of inodes free, below 100.0%" in obs.message


def test_missing_mountpoint_fails(tmp_path: Path) -> None:
    obs = observe(_kind(tmp_path / "gone"))
    assert obs.status is Status.FAIL and obs.message == f"{tmp_path / 'gone'} does not exist"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """Six hours of node_filesystem_avail_bytes every minute: tmp_path loses 1 GiB an
    hour from 10 GiB (empty 4 h from now), tmp_path/'my "flat"' stays at 50 GiB."""
    (tmp_path / 'my "flat"').mkdir()
    store = Store.open(tmp_path / "db", StoreOptions(timestamp_tolerance=0.0),
                       clock=lambda: NOW_S)  # fmt: skip
    falling = SeriesKey.of("node_filesystem_avail_bytes", mountpoint=str(tmp_path),
                           device="/dev/sda2", fstype="ext4")  # fmt: skip
    flat = SeriesKey.of("node_filesystem_avail_bytes", mountpoint=str(tmp_path / 'my "flat"'),
                        device="/dev/sda3", fstype="ext4")  # fmt: skip
    for minute in range(6 * 60 + 1):
        ts_ms = round(NOW_S * 1000) - (6 * 60 - minute) * 60_000
        avail = 10 * GIB - (minute / 60) * GIB
        store.append(ts_ms, [Sample(falling, avail), Sample(flat, 50.0 * GIB)])
    assert store.commit()
    yield store
    store.close()


def test_trend_warns_when_full_within(tmp_path: Path, store: Store) -> None:
    env = CheckEnv(engine=Engine(store), clock=Clock(NOW_S))
    base = {"min_free_ratio": 0.0, "min_free_inodes_ratio": 0.0}
    # the real statvfs of tmp_path passes; its trend in the store says empty in 4 h
    obs = observe(_kind(tmp_path, env, **base, full_within="6h"))
    assert obs.status is Status.WARN and obs.value is not None and obs.value > 0
    assert obs.message.startswith(f"{tmp_path}: full within 6h at the rate of the last 6h")
    obs = observe(_kind(tmp_path, env, **base, full_within="2h"))
    assert obs.status is Status.PASS and "full within" not in obs.message
    assert _kind(tmp_path, env, **base)._predicted_avail(4 * 3600 + 60) == pytest.approx(
        -GIB / 60, rel=1e-6
    )


def test_trend_is_quiet_for_a_flat_or_unknown_series(tmp_path: Path, store: Store) -> None:
    env = CheckEnv(engine=Engine(store), clock=Clock(NOW_S))
    base = {"min_free_ratio": 0.0, "min_free_inodes_ratio": 0.0, "full_within": "30d"}
    flat = _kind(tmp_path / 'my "flat"', env, **base)
    assert flat._predicted_avail(30 * 86400) == pytest.approx(50.0 * GIB)
    assert observe(flat).status is Status.PASS
    (tmp_path / "unrecorded").mkdir()
    unknown = _kind(tmp_path / "unrecorded", env, **base)
    assert unknown._predicted_avail(30 * 86400) is None
    assert observe(unknown).status is Status.PASS
    # no engine (the agent runs without a store): no trend, no error
    assert observe(_kind(tmp_path, **base)).status is Status.PASS


def test_trend_query_quotes_the_mountpoint() -> None:
    assert trend_query('/my "logs"\\x', 3600) == (
        'predict_linear(node_filesystem_avail_bytes{mountpoint="/my \\"logs\\"\\\\x"}[6h], 3600)'
    )
