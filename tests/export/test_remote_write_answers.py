"""What the sender does with each kind of refusal, against a real loopback receiver.

- 400/422 (bad data): the request is split down to the series at fault; only its
  samples are dropped, counted and logged once.
- 413: split in halves until it fits; a single series still too large is dropped.
- 3xx, 401, 403, 404, 405: the user must act; nothing is dropped, the cursor stays,
  the request is retried every backoff_max, one ERROR and one recovery line.
- A window retried past max_backlog is not sent first: the sender skips ahead.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from remote_write_receiver import Labels, Refuse, WriteReceiver
from remote_write_support import (
    CPU,
    MEM,
    MINUTES,
    T0,
    TEMP,
    FakeTime,
    drain,
    endpoint,
    expected,
    labels_of,
    sender,
)

from edgewatch.store import Store

ALL = 3 * MINUTES * 6


def holding(key: Labels, status: int) -> Refuse:
    """A receiver's policy: ``status`` for any request that holds series ``key``."""

    def refuse(series: dict[Labels, list[tuple[int, float]]]) -> int | None:
        return status if key in series else None

    return refuse


@pytest.mark.parametrize("status", [400, 422])
def test_bad_data_drops_only_the_series_at_fault_and_logs_once(
    store: Store, fake: FakeTime, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    with WriteReceiver(refuse=holding(labels_of(TEMP), status)) as rx:
        s = sender(store, fake, endpoint(rx.url, batch_size=100))
        with caplog.at_level(logging.WARNING, "edgewatch.export"):
            asyncio.run(drain(s))
        got = rx.accepted()
    assert got[labels_of(CPU)] == expected(store, CPU)  # every other sample arrived
    assert got[labels_of(MEM)] == expected(store, MEM)
    assert labels_of(TEMP) not in got
    assert s.dropped_rejected == MINUTES * 6 == ALL - s.samples_sent
    assert fake.sleeps == []  # no retry: bad data stays bad
    assert s.cursor == round(fake.now * 1000) - 30_000
    logged = [r.getMessage() for r in caplog.records if str(status) in r.getMessage()]
    assert len(logged) == 1
    assert "dropped the" in logged[0] and "temperature_celsius" in logged[0]


def test_413_splits_the_request_until_it_fits(store: Store, fake: FakeTime) -> None:
    def too_large(series: dict[Labels, list[tuple[int, float]]]) -> int | None:
        return 413 if sum(len(v) for v in series.values()) > 70 else None

    with WriteReceiver(refuse=too_large) as rx:
        s = sender(store, fake, endpoint(rx.url, batch_size=100))
        asyncio.run(drain(s))
        got = rx.accepted()
        statuses = [r.status for r in rx.received]
    assert 413 in statuses
    for key in (CPU, MEM, TEMP):
        assert got[labels_of(key)] == expected(store, key)  # in order, none twice
    assert s.samples_sent == ALL and s.dropped_rejected == 0


def test_413_for_a_single_series_drops_it(store: Store, fake: FakeTime) -> None:
    with WriteReceiver(refuse=holding(labels_of(MEM), 413)) as rx:
        s = sender(store, fake, endpoint(rx.url, batch_size=100))
        asyncio.run(drain(s))
        got = rx.accepted()
    assert set(got) == {labels_of(CPU), labels_of(TEMP)}
    assert got[labels_of(TEMP)] == expected(store, TEMP)
    assert s.dropped_rejected == MINUTES * 6


@pytest.mark.parametrize(
    "answer",
    [
        (301, {"Location": "https://prometheus.example/api/v1/write"}),
        (401, {}),
        (403, {}),
        (404, {}),
        (405, {}),
    ],
)
def test_an_answer_that_needs_the_user_keeps_every_sample(
    store: Store,
    fake: FakeTime,
    caplog: pytest.LogCaptureFixture,
    answer: tuple[int, dict[str, str]],
) -> None:
    status = answer[0]
    with WriteReceiver([answer, answer, answer]) as rx:  # then fixed: 204
        ep = endpoint(rx.url, backoff_initial="1s", backoff_max="90s", batch_size=100)
        s = sender(store, fake, ep)
        with caplog.at_level(logging.INFO, "edgewatch.export"):
            asyncio.run(drain(s))
        got = rx.accepted()
        received = list(rx.received)
    assert [r.status for r in received[:4]] == [status, status, status, 204]
    assert all(r.series == received[0].series for r in received[:4])  # the same request
    assert fake.sleeps == [90.0, 90.0, 90.0]  # backoff_max, not the quick doubling
    assert s.failures == 3 and s.dropped_rejected == 0
    for key in (CPU, MEM, TEMP):
        assert got[labels_of(key)] == expected(store, key)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"answered {status}" in errors[0].getMessage()
    assert "This needs you" in errors[0].getMessage()
    if status == 301:
        assert "redirects to https://prometheus.example/api/" in errors[0].getMessage()
    recovered = [r.getMessage() for r in caplog.records if "sending again" in r.getMessage()]
    assert len(recovered) == 1 and recovered[0].startswith("remote_write")


def test_a_401_keeps_the_cursor_while_it_lasts(store: Store, fake: FakeTime) -> None:
    with WriteReceiver([401] * 50) as rx:
        s = sender(store, fake, endpoint(rx.url, backoff_max="60s", max_backlog="7d"))

        async def stop_after_five(seconds: float) -> None:
            await fake.sleep(seconds)
            if len(fake.sleeps) == 5:
                s.stop()

        s._sleep = stop_after_five
        assert asyncio.run(drain(s, once=True)) is False
    assert s.cursor == T0 - 1 and s.samples_sent == 0
    assert s.failures == 5 and s.dropped_rejected == 0


def test_a_window_that_falls_past_max_backlog_while_retrying_is_not_sent(
    store: Store, fake: FakeTime
) -> None:
    """The outage outlasts max_backlog while the sender retries its first window: when the
    link returns, sending starts at now - max_backlog, the stale window is skipped."""
    with WriteReceiver([503, 503, 503]) as rx:
        ep = endpoint(rx.url, backoff_initial="5m", backoff_max="5m", max_backlog="35m")
        s = sender(store, fake, ep)
        asyncio.run(drain(s))
        got = rx.accepted()
    assert len(fake.sleeps) == 3 and sum(fake.sleeps) >= 7.5 * 60  # time moved on
    oldest = min(t for samples in got.values() for t, _ in samples)
    assert oldest > T0 + 3 * 60_000  # nothing from the window that went stale
    assert s.dropped_backlog > 0
    assert s.cursor == round(fake.now * 1000) - 30_000
