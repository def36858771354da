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
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from edgewatch.model import Sample, SeriesKey

# Events kept for Last-Event-ID resume (a collection every second or so: minutes).
REPLAY_EVENTS = 600
# Events queued for one slow subscriber before it is cut off (it may reconnect and resume).
SUBSCRIBER_QUEUE = 256
# Subscribers (open /api/stream clients) at once; one more gets HubFull (HTTP 503).
MAX_SUBSCRIBERS = 64


@dataclass(frozen=True)
class LiveEvent:
    id: int
    ts_ms: int
    samples: tuple[Sample, ...]


class SubscriberLagged(Exception):
    """The subscriber fell too far behind; it should reconnect with Last-Event-ID."""


class HubFull(Exception):
    """``max_subscribers`` subscriptions are open already."""


# Queue markers: the subscriber was cut off (lagged), or the hub closed.
_Marker = Literal["lagged", "closed"]


class Subscription:
    """One subscriber's events, registered from creation: ``async for`` them, then
    ``close()`` (idempotent) to release the slot. Iteration ends when the hub closes."""

    def __init__(
        self,
        queue: asyncio.Queue[LiveEvent | _Marker],
        replay: Sequence[LiveEvent],
        after_id: int | None,
        release: Callable[[asyncio.Queue[LiveEvent | _Marker]], None],
    ) -> None:
        self._queue = queue
        self._replay = deque(replay)
        self._after = after_id
        self._release = release

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> LiveEvent:
        """The next event; SubscriberLagged when cut off, StopAsyncIteration when closed."""
        while True:
            got = self._replay.popleft() if self._replay else await self._queue.get()
            if isinstance(got, str):
                if got == "lagged":
                    raise SubscriberLagged("subscriber fell behind")
                self._queue.put_nowait(got)  # closed: every later call ends too
                raise StopAsyncIteration
            if self._after is not None:
                if got.id <= self._after:
                    continue  # sent already, from the replay
                self._after = got.id
            return got

    def close(self) -> None:
        self._release(self._queue)


class LiveHub:
    def __init__(self, replay: int = REPLAY_EVENTS, max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self.max_subscribers = max_subscribers
        self._latest: dict[SeriesKey, tuple[int, float]] = {}
        self._events: deque[LiveEvent] = deque(maxlen=replay)
        self._ids = itertools.count(1)
        self._subscribers: set[asyncio.Queue[LiveEvent | _Marker]] = set()
        self._closed = False

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
                _replace_all(queue, "lagged")
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

    @property
    def closed(self) -> bool:
        return self._closed

    def open(self, after_id: int | None = None) -> Subscription:
        """A subscription, registered now: new events as they come; with ``after_id``,
        first the kept events after it. HubFull when ``max_subscribers`` are open;
        after ``close()`` the subscription ends at once."""
        if len(self._subscribers) >= self.max_subscribers:
            raise HubFull(f"{self.max_subscribers} live subscribers already")
        queue: asyncio.Queue[LiveEvent | _Marker] = asyncio.Queue(SUBSCRIBER_QUEUE)
        if self._closed:
            queue.put_nowait("closed")
        else:
            self._subscribers.add(queue)
        replay = [] if after_id is None or self._closed else self._after(after_id)
        return Subscription(queue, replay, after_id, self._subscribers.discard)

    async def subscribe(self, after_id: int | None = None) -> AsyncIterator[LiveEvent]:
        """``open()`` as an async generator (registered at its first iteration).

        Raises SubscriberLagged when the subscriber fell ``SUBSCRIBER_QUEUE`` events
        behind; returns when the hub closes.
        """
        subscription = self.open(after_id)
        try:
            async for event in subscription:
                yield event
        finally:
            subscription.close()

    def _after(self, after_id: int) -> list[LiveEvent]:
        return [e for e in self._events if e.id > after_id]

    def close(self) -> None:
        """End every subscriber's iteration (at shutdown); later ones end at once."""
        self._closed = True
        for queue in list(self._subscribers):
            _replace_all(queue, "closed")
        self._subscribers.clear()


def _replace_all(queue: asyncio.Queue[LiveEvent | _Marker], marker: _Marker) -> None:
    """Drop what ``queue`` holds and leave only ``marker`` (there is room for it then)."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(marker)
