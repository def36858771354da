"""The outward dead man's switch against a real HTTP receiver."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from webhook_receiver import Receiver

from edgewatch.config.notify import DeadmanSettings
from edgewatch.notify.deadman import DeadMansSwitch

UUID = "5f0c6a3e-1b7d-4c55-9a53-0e6a3c1d2b4f"


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def test_pings_and_logs_an_outage_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    with Receiver([200, 500, (503, "down"), 502, 200]) as receiver:
        switch = DeadMansSwitch(DeadmanSettings(url=f"{receiver.url}/{UUID}", method="POST"), clock)
        with caplog.at_level(logging.INFO, logger="edgewatch.notify.deadman"):
            results = []
            for _ in range(5):
                results.append(asyncio.run(switch.ping()))
                clock.t += 60
        assert [r.method for r in receiver.requests] == ["POST"] * 5
        assert receiver.paths() == [f"/{UUID}"] * 5
    assert results == [True, False, False, False, True]
    assert (switch.pings_ok, switch.pings_failed) == (2, 3)
    assert switch.down_since is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "answered 500" in warnings[0].getMessage()
    recovered = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert recovered == [f"dead man's switch: {receiver.url} reachable again after 180 s"]
    assert all(UUID not in r.getMessage() for r in caplog.records)


def test_run_pings_every_interval_until_stopped() -> None:
    async def scenario(receiver: Receiver) -> None:
        stop = asyncio.Event()
        switch = DeadMansSwitch(DeadmanSettings(url=receiver.url + "/ping", interval=0.05))
        task = asyncio.create_task(switch.run(stop))
        deadline = time.monotonic() + 10
        while receiver.count() < 3:
            assert time.monotonic() < deadline, "fewer than 3 pings in 10 s"
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)

    with Receiver() as receiver:
        asyncio.run(scenario(receiver))
        assert {r.method for r in receiver.requests} == {"GET"}


def test_no_url_means_off() -> None:
    switch = DeadMansSwitch(DeadmanSettings())
    assert not switch.enabled
    asyncio.run(switch.run(asyncio.Event()))  # returns at once
    assert asyncio.run(switch.ping()) is False
    assert switch.pings_failed == 0


def test_the_url_is_kept_secret_in_the_config() -> None:
    settings = DeadmanSettings(url=f"https://hc-ping.com/{UUID}")
    assert UUID not in repr(settings)
    assert UUID not in settings.model_dump_json()
