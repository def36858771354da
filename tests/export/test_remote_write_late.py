"""Samples that reach the store after the sender's cursor passed their timestamp.

A collection is stamped with the tick it started at and stored when it ends (a
slow scrape, a collector queued behind the worker threads, a push with an old
timestamp): the sender must still send it, once it arrives, in order per series.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from remote_write_receiver import WriteReceiver
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

from edgewatch.export.remote_write_checkpoint import Checkpoints
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store

APP = SeriesKey.of("app_frames_total", job="vision")  # a slow scrape's series
OTHER = SeriesKey.of("other_metric")  # not sent: the endpoint keeps node_/app_/temp.*
KEEP = "(node_|app_|temperature_).*"
END = T0 + MINUTES * 60_000  # the store's samples end before this


def test_a_sample_stamped_before_the_cursor_is_sent_when_it_arrives(
    store: Store, fake: FakeTime
) -> None:
    with WriteReceiver() as rx:
        s = sender(store, fake, endpoint(rx.url, keep=KEEP))

        async def scenario() -> None:
            await drain(s, close=False)
            assert s.cursor > END  # the sender has read past END
            # A scrape that started at END and took 40 s: its samples arrive now.
            store.append(END, [Sample(APP, 7.0), Sample(CPU, 1.5), Sample(OTHER, 1.0)])
            fake.now += 5
            await drain(s)

        asyncio.run(scenario())
        got = rx.accepted()
    assert got[labels_of(APP)] == [(END, 7.0)]
    assert got[labels_of(CPU)] == [*expected(store, CPU)]  # in order, END last
    assert got[labels_of(CPU)][-1] == (END, 1.5)
    assert labels_of(OTHER) not in got  # the endpoint's filter holds for late samples
    assert got[labels_of(MEM)] == expected(store, MEM)  # the others are not sent again


def test_a_sample_stored_just_after_the_window_was_read_is_not_lost(
    store: Store, fake: FakeTime
) -> None:
    """The moment of the race: the window (cursor, hi] has been read, the cursor is not
    at hi yet, and a sample stamped inside the window is stored."""
    real_read = store.read
    late_ts: list[int] = []

    def read_then_store(selector: Any, start: int, end: int, *a: Any, **kw: Any) -> Sequence[Any]:
        out = real_read(selector, start, end, *a, **kw)
        if not late_ts and end - start > 60_000:  # the first window, read by the sender
            late_ts.append(end - 1)
            store.append(end - 1, [Sample(APP, 3.0)])
        return out

    store.read = read_then_store  # type: ignore[method-assign,assignment]
    with WriteReceiver() as rx:
        asyncio.run(drain(sender(store, fake, endpoint(rx.url, keep=KEEP))))
        got = rx.accepted()
    assert late_ts and got[labels_of(APP)] == [(late_ts[0], 3.0)]
    assert got[labels_of(TEMP)] == expected(store, TEMP)


def test_late_samples_not_sent_yet_survive_a_restart(store: Store, fake: FakeTime) -> None:
    with WriteReceiver() as rx:
        first = sender(store, fake, endpoint(rx.url, name="central", keep=KEEP))
        asyncio.run(drain(first))
        store.append(END, [Sample(APP, 9.0)])  # arrives late, then the agent stops
        first.save()
        assert Checkpoints(store.path).load_late("central") == {store.series_id(APP): END}
        fake.now += 5
        second = sender(store, fake, endpoint(rx.url, name="central", keep=KEEP))
        assert second.cursor == first.cursor
        asyncio.run(drain(second))
        got = rx.accepted()
        second.save()
    assert got[labels_of(APP)] == [(END, 9.0)]
    assert Checkpoints(store.path).load_late("central") == {}


def test_a_late_sample_older_than_max_backlog_is_not_sent(store: Store, fake: FakeTime) -> None:
    with WriteReceiver() as rx:
        s = sender(store, fake, endpoint(rx.url, keep=KEEP, max_backlog="20m"))

        async def scenario() -> None:
            await drain(s, close=False)
            store.append(T0 + 60_000, [Sample(APP, 1.0)])  # 30 minutes old: past the backlog
            store.append(END - 60_000, [Sample(APP, 2.0)])  # within it
            await drain(s)

        asyncio.run(scenario())
        got = rx.accepted()
    assert got[labels_of(APP)] == [(END - 60_000, 2.0)]
