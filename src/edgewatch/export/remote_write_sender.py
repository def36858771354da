"""One endpoint's sender: reads the store from its checkpoint and forwards, in time order.

The cursor (``remote_write_checkpoint``) says that every sample up to it has
been accepted. Each step reads the window ``(cursor, hi]`` of raw samples from
the store (``hi`` at most ``delay`` before now, and within the 10-minute chunk
the cursor is in, so a backfill reads each chunk once), cuts it into requests of
``batch_size`` samples (a series' samples stay in time order across requests)
and posts them one after the other. A request that fails for a reason that may
pass (unreachable, 5xx, 429) is retried as it is, with exponential backoff and
jitter, for as long as it takes; one refused as bad data (other 4xx) is dropped
and counted. Only when every request of the window is done does the cursor
move to ``hi``: an outage of hours is back-filled in order when the link returns,
and a crash resends at most the windows since the last checkpoint save.

Past ``max_backlog`` the cursor jumps forward and the skipped samples are
counted. The blocking work (store reads, encoding, compression) runs in a
worker thread; the HTTP requests on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, Protocol

from edgewatch.config.remote_write import RemoteWriteEndpoint
from edgewatch.export.remote_write_checkpoint import Checkpoints
from edgewatch.export.remote_write_client import Answer, Outcome, WriteClient
from edgewatch.export.remote_write_encode import Encoder, Part
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


class Batch(NamedTuple):
    body: bytes  # compressed, as sent
    samples: int


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
        """``start_ms``: where a new endpoint (no checkpoint yet) starts; default now."""
        self.endpoint = endpoint
        self.name = endpoint.endpoint_name()
        self._source = source
        self._checkpoints = checkpoints
        self._clock = clock
        self._monotonic = monotonic
        self._stopping = asyncio.Event()
        self._sleep = sleep or self._interruptible_sleep
        self._rng = rng or random.Random()
        self.client = client or WriteClient(endpoint)
        self._encoder = Encoder(endpoint.extra_labels)
        self._selector = name_selector(endpoint.keep, endpoint.drop)
        saved = checkpoints.load(self.name)
        if saved is None:
            saved = self._now_ms() - self._delay_ms if start_ms is None else start_ms
            checkpoints.save(self.name, saved, self._now_ms())
        self.cursor = self._saved = saved
        self._saved_at = monotonic()
        self._window_ms = CHUNK_MS
        self._rate = 0.0  # samples per ms seen in the last windows (for `pending`)
        self._bw_next = 0.0  # monotonic time the bandwidth cap lets the next request go
        self._failing: str | None = None
        self._error: str | None = None
        self._rejected_logged: set[int] = set()
        self.samples_sent = 0
        self.bytes_sent = 0
        self.requests = 0
        self.failures = 0
        self.dropped_backlog = 0
        self.dropped_rejected = 0

    @property
    def _delay_ms(self) -> int:
        return round(self.endpoint.delay * 1000)

    def _now_ms(self) -> int:
        return round(self._clock() * 1000)

    # ------------------------------------------------------------------ figures

    def lag_seconds(self) -> float:
        return max(0.0, (self._now_ms() - self.cursor) / 1000)

    def pending(self) -> float:
        """Samples not sent yet: the recent sample rate times the time behind (an estimate)."""
        return self._rate * max(0, self._now_ms() - self.cursor)

    # --------------------------------------------------------------------- loop

    async def run(self) -> None:
        """Send until ``stop()``; the cursor is saved on the way out."""
        try:
            while not self._stopping.is_set():
                try:
                    more = await self.step()
                except Exception as exc:  # a store error must not end the sender: count, log
                    more = False
                    self.failures += 1
                    if str(exc) != self._error:
                        self._error = str(exc)
                        log.exception("remote_write %s: step failed (retrying)", self.name)
                if not more and not self._stopping.is_set():
                    await self._sleep(self.endpoint.interval)
        finally:
            self.save()
            await self.client.aclose()

    def stop(self) -> None:
        self._stopping.set()

    def save(self) -> None:
        """Write the cursor to the checkpoint table if it moved."""
        if self.cursor != self._saved:
            self._checkpoints.save(self.name, self.cursor, self._now_ms())
            self._saved = self.cursor
        self._saved_at = self._monotonic()

    async def step(self) -> bool:
        """Send one window; True when more is ready to send at once (a backfill)."""
        now = self._now_ms()
        limit = now - self._delay_ms
        floor = now - round(self.endpoint.max_backlog * 1000)
        if self.cursor > now + CLOCK_STEP_MS:
            log.warning(
                "remote_write %s: the checkpoint is %.0f s ahead of the clock (set back?); "
                "sending from now on",
                self.name,
                (self.cursor - now) / 1000,
            )
            self.cursor = limit
        if self.cursor < floor:
            await asyncio.to_thread(self._skip_to, floor)
        if self.cursor >= limit:
            return False
        chunk_end = ((self.cursor + 1) // CHUNK_MS + 1) * CHUNK_MS - 1  # of the next sample
        hi = min(limit, chunk_end, self.cursor + self._window_ms)
        window = await asyncio.to_thread(self._prepare, self.cursor, hi)
        for batch in window.batches:
            if not await self._deliver(batch):
                return False  # stopping: the cursor stays before this window
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
        span = hi - lo
        rate = total / span
        self._rate = rate if self._rate == 0 else 0.5 * self._rate + 0.5 * rate
        if rate > 0:  # the next window holds about MAX_WINDOW_SAMPLES at most
            self._window_ms = int(min(CHUNK_MS, max(MIN_WINDOW_MS, MAX_WINDOW_SAMPLES / rate)))
        batches = [
            Batch(self._encoder.compressed(chunk), sum(len(p.ts) for p in chunk))
            for chunk in split(parts, self.endpoint.batch_size)
        ]
        return Window(batches, total)

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

    # ------------------------------------------------------------ HTTP side

    async def _deliver(self, batch: Batch) -> bool:
        """Post until accepted or rejected; False only when stopping first."""
        attempt = 0
        while not self._stopping.is_set():
            await self._throttle(len(batch.body))
            answer = await self.client.post(batch.body)
            self.requests += 1
            if answer.outcome is Outcome.ACCEPTED:
                self.samples_sent += batch.samples
                self.bytes_sent += len(batch.body)
                if self._failing is not None:
                    log.info("remote_write %s: sending again (%s)", self.name, self._failing)
                    self._failing = None
                return True
            if answer.outcome is Outcome.REJECTED:
                self._rejected(answer, batch)
                return True
            self.failures += 1
            attempt += 1
            if self._failing is None:
                log.warning(
                    "remote_write %s: %s; retrying with backoff, samples wait in the store",
                    self.name,
                    answer.detail,
                )
                self._failing = f"after {answer.detail}"
            await self._sleep(self._backoff(attempt, answer))
        return False

    def _rejected(self, answer: Answer, batch: Batch) -> None:
        self.dropped_rejected += batch.samples
        status = answer.status or 0
        if status not in self._rejected_logged:
            self._rejected_logged.add(status)
            log.warning(
                "remote_write %s: %s; dropped that batch of %d samples (further %d answers "
                "are counted in edgewatch_remote_write_samples_dropped_total, not logged)",
                self.name,
                answer.detail,
                batch.samples,
                status,
            )

    def _backoff(self, attempt: int, answer: Answer) -> float:
        """Exponential in the attempt, capped, times a random factor in [0.5, 1]."""
        ep = self.endpoint
        base = min(ep.backoff_max, ep.backoff_initial * 2.0 ** min(attempt - 1, 30))
        delay = base * self._rng.uniform(0.5, 1.0)
        if answer.retry_after is not None:
            delay = max(delay, min(answer.retry_after, ep.backoff_max))
        return delay

    async def _throttle(self, nbytes: int) -> None:
        limit = self.endpoint.bandwidth_limit
        if limit <= 0:
            return
        wait = self._bw_next - self._monotonic()
        if wait > 0:
            await self._sleep(wait)
        self._bw_next = max(self._bw_next, self._monotonic()) + nbytes / limit

    async def _interruptible_sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
