"""Delivering one request to an endpoint: retries, splitting, dropping, and their figures.

``Delivery.deliver(batch)`` posts until the batch is done with, by answer
(``remote_write_client.classify``):

- accepted: counted as sent;
- retry (unreachable, timeout, 5xx, 408, 429): the same request again after an
  exponential backoff with jitter (a 429's ``Retry-After`` honoured), as long as it
  takes; the first failure of a streak is logged, and the recovery;
- needs_user (3xx, 401, 403, 404, 405, ...): the same request again every
  ``backoff_max``, one ERROR saying what to fix, and one line when it works again;
  a failure, never a drop: the samples wait in the store;
- rejected (400, 422) or too_large (413): the request is split in two halves by
  series, each delivered the same way, down to one series; only a single series
  still refused is dropped (counted in ``dropped_rejected``, logged once per status).
  Prometheus refuses a whole request for one out-of-order sample: this keeps
  every other series' samples.

Delivery ends early when the sender stops (``Result.STOPPED``) or when the
window being retried falls past ``max_backlog`` (``Result.STALE``): the sender
then skips to the backlog's start instead of sending stale data first.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

from edgewatch.config.remote_write import RemoteWriteEndpoint
from edgewatch.export.remote_write_client import Answer, Outcome, WriteClient
from edgewatch.export.remote_write_encode import Encoder, Part

log = logging.getLogger(__name__)


class Result(enum.Enum):
    DONE = "done"  # accepted, or dropped as bad data: the cursor may pass it
    STOPPED = "stopped"  # the sender is stopping: the cursor stays
    STALE = "stale"  # past max_backlog while retrying: the sender skips ahead


class Batch(NamedTuple):
    parts: Sequence[Part]  # one per series, each in time order
    body: bytes  # compressed, as sent
    samples: int


class Delivery:
    """Posts one endpoint's requests; holds the endpoint's delivery figures."""

    def __init__(
        self,
        endpoint: RemoteWriteEndpoint,
        name: str,
        client: WriteClient,
        *,
        stopping: asyncio.Event,
        is_stale: Callable[[], bool],
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]],
        rng: random.Random | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.name = name
        self.client = client
        self._encoder = Encoder(endpoint.extra_labels)
        self._stopping = stopping
        self._is_stale = is_stale
        self._monotonic = monotonic
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._bw_next = 0.0  # monotonic time the bandwidth cap lets the next request go
        self._failing: Outcome | None = None  # the kind of the failure streak, if in one
        self._failing_detail = ""
        self._dropped_logged: set[int] = set()
        self.samples_sent = 0
        self.bytes_sent = 0
        self.requests = 0
        self.failures = 0
        self.dropped_rejected = 0

    def batch(self, parts: Sequence[Part]) -> Batch:
        """Encode and compress ``parts`` as one request (blocking: a worker thread's job)."""
        return Batch(parts, self._encoder.compressed(parts), sum(len(p.ts) for p in parts))

    async def deliver(self, batch: Batch) -> Result:
        """Post until the batch is accepted or dropped (split where refused)."""
        attempt = 0
        while not self._stopping.is_set():
            if self._is_stale():
                return Result.STALE
            await self._throttle(len(batch.body))
            answer = await self.client.post(batch.body)
            self.requests += 1
            outcome = answer.outcome
            if outcome is Outcome.ACCEPTED:
                self.samples_sent += batch.samples
                self.bytes_sent += len(batch.body)
                self._recovered()
                return Result.DONE
            if outcome in (Outcome.REJECTED, Outcome.TOO_LARGE):
                self._recovered()  # it answers: the link is fine
                if len(batch.parts) > 1:
                    return await self._split(batch)
                self._drop(answer, batch)
                return Result.DONE
            self.failures += 1
            attempt += 1
            self._failed(answer)
            await self._sleep(self._backoff(attempt, answer))
        return Result.STOPPED

    async def _split(self, batch: Batch) -> Result:
        half = len(batch.parts) // 2
        for parts in (batch.parts[:half], batch.parts[half:]):
            piece = await asyncio.to_thread(self.batch, parts)
            result = await self.deliver(piece)
            if result is not Result.DONE:
                return result
        return Result.DONE

    def _drop(self, answer: Answer, batch: Batch) -> None:
        self.dropped_rejected += batch.samples
        status = answer.status or 0
        if status in self._dropped_logged:
            return
        self._dropped_logged.add(status)
        [part] = batch.parts
        log.warning(
            "remote_write %s: %s; dropped the %d samples of %s that it refuses (the other "
            "series of the request are sent; further %d drops are counted in "
            'edgewatch_remote_write_samples_dropped_total{reason="rejected"}, not logged)',
            self.name,
            answer.detail,
            batch.samples,
            part.key,
            status,
        )

    def _failed(self, answer: Answer) -> None:
        """Log the first failure of a streak, and each change of its kind."""
        if self._failing is answer.outcome:
            return
        self._failing, self._failing_detail = answer.outcome, answer.detail
        if answer.outcome is Outcome.NEEDS_USER:
            log.error(
                "remote_write %s: %s. This needs you: check the endpoint's url (scheme and "
                "path), its credentials (bearer_token, basic_auth, headers) and that the "
                "receiver accepts remote_write there. Nothing is dropped: the samples wait "
                "in the store and the request is retried every %.0f s",
                self.name,
                answer.detail,
                self.endpoint.backoff_max,
            )
        else:
            log.warning(
                "remote_write %s: %s; retrying with backoff, samples wait in the store",
                self.name,
                answer.detail,
            )

    def _recovered(self) -> None:
        if self._failing is not None:
            level = logging.WARNING if self._failing is Outcome.NEEDS_USER else logging.INFO
            log.log(
                level, "remote_write %s: sending again (after %s)", self.name, self._failing_detail
            )
            self._failing = None

    def _backoff(self, attempt: int, answer: Answer) -> float:
        """Exponential in the attempt, capped, times a random factor in [0.5, 1];
        ``backoff_max`` flat while the endpoint needs a person."""
        ep = self.endpoint
        if answer.outcome is Outcome.NEEDS_USER:
            return ep.backoff_max
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
