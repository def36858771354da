"""One endpoint's sender: reads the store from its checkpoint and forwards, in time order.

The cursor (``remote_write_checkpoint``) says that every sample up to it has
been accepted. Each step reads the window ``(cursor, hi]`` of raw samples from
the store (``hi`` at most ``delay`` before now, and within the 10-minute chunk
the cursor is in, so a backfill reads each chunk once), cuts it into requests of
``batch_size`` samples (a series' samples stay in time order across requests)
and posts them one after the other (``remote_write_delivery``: retries, splits,
drops). Only when every request of the window is done does the cursor move to
``hi``: an outage of hours is back-filled in order when the link returns, and a
crash resends at most the windows since the last checkpoint save.

Samples that reach the store after the cursor passed their timestamp (a slow
collection, a push with an old timestamp) are caught by ``remote_write_late``:
each step first re-sends those series from their oldest late sample up to the
cursor, then reads the next window.

Past ``max_backlog`` (also while a request is being retried) the cursor jumps
forward and the skipped samples are counted. The blocking work (store reads,
checkpoints, encoding, compression) runs in worker threads; the HTTP requests
on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from edgewatch.config.remote_write import RemoteWriteEndpoint
from edgewatch.export.remote_write_checkpoint import Checkpoints
from edgewatch.export.remote_write_client import WriteClient
from edgewatch.export.remote_write_delivery import Batch, Delivery, Result
from edgewatch.export.remote_write_encode import Part
from edgewatch.export.remote_write_late import KeySelector, LateWatch
from edgewatch.model import SeriesKey
from edgewatch.store.selector import Matcher, Selector

log = logging.getLogger(__name__)

CHUNK_MS = 600_000  # the store's chunk span: windows never cross one
MIN_WINDOW_MS = 1_000
MAX_WINDOW_SAMPLES = 200_000  # memory bound of one window (about 5 MB in flight)
CHECKPOINT_EVERY_S = 10.0  # the cursor is saved at most this often (and at stop)
CLOCK_STEP_MS = 120_000  # a cursor this far ahead of the clock: the clock was set back


class SampleSource(Protocol):
    """What the sender needs of the store (``edgewatch.store.Store``)."""

    def read(
        self, selector: str | Selector, start_ms: int, end_ms: int, step_ms: int | None = None,
        *, agg: str = "avg", resolution: str = "auto",
    ) -> Sequence[Any]: ...  # fmt: skip

    def series(self, selector: str | Selector | None = None) -> list[SeriesKey]: ...

    def series_id(self, key: SeriesKey) -> int: ...

    def add_append_hook(self, hook: LateWatch) -> None: ...

    def remove_append_hook(self, hook: LateWatch) -> None: ...


class Window(NamedTuple):
    batches: list[Batch]
    samples: int


def name_selector(keep: str | None, drop: str | None) -> Selector:
    """The series an endpoint sends: metric name matches ``keep`` and not ``drop`` (RE2)."""
    matchers = []
    if keep is not None:
        matchers.append(Matcher.make("__name__", "=~", keep))
    if drop is not None:
        matchers.append(Matcher.make("__name__", "!~", drop))
    return Selector(tuple(matchers))


def split(parts: Sequence[Part], size: int) -> list[list[Part]]:
    """Requests of at most ``size`` samples; a long series continues in the next one."""
    batches: list[list[Part]] = []
    current: list[Part] = []
    room = size
    for part in parts:
        start = 0
        while start < len(part.ts):
            take = min(room, len(part.ts) - start)
            end = start + take
            current.append(Part(part.key, part.ts[start:end], part.values[start:end]))
            start, room = end, room - take
            if room == 0:
                batches.append(current)
                current, room = [], size
    if current:
        batches.append(current)
    return batches


class EndpointSender:
    def __init__(
        self,
        endpoint: RemoteWriteEndpoint,
        source: SampleSource,
        checkpoints: Checkpoints,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rng: random.Random | None = None,
        client: WriteClient | None = None,
        start_ms: int | None = None,
    ) -> None:
        """No I/O here (it runs on the event loop): the checkpoint is read by ``load()``,
        which ``run()`` and ``step()`` call in a worker thread. ``start_ms``: where a new
        endpoint (no checkpoint yet) starts; default now - delay."""
        self.endpoint = endpoint
        self.name = endpoint.endpoint_name()
        self._source = source
        self._checkpoints = checkpoints
        self._clock = clock
        self._monotonic = monotonic
        self._start_ms = start_ms
        self._stopping = asyncio.Event()
        self._sleep = sleep or self._interruptible_sleep
        self.client = client or WriteClient(endpoint)
        self.delivery = Delivery(
            endpoint,
            self.name,
            self.client,
            stopping=self._stopping,
            is_stale=self._stale,
            monotonic=monotonic,
            sleep=lambda seconds: self._sleep(seconds),
            rng=rng,
        )
        self._selector = name_selector(endpoint.keep, endpoint.drop)
        self._late = LateWatch()
        self._keys: dict[int, SeriesKey | None] = {}  # series id -> key, None: not sent
        self._cursor: int | None = None
        self._saved: int | None = None
        self._saved_at = monotonic()
        self._window_ms = CHUNK_MS
        self._rate = 0.0  # samples per ms seen in the last windows (for `pending`)
        self._error: str | None = None
        self._late_warned = False
        self.dropped_backlog = 0
        self.late_resent = 0  # samples re-read because they reached the store late
        source.add_append_hook(self._late)

    # ------------------------------------------------------------------ figures

    @property
    def cursor(self) -> int:
        if self._cursor is None:
            raise RuntimeError("the checkpoint is not loaded yet (load())")
        return self._cursor

    @cursor.setter
    def cursor(self, value: int) -> None:
        self._cursor = value
        self._late.publish(value)

    @property
    def samples_sent(self) -> int:
        return self.delivery.samples_sent

    @property
    def bytes_sent(self) -> int:
        return self.delivery.bytes_sent

    @property
    def requests(self) -> int:
        return self.delivery.requests

    @property
    def failures(self) -> int:
        return self.delivery.failures

    @property
    def dropped_rejected(self) -> int:
        return self.delivery.dropped_rejected

    @property
    def _delay_ms(self) -> int:
        return round(self.endpoint.delay * 1000)

    def _now_ms(self) -> int:
        return round(self._clock() * 1000)

    def _backlog_floor(self) -> int:
        return self._now_ms() - round(self.endpoint.max_backlog * 1000)

    def _stale(self) -> bool:
        return self._cursor is not None and self._cursor < self._backlog_floor()

    def lag_seconds(self) -> float:
        if self._cursor is None:
            return 0.0
        return max(0.0, (self._now_ms() - self._cursor) / 1000)

    def pending(self) -> float:
        """Samples not sent yet: the recent sample rate times the time behind (an estimate)."""
        if self._cursor is None:
            return 0.0
        return self._rate * max(0, self._now_ms() - self._cursor)

    # --------------------------------------------------------------------- loop

    async def run(self) -> None:
        """Send until ``stop()``; the cursor is saved on the way out."""
        try:
            while not self._stopping.is_set():
                try:
                    more = await self.step()
                except Exception as exc:  # a store error must not end the sender: count, log
                    more = False
                    self.delivery.failures += 1
                    if str(exc) != self._error:
                        self._error = str(exc)
                        log.exception("remote_write %s: step failed (retrying)", self.name)
                if not more and not self._stopping.is_set():
                    await self._sleep(self.endpoint.interval)
        finally:
            self._source.remove_append_hook(self._late)
            try:
                if self._cursor is not None:
                    await asyncio.to_thread(self.save)
            finally:
                await self.client.aclose()

    def stop(self) -> None:
        self._stopping.set()

    def load(self) -> None:
        """Read the checkpoint (blocking: SQLite); a new endpoint starts at ``start_ms``."""
        if self._cursor is not None:
            return
        saved = self._checkpoints.load(self.name)
        if saved is None:
            saved = self._now_ms() - self._delay_ms if self._start_ms is None else self._start_ms
            self._checkpoints.save(self.name, saved, self._now_ms())
        else:
            self._late.restore(self._checkpoints.load_late(self.name))
        self.cursor = self._saved = saved
        self._saved_at = self._monotonic()
        log.info(
            "remote_write %s: sending to %s from %s",
            self.name,
            self.client.where,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(saved / 1000)),
        )

    def save(self) -> None:
        """Write the cursor (and the late samples still to send) to the checkpoint table
        (blocking: SQLite)."""
        late = self._late.pending()
        if self.cursor != self._saved or late:
            self._checkpoints.save(self.name, self.cursor, self._now_ms(), late)
            self._saved = self.cursor
        self._saved_at = self._monotonic()

    async def step(self) -> bool:
        """Send one window; True when more is ready to send at once (a backfill)."""
        if self._cursor is None:
            await asyncio.to_thread(self.load)
        now = self._now_ms()
        limit = now - self._delay_ms
        floor = self._backlog_floor()
        if self.cursor > now + CLOCK_STEP_MS:
            log.warning(
                "remote_write %s: the checkpoint is %.0f s ahead of the clock (set back?); "
                "sending from now on",
                self.name,
                (self.cursor - now) / 1000,
            )
            self._late.reset(limit)
            self.cursor = limit
        if self.cursor < floor:
            await asyncio.to_thread(self._skip_to, floor)
        late = await self._send_late(floor)
        if late is not Result.DONE:
            return late is Result.STALE  # stale: the next step skips ahead at once
        if self.cursor >= limit:
            return False
        chunk_end = ((self.cursor + 1) // CHUNK_MS + 1) * CHUNK_MS - 1  # of the next sample
        hi = min(limit, chunk_end, self.cursor + self._window_ms)
        self._late.publish(hi)  # before the read: what is appended after it is caught
        window = await asyncio.to_thread(self._prepare, self.cursor, hi)
        for batch in window.batches:
            result = await self.delivery.deliver(batch)
            if result is not Result.DONE:
                return result is Result.STALE  # stopping: the cursor stays before this window
        self.cursor = hi
        if self._monotonic() - self._saved_at >= CHECKPOINT_EVERY_S:
            await asyncio.to_thread(self.save)
        return hi < limit

    # ----------------------------------------------------------- store side

    def _prepare(self, lo: int, hi: int) -> Window:
        """The samples in ``(lo, hi]``, encoded and compressed as requests."""
        data = self._source.read(self._selector, lo + 1, hi, resolution="raw")
        parts = [Part(d.key, d.ts, d.values) for d in data if len(d.ts)]
        total = sum(len(p.ts) for p in parts)
        rate = total / (hi - lo)
        self._rate = rate if self._rate == 0 else 0.5 * self._rate + 0.5 * rate
        if rate > 0:  # the next window holds about MAX_WINDOW_SAMPLES at most
            self._window_ms = int(min(CHUNK_MS, max(MIN_WINDOW_MS, MAX_WINDOW_SAMPLES / rate)))
        return self._window(parts)

    def _window(self, parts: list[Part]) -> Window:
        batches = [self.delivery.batch(chunk) for chunk in split(parts, self.endpoint.batch_size)]
        return Window(batches, sum(b.samples for b in batches))

    def _skip_to(self, floor: int) -> None:
        """Move the cursor to ``floor``, counting the samples passed over (from rollups:
        exact to the rollup's window)."""
        try:
            data = self._source.read(
                self._selector, self.cursor + 1, floor, floor - self.cursor, agg="count"
            )
            skipped = int(sum(float(d.values.sum()) for d in data))
        except ValueError as exc:  # an unreadable range must not stop the sender
            log.warning("remote_write %s: could not count skipped samples: %s", self.name, exc)
            skipped = 0
        log.warning(
            "remote_write %s: %.1f h behind, past max_backlog (%.1f h): skipping %d samples",
            self.name,
            (self._now_ms() - self.cursor) / 3.6e6,
            self.endpoint.max_backlog / 3600,
            skipped,
        )
        self.dropped_backlog += skipped
        self.cursor = floor

    # ------------------------------------------------------------ late samples

    async def _send_late(self, floor: int) -> Result:
        """Re-send the series that got samples at or before the cursor since the last look,
        from their oldest such sample up to the cursor (at-least-once: their samples
        already sent in that span go again)."""
        cursor = self.cursor
        taken = self._late.take()
        # Floors after the cursor: the next windows read those samples anyway.
        late = {sid: ts for sid, ts in taken.items() if ts <= cursor}
        if not late:
            return Result.DONE
        keys = await asyncio.to_thread(self._keys_of, late)
        if any(ts <= floor for sid, ts in late.items() if sid in keys) and not self._late_warned:
            self._late_warned = True  # once: a pusher that sends old data sends it again
            log.warning(
                "remote_write %s: samples older than max_backlog (%.1f h) reached the store "
                "late (a push with old timestamps?); they are not sent",
                self.name,
                self.endpoint.max_backlog / 3600,
            )
        late = {sid: max(ts, floor + 1) for sid, ts in late.items() if sid in keys}
        if not late:
            return Result.DONE
        lo = min(late.values()) - 1
        while lo < cursor:  # windows of one store chunk at most: memory stays bounded
            hi = min(lo + CHUNK_MS, cursor)
            window = await asyncio.to_thread(self._prepare_late, keys, late, lo, hi)
            for batch in window.batches:
                result = await self.delivery.deliver(batch)
                if result is not Result.DONE:
                    self._late.restore(late)  # sent again next time (at-least-once)
                    return result
            self.late_resent += window.samples
            lo = hi
        log.debug("remote_write %s: re-sent %d series that got late samples", self.name, len(late))
        return Result.DONE

    def _keys_of(self, late: Mapping[int, int]) -> dict[int, SeriesKey]:
        """The series this endpoint sends among ``late``'s ids (blocking: the index)."""
        if any(sid not in self._keys for sid in late):  # a series new to this sender
            for key in self._source.series():
                sid = self._source.series_id(key)
                self._keys[sid] = key if self._selector.matches(key) else None
        found = {sid: self._keys.get(sid) for sid in late}
        return {sid: key for sid, key in found.items() if key is not None}

    def _prepare_late(
        self, keys: Mapping[int, SeriesKey], floors: Mapping[int, int], lo: int, hi: int
    ) -> Window:
        """The late series' samples in ``(lo, hi]``, each from its own floor on."""
        floor_of = {key: floors[sid] for sid, key in keys.items()}
        selector = KeySelector((), frozenset(keys.values()))
        data = self._source.read(selector, lo + 1, hi, resolution="raw")
        parts = []
        for d in data:
            keep = d.ts >= floor_of[d.key]
            if keep.any():
                parts.append(Part(d.key, d.ts[keep], d.values[keep]))
        return self._window(parts)

    async def _interruptible_sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
