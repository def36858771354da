"""Health events: an episode of trouble opens and closes a health_events row."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edgewatch.config.health import HealthConfig
from edgewatch.health.events import HealthEvents, read_events
from edgewatch.health.model import CheckEnv, CheckResult, Status
from edgewatch.health.runner import HealthMonitor
from edgewatch.store import Store


def _monitor(tmp_path: Path, on: str, **extra: float) -> tuple[HealthMonitor, HealthEvents, Path]:
    flag = tmp_path / "flag"
    config = HealthConfig.model_validate(
        {"events_on": on,
         "checks": [{"kind": "file", "name": "flag", "path": str(flag), "component": "camera",
                     **extra}]}
    )  # fmt: skip
    Store.open(tmp_path / "data").close()  # the store file the events live in
    events = HealthEvents(tmp_path / "data", on=on)
    clock = iter(range(1_000, 100_000, 10))
    env = CheckEnv(clock=lambda: float(next(clock)))
    return HealthMonitor(config, env, on_change=events.on_change), events, flag


def test_a_failure_opens_an_event_and_recovery_closes_it(tmp_path: Path) -> None:
    monitor, events, flag = _monitor(tmp_path, "fail")

    async def main() -> None:
        flag.write_text("ok")
        await monitor.run_once("flag")  # pass: no event
        flag.unlink()
        await monitor.run_once("flag")  # fail: opens
        await monitor.run_once("flag")  # still failing: nothing new
        await events.flush()
        (open_event,) = read_events(tmp_path / "data", open_only=True)
        assert open_event.status is Status.FAIL and open_event.end_ms is None
        assert "does not exist" in open_event.message and open_event.component == "camera"
        flag.write_text("ok")
        await monitor.run_once("flag")  # pass: closes
        await events.flush()

    asyncio.run(main())
    (event,) = read_events(tmp_path / "data")
    # It ends when the pass began, and lasted from the first failure to then.
    assert event.end_ms == monitor.results()["flag"].since_ms
    assert event.end_ms is not None and event.end_ms > event.start_ms
    assert read_events(tmp_path / "data", open_only=True) == []


def test_warnings_count_only_when_asked(tmp_path: Path) -> None:
    for on, expected in (("fail", []), ("warn", [Status.WARN])):
        directory = tmp_path / on
        directory.mkdir()
        monitor, events, flag = _monitor(directory, on, warn_below=1e12)  # any age warns
        flag.write_text("ok")

        async def main(monitor: HealthMonitor = monitor, events: HealthEvents = events) -> None:
            await monitor.run_once("flag")
            await events.flush()

        asyncio.run(main())
        assert monitor.results()["flag"].status is Status.WARN
        assert [e.status for e in read_events(directory / "data")] == expected


def _result(name: str, status: Status, since_ms: int) -> CheckResult:
    return CheckResult(name, "file", "system", status, status, None, "", "m", 0.0, since_ms,
                       since_ms)  # fmt: skip


def _store(tmp_path: Path) -> Path:
    Store.open(tmp_path / "data").close()
    return tmp_path / "data"


def test_writes_run_in_the_order_of_the_changes(tmp_path: Path) -> None:
    # Each check fails then recovers at once: on a pool of threads, some closing
    # UPDATEs ran before their INSERT and left the event open for good.
    path = _store(tmp_path)
    events = HealthEvents(path)

    async def main() -> None:
        for i in range(300):
            name = f"c{i}"
            events.on_change(_result(name, Status.FAIL, 1000), _result(name, Status.PASS, 0))
            events.on_change(_result(name, Status.PASS, 2000), _result(name, Status.FAIL, 1000))
        await events.flush()

    try:
        asyncio.run(main())
    finally:
        events.close()
    assert read_events(path, open_only=True, limit=10_000) == []
    assert len(read_events(path, limit=10_000)) == 300


def _left_open(path: Path, *names: str) -> None:
    """Rows a previous run left open (it stopped while the checks failed)."""
    previous = HealthEvents(path)

    async def main() -> None:
        for name in names:
            previous.on_change(_result(name, Status.FAIL, 500), _result(name, Status.PASS, 0))
        await previous.flush()

    asyncio.run(main())
    previous.close()
    assert {e.check for e in read_events(path, open_only=True)} == set(names)


def test_the_first_result_after_start_closes_an_event_left_open(tmp_path: Path) -> None:
    path = _store(tmp_path)
    _left_open(path, "up", "down")
    events = HealthEvents(path)

    async def main() -> None:
        events.on_change(_result("up", Status.PASS, 3000), None)
        events.on_change(_result("down", Status.FAIL, 3000), None)
        await events.flush()

    asyncio.run(main())
    events.close()
    (still,) = read_events(path, open_only=True)  # "down" fails again: a new episode
    assert (still.check, still.start_ms) == ("down", 3000)
    closed = {(e.check, e.start_ms, e.end_ms) for e in read_events(path) if e.end_ms is not None}
    assert closed == {("up", 500, 3000), ("down", 500, 3000)}


def test_close_stale_closes_the_events_of_removed_checks(tmp_path: Path) -> None:
    path = _store(tmp_path)
    _left_open(path, "kept", "removed")
    events = HealthEvents(path)

    async def main() -> None:
        events.close_stale(["kept", "other"], 7000)
        await events.flush()

    asyncio.run(main())
    events.close()
    assert [e.check for e in read_events(path, open_only=True)] == ["kept"]
    (gone,) = [e for e in read_events(path) if e.check == "removed"]
    assert gone.end_ms == 7000
