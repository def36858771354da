"""Prometheus remote_write with store-and-forward: the service the agent runs.

``RemoteWriteService`` holds one ``EndpointSender`` per configured endpoint
(``remote_write:`` in the config), each its own task on the agent's loop
reading the store from its checkpoint (see ``remote_write_sender``), and
reports their figures as ``edgewatch_remote_write_*`` samples through the
agent's sink every ``STATS_EVERY_S``. The wire format is in
``remote_write_encode``, the HTTP side in ``remote_write_client``, the
checkpoints in ``remote_write_checkpoint``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from edgewatch.config.remote_write import RemoteWriteEndpoint
from edgewatch.export.remote_write_checkpoint import Checkpoints
from edgewatch.export.remote_write_sender import EndpointSender, SampleSource
from edgewatch.model import MetricFamily, MetricType, Sample, SeriesKey

__all__ = ["FAMILIES", "EndpointSender", "RemoteWriteService"]

log = logging.getLogger(__name__)

STATS_EVERY_S = 15.0
STOP_TIMEOUT_S = 5.0  # a request still in flight after this is abandoned (resent later)

Sink = Callable[[int, Sequence[Sample]], None]
G, C = MetricType.GAUGE, MetricType.COUNTER

FAMILIES: tuple[MetricFamily, ...] = (
    MetricFamily(
        "edgewatch_remote_write_samples_sent_total",
        C,
        "Samples the endpoint accepted (2xx).",
        ("endpoint",),
    ),
    MetricFamily(
        "edgewatch_remote_write_bytes_sent_total",
        C,
        "Request bytes the endpoint accepted, compressed, as on the wire.",
        ("endpoint",),
    ),
    MetricFamily(
        "edgewatch_remote_write_requests_total",
        C,
        "Requests posted to the endpoint, whatever their answer.",
        ("endpoint",),
    ),
    MetricFamily(
        "edgewatch_remote_write_failures_total",
        C,
        "Requests that failed and are retried: unreachable, timeout, 5xx, 429, and answers "
        "that need a person (401, 403, 404, 3xx: nothing dropped).",
        ("endpoint",),
    ),
    MetricFamily(
        "edgewatch_remote_write_samples_dropped_total",
        C,
        "Samples never sent: reason backlog_age (older than max_backlog after an outage) "
        "or rejected (the endpoint refused their series as bad data: 400, 422, or 413 for "
        "one series).",
        ("endpoint", "reason"),
    ),
    MetricFamily(
        "edgewatch_remote_write_samples_pending",
        G,
        "Samples in the store not sent yet (estimate: recent rate x time behind).",
        ("endpoint",),
    ),
    MetricFamily(
        "edgewatch_remote_write_lag_seconds",
        G,
        "How far the endpoint is behind: now minus its checkpoint (at least `delay`).",
        ("endpoint",),
    ),
)


def sender_samples(sender: EndpointSender) -> list[Sample]:
    """One sender's figures as samples (``endpoint`` label)."""

    def key(name: str, **labels: str) -> SeriesKey:
        return SeriesKey.of(f"edgewatch_remote_write_{name}", endpoint=sender.name, **labels)

    return [
        Sample(key("samples_sent_total"), float(sender.samples_sent)),
        Sample(key("bytes_sent_total"), float(sender.bytes_sent)),
        Sample(key("requests_total"), float(sender.requests)),
        Sample(key("failures_total"), float(sender.failures)),
        Sample(key("samples_dropped_total", reason="backlog_age"), float(sender.dropped_backlog)),
        Sample(key("samples_dropped_total", reason="rejected"), float(sender.dropped_rejected)),
        Sample(key("samples_pending"), round(sender.pending())),
        Sample(key("lag_seconds"), round(sender.lag_seconds(), 3)),
    ]


class RemoteWriteService:
    def __init__(
        self,
        endpoints: Sequence[RemoteWriteEndpoint],
        source: SampleSource,
        *,
        db_path: Path,
        sink: Sink | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        checkpoints = Checkpoints(db_path)  # no I/O yet: each sender loads in a thread
        self._clock = clock
        self._sink = sink
        self.senders = [EndpointSender(ep, source, checkpoints, clock=clock) for ep in endpoints]
        self._tasks: list[asyncio.Task[None]] = []
        self._stats_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """One task per endpoint, and the self-metrics; on the running loop."""
        for sender in self.senders:
            task = asyncio.create_task(sender.run(), name=f"remote-write-{sender.name}")
            task.add_done_callback(self._done)
            self._tasks.append(task)
        if self._sink is not None and self.senders:
            self._stats_task = asyncio.create_task(self._stats_loop(), name="remote-write-stats")

    def _done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("remote_write: %s stopped: %s", task.get_name(), exc, exc_info=exc)

    def report(self) -> None:
        if self._sink is None:
            return
        samples = [s for sender in self.senders for s in sender_samples(sender)]
        self._sink(round(self._clock() * 1000), samples)

    async def _stats_loop(self) -> None:
        while True:
            self.report()
            await asyncio.sleep(STATS_EVERY_S)

    async def close(self) -> None:
        """Stop the senders (their cursors saved), waiting a little for requests in flight."""
        for sender in self.senders:
            sender.stop()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._stats_task is not None:
            self._stats_task.cancel()
            await asyncio.gather(self._stats_task, return_exceptions=True)
            self._stats_task = None
        self._tasks = []
