"""Health events: an episode of trouble opens and closes a health_events row."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edgewatch.config.health import HealthConfig
from edgewatch.health.events import HealthEvents, read_events
from edgewatch.health.model import CheckEnv, Status
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
