"""The live fan-out: the latest value of every series, and each new collection
as an event for subscribers (the dashboard's Server-Sent Events stream).

Everything here runs on the agent's event loop: ``publish`` is called by the
agent's ingest (the scheduler's sink) and by the push endpoint, never from a
worker thread.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from edgewatch.model import Sample, SeriesKey

# Events kept for Last-Event-ID resume (a collection every second or so: minutes).
REPLAY_EVENTS = 600
# Events queued for one slow subscriber before it is cut off (it may reconnect and resume).
SUBSCRIBER_QUEUE = 256


@dataclass(frozen=True)
class LiveEvent:
    id: int
    ts_ms: int
    samples: tuple[Sample, ...]


class SubscriberLagged(Exception):
    """The subscriber fell too far behind; it should reconnect with Last-Event-ID."""


class LiveHub:
    def __init__(self, replay: int = REPLAY_EVENTS) -> None:
        self._latest: dict[SeriesKey, tuple[int, float]] = {}
        self._events: deque[LiveEvent] = deque(maxlen=replay)
        self._ids = itertools.count(1)
        self._subscribers: set[asyncio.Queue[LiveEvent | None]] = set()

    def publish(self, ts_ms: int, samples: Sequence[Sample]) -> LiveEvent:
        latest = self._latest
        for s in samples:
            old = latest.get(s.key)
            if old is None or old[0] <= ts_ms:
                latest[s.key] = (ts_ms, s.value)
        event = LiveEvent(next(self._ids), ts_ms, tuple(samples))
        self._events.append(event)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # Cut it off. Its unread events go too: it resumes (Last-Event-ID)
                # from the last one it saw, and the replay buffer still holds them.
                self._subscribers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)
        return event

    def latest(self) -> dict[SeriesKey, tuple[int, float]]:
        """A copy of the latest (timestamp ms, value) of every series seen."""
        return dict(self._latest)

    def forget(self, keys: Sequence[SeriesKey]) -> None:
        for key in keys:
            self._latest.pop(key, None)

    @property
    def last_event_id(self) -> int:
        return self._events[-1].id if self._events else 0

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def subscribe(self, after_id: int | None = None) -> AsyncIterator[LiveEvent]:
        """New events as they come; with ``after_id``, first the kept events after it.

        Raises SubscriberLagged when the subscriber fell ``SUBSCRIBER_QUEUE`` events behind.
        """
        queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        try:
            if after_id is not None:
                for event in list(self._events):
                    if event.id > after_id:
                        yield event
                        after_id = event.id
            while True:
                got = await queue.get()
                if got is None:
                    raise SubscriberLagged("subscriber fell behind")
                if after_id is not None and got.id <= after_id:
                    continue
                yield got
        finally:
            self._subscribers.discard(queue)
