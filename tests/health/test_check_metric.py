"""The ``metric`` check over a real store and query engine."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgewatch.config.health import HealthConfig
from edgewatch.health.kinds.metric import ABSENT_MESSAGE
from edgewatch.health.model import CheckEnv, CheckResult, Status
from edgewatch.health.runner import HealthMonitor
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import Engine
from edgewatch.store import Store, StoreOptions

T0_S = 1_767_225_600
FPS = {0: 12.0, 60: 8.0, 120: 3.0}  # seconds after T0 -> the pipeline's frame rate


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    store = Store.open(tmp_path / "edgewatch.db", StoreOptions())
    try:
        for offset, fps in FPS.items():
            store.append(
                (T0_S + offset) * 1000,
                [Sample(SeriesKey.of("vision_fps", camera="door"), fps)],
            )
        assert store.commit()
        yield Engine(store)
    finally:
        store.close()


def monitor(engine: Engine, clock: Clock, **settings: Any) -> HealthMonitor:
    check = {"name": "fps", "kind": "metric", "query": "vision_fps", **settings}
    config = HealthConfig.model_validate({"checks": [check]})
    return HealthMonitor(config, CheckEnv(clock=clock, engine=engine))


def run(mon: HealthMonitor) -> CheckResult:
    return asyncio.run(mon.run_once("fps"))


def test_frame_rate_crosses_warn_and_fail_thresholds(engine: Engine) -> None:
    clock = Clock(T0_S + 1)
    mon = monitor(engine, clock, warn_below=10, fail_below=5)
    seen = []
    for offset in FPS:
        clock.now = T0_S + offset + 1
        result = run(mon)
        seen.append((result.status, result.value))
    assert seen == [(Status.PASS, 12.0), (Status.WARN, 8.0), (Status.FAIL, 3.0)]
    assert result.message == '3 is below 5; {camera="door"} 3'


def test_expression_value_is_observed(engine: Engine) -> None:
    mon = monitor(engine, Clock(T0_S + 121), query="max(vision_fps) * 2", fail_above=5)
    result = run(mon)
    assert (result.status, result.value) == (Status.FAIL, 6.0)


def test_scalar_query(engine: Engine) -> None:
    result = run(monitor(engine, Clock(T0_S), query="scalar(vision_fps) + 0.5"))
    assert (result.status, result.value) == (Status.PASS, 12.5)


def test_nothing_returned_takes_the_absent_status(engine: Engine) -> None:
    default = run(monitor(engine, Clock(T0_S), query="gpu_temperature_celsius"))
    assert (default.status, default.message) == (Status.UNKNOWN, ABSENT_MESSAGE)
    failing = run(monitor(engine, Clock(T0_S), query="nothing_here", absent="fail"))
    assert (failing.status, failing.message) == (Status.FAIL, ABSENT_MESSAGE)
    before = run(monitor(engine, Clock(T0_S - 3600), absent="warn"))  # no sample yet
    assert (before.status, before.message) == (Status.WARN, ABSENT_MESSAGE)


def test_a_query_failing_at_run_time_is_unknown_with_the_engine_message(engine: Engine) -> None:
    # It parses (the config accepts it) but cannot be evaluated: two series on the
    # "one" side of a match.
    query = 'vector(1) + on() (vector(2) or label_replace(vector(3), "a", "b", "", ""))'
    result = run(monitor(engine, Clock(T0_S), query=query))
    assert result.status is Status.UNKNOWN
    assert result.message.startswith("query error: ")
    assert len(result.message) > len("query error: ")


def test_no_engine_is_unknown() -> None:
    config = HealthConfig.model_validate(
        {"checks": [{"name": "fps", "kind": "metric", "query": "vision_fps"}]}
    )
    result = asyncio.run(HealthMonitor(config, CheckEnv()).run_once("fps"))
    assert result.status is Status.UNKNOWN
    assert result.message == "no query engine (the store is not open)"
