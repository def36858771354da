"""Heartbeats (the ping registry) and the heartbeat check kind, with a clock the test moves."""

from __future__ import annotations

import threading

import pytest

from edgewatch.config.health import HealthConfig, HeartbeatCheck
from edgewatch.health.heartbeat import Heartbeats
from edgewatch.health.kinds.heartbeat import HeartbeatKind
from edgewatch.health.model import CheckEnv, Status
from edgewatch.health.runner import HealthMonitor

pytestmark = pytest.mark.anyio
T0 = 1_700_000_000.0


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def check(**kw: object) -> HeartbeatCheck:
    return HeartbeatCheck.model_validate({"name": "vision-loop", "period": 60, **kw})


def kind_with(clock: Clock, **kw: object) -> tuple[HeartbeatKind, Heartbeats]:
    beats = Heartbeats(clock=clock)
    return HeartbeatKind(check(**kw), CheckEnv(clock=clock, heartbeats=beats)), beats


# ------------------------------------------------------------------ the registry


def test_ping_records_success_start_and_fail_with_the_run_duration() -> None:
    clock = Clock()
    beats = Heartbeats(clock=clock)
    assert beats.get("job") is None
    beats.ping("job", "start")
    clock.t += 12.5
    state = beats.ping("job")
    assert (state.last_success, state.started, state.last_duration) == (T0 + 12.5, None, 12.5)
    state = beats.ping("job", "fail", now=T0 + 100)
    assert (state.last_fail, state.last_kind, state.pings) == (T0 + 100, "fail", 3)
    # A success without a start measures no run.
    state = beats.ping("job", now=T0 + 200)
    assert state.last_duration is None
    assert beats.names() == ["job"]


def test_ping_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown ping kind 'finish'"):
        Heartbeats().ping("job", "finish")


def test_pings_from_many_threads_are_all_counted() -> None:
    beats = Heartbeats()

    def pinger() -> None:
        for _ in range(500):
            beats.ping("job")

    threads = [threading.Thread(target=pinger) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    state = beats.get("job")
    assert state is not None and state.pings == 2000


# ------------------------------------------------------------------ the kind


async def test_before_the_first_ping_it_waits_then_fails_a_pipeline_that_never_starts() -> None:
    clock = Clock()
    kind, _ = kind_with(clock, grace=10)
    clock.t += 70
    first = await kind.observe()
    assert (first.status, first.value, first.unit) == (Status.PASS, 70.0, "seconds")
    assert first.message == "waiting for the first ping (70s)"
    clock.t += 1
    late = await kind.observe()
    assert late.status is Status.FAIL
    assert late.message == "no ping in 71s since the check started (period 60s + grace 10s)"


async def test_pings_keep_it_passing_and_silence_fails_it() -> None:
    clock = Clock()
    kind, beats = kind_with(clock)
    for _ in range(5):
        clock.t += 50
        beats.ping("vision-loop")
        clock.t += 5
        obs = await kind.observe()
        assert (obs.status, obs.value, obs.message) == (Status.PASS, 5.0, "last ping 5s ago")
    clock.t += 56
    dead = await kind.observe()
    assert (dead.status, dead.value) == (Status.FAIL, 61.0)
    assert dead.message == "no ping for 61s (period 60s)"
    beats.ping("vision-loop")
    assert (await kind.observe()).status is Status.PASS


async def test_a_fail_ping_fails_until_the_next_success() -> None:
    clock = Clock()
    kind, beats = kind_with(clock)
    beats.ping("vision-loop")
    clock.t += 3
    beats.ping("vision-loop", "fail")
    clock.t += 2
    obs = await kind.observe()
    assert (obs.status, obs.message) == (Status.FAIL, "fail ping 2s ago")
    beats.ping("vision-loop", "start")
    assert (await kind.observe()).status is Status.FAIL
    beats.ping("vision-loop")
    assert (await kind.observe()).status is Status.PASS


async def test_a_run_that_never_finishes_fails_at_max_duration() -> None:
    clock = Clock()
    kind, beats = kind_with(clock, period=3600, max_duration=120)
    beats.ping("vision-loop", "start")
    clock.t += 100
    running = await kind.observe()
    assert running.status is Status.PASS
    assert running.message == "waiting for the first ping (100s)"
    clock.t += 30
    stuck = await kind.observe()
    assert stuck.status is Status.FAIL
    assert stuck.message == "started 130s ago, not finished (max 120s)"
    beats.ping("vision-loop")
    done = await kind.observe()
    assert (done.status, done.message) == (Status.PASS, "last ping 0s ago, last run took 130.0s")


async def test_a_run_shorter_than_min_duration_warns() -> None:
    clock = Clock()
    kind, beats = kind_with(clock, min_duration=10)
    beats.ping("vision-loop", "start")
    clock.t += 2
    beats.ping("vision-loop")
    short = await kind.observe()
    assert (short.status, short.message) == (Status.WARN, "last run took 2.0s, shorter than 10s")
    beats.ping("vision-loop", "start")
    clock.t += 15
    beats.ping("vision-loop")
    assert (await kind.observe()).status is Status.PASS


async def test_without_a_registry_the_check_is_unknown() -> None:
    kind = HeartbeatKind(check(), CheckEnv(clock=Clock()))
    obs = await kind.observe()
    assert obs.status is Status.UNKNOWN
    assert "running agent" in obs.message


async def test_the_monitor_builds_the_kind_and_applies_thresholds_to_the_age() -> None:
    clock = Clock()
    beats = Heartbeats(clock=clock)
    config = HealthConfig.model_validate(
        {"checks": [{"kind": "heartbeat", "name": "cron", "period": 300, "warn_above": 120}]}
    )
    monitor = HealthMonitor(config, CheckEnv(clock=clock, heartbeats=beats))
    beats.ping("cron")
    clock.t += 60
    assert (await monitor.run_once("cron")).status is Status.PASS
    clock.t += 90
    result = await monitor.run_once("cron")
    assert (result.status, result.value, result.kind) == (Status.WARN, 150.0, "heartbeat")
    clock.t += 200
    assert (await monitor.run_once("cron")).status is Status.FAIL
