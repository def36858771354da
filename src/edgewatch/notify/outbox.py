"""The durable outbox: every notification is a row per channel until delivered.

``enqueue`` stores the notification once per channel of its receiver, unless
that receiver already has its ``dedupe_key`` (so a dispatcher re-running after
a crash cannot send twice). ``run`` delivers due rows in order of creation,
``max_parallel`` at a time; a retryable failure waits ``backoff_initial *
2^(attempt-1)`` (capped at ``backoff_max``) times a random factor in [0.5, 1];
a permanent one ends the row as ``failed``; a row whose next try would come
``max_age`` after it was created ends as ``given_up`` and ``on_give_up`` is
called. Every attempt is a row of ``outbox_attempts``. Finished rows are kept
for ``keep`` (7 days), then deleted with their attempts.

Rows are claimed with compare-and-set (``state = 'pending'`` to
``'sending'``), so two loops never send one row twice. A row left ``sending``
by a process that died is sent again by the next Outbox on the file
(at-least-once). A later row of the same receiver, channel and group waits for
the earlier ones, so a ``resolved`` never overtakes its ``firing``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from edgewatch.alerting.notice import Notification
from edgewatch.config.notify import OutboxSettings
from edgewatch.notify.base import Channel, DeliveryError
from edgewatch.notify.outbox_rows import (
    COLUMNS,
    DDL,
    DUE_SQL,
    ItemState,
    OutboxAttempt,
    OutboxItem,
    OutboxStats,
    item_from_row,
    pending_count,
    read_attempts,
    read_items,
)
from edgewatch.notify.payload import from_record, to_record
from edgewatch.web.accounts import open_db

__all__ = ["ItemState", "Outbox", "OutboxAttempt", "OutboxItem", "OutboxStats"]

log = logging.getLogger(__name__)
T = TypeVar("T")

POLL_S = 1.0
HOUSEKEEPING_MS = 3_600_000
_ERROR_CHARS = 1000


class Outbox:
    """The ``outbox`` tables in the store file and the loop that empties them."""

    def __init__(
        self,
        db_path: Path,
        config: OutboxSettings,
        *,
        channels: Callable[[str], Sequence[Channel]],
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        on_give_up: Callable[[OutboxItem], None] | None = None,
    ) -> None:
        self.path = db_path
        self.config = config
        self._channels = channels
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._on_give_up = on_give_up
        self._counts: Counter[str] = Counter()
        self._by_receiver: dict[str, Counter[str]] = {}
        self._ready = False
        self._ready_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._last_housekeeping_ms = 0

    # ------------------------------------------------------------ database

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with open_db(self.path) as conn:
            with self._ready_lock:
                if not self._ready:
                    for statement in DDL:
                        conn.execute(statement)
                    # Rows a dead process left mid-send go out again (at-least-once).
                    cur = conn.execute(
                        "UPDATE outbox SET state = 'pending' WHERE state = 'sending'"
                    )
                    if cur.rowcount:
                        log.info("outbox: %d interrupted deliveries will be retried", cur.rowcount)
                    self._ready = True
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        if self._writer is not None:
            return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)
        return await asyncio.to_thread(fn, *args)

    # ------------------------------------------------------------- enqueue

    def enqueue(self, n: Notification) -> bool:
        """Store ``n`` for every channel of its receiver; False when that receiver
        already has ``n.dedupe_key``. KeyError when the receiver is unknown.

        Safe from any thread; a short SQLite write (run it off the event loop
        where the file may be busy)."""
        channels = list(self._channels(n.receiver))
        now = self._now_ms()
        record = to_record(n)
        with self._transaction() as conn:
            seen = conn.execute(
                "SELECT 1 FROM outbox WHERE receiver = ? AND dedupe_key = ? LIMIT 1",
                (n.receiver, n.dedupe_key),
            ).fetchone()
            if seen is not None:
                return False
            conn.executemany(
                "INSERT OR IGNORE INTO outbox (receiver, channel, channel_desc, dedupe_key, "
                "group_key, kind, record, state, created_ms, next_attempt_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                [
                    (
                        n.receiver,
                        i,
                        ch.describe(),
                        n.dedupe_key,
                        n.group_key,
                        n.kind.value,
                        record,
                        now,
                        now,
                    )
                    for i, ch in enumerate(channels)
                ],
            )
        if not channels:
            log.warning("outbox: receiver %r has no integrations; nothing to send", n.receiver)
        self.wake()
        return True

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll (any thread)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    # ------------------------------------------------------------ delivery

    def _claim_due(self, limit: int) -> tuple[list[OutboxItem], list[OutboxItem]]:
        """(rows claimed for sending, rows given up as too old)."""
        now = self._now_ms()
        deadline = now - round(self.config.max_age * 1000)
        with self._transaction() as conn:
            expired = [
                item_from_row(r)
                for r in conn.execute(
                    f"SELECT {COLUMNS} FROM outbox WHERE state = 'pending' AND created_ms <= ?",
                    (deadline,),
                )
            ]
            conn.executemany(
                "UPDATE outbox SET state = 'given_up', done_ms = ? WHERE id = ? "
                "AND state = 'pending'",
                [(now, item.id) for item in expired],
            )
            claimed = []
            for row in conn.execute(DUE_SQL, (now, limit)).fetchall():
                cur = conn.execute(
                    "UPDATE outbox SET state = 'sending', attempts = attempts + 1 "
                    "WHERE id = ? AND state = 'pending'",
                    (row[0],),
                )
                if cur.rowcount == 1:
                    claimed.append(item_from_row(row))
        return claimed, expired

    def _backoff_ms(self, attempts: int) -> int:
        base = min(
            self.config.backoff_max, self.config.backoff_initial * 2.0 ** min(attempts - 1, 60)
        )
        return max(1, round(base * self._rng.uniform(0.5, 1.0) * 1000))

    def _finish(self, item: OutboxItem, error: DeliveryError | None, duration_ms: int) -> ItemState:
        now = self._now_ms()
        text = "" if error is None else str(error)[:_ERROR_CHARS]
        next_ms = now + self._backoff_ms(item.attempts + 1)
        if error is None:
            state = ItemState.DELIVERED
        elif error.permanent:
            state = ItemState.FAILED
        elif next_ms >= item.created_ms + round(self.config.max_age * 1000):
            state = ItemState.GIVEN_UP
        else:
            state = ItemState.PENDING
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO outbox_attempts (item_id, at_ms, ok, error, duration_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (item.id, now, error is None, text, duration_ms),
            )
            conn.execute(
                "UPDATE outbox SET state = ?, last_error = ?, next_attempt_ms = ?, done_ms = ? "
                "WHERE id = ? AND state = 'sending'",
                (
                    state.value,
                    text,
                    next_ms if state is ItemState.PENDING else item.next_attempt_ms,
                    None if state is ItemState.PENDING else now,
                    item.id,
                ),
            )
        return state

    def _release(self, item: OutboxItem) -> None:
        """Put a claimed row back (delivery cancelled at shutdown)."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE outbox SET state = 'pending', attempts = attempts - 1 "
                "WHERE id = ? AND state = 'sending'",
                (item.id,),
            )

    def _channel(self, item: OutboxItem) -> Channel:
        try:
            channels = self._channels(item.receiver)
        except KeyError:
            raise DeliveryError(
                f"receiver {item.receiver!r} is no longer configured", permanent=True
            ) from None
        if item.channel >= len(channels):
            raise DeliveryError(
                f"receiver {item.receiver!r} no longer has {item.channel_desc}", permanent=True
            )
        return channels[item.channel]

    async def _deliver(self, item: OutboxItem) -> None:
        error: DeliveryError | None = None
        started = time.perf_counter()
        try:
            await self._channel(item).send(from_record(item.record))
        except DeliveryError as exc:
            error = exc
        except ValueError as exc:  # the stored record cannot be read back
            error = DeliveryError(str(exc), permanent=True)
        except asyncio.CancelledError:
            self._release(item)
            raise
        except Exception as exc:  # a bug in a channel: record it, retry, keep running
            log.exception("outbox: %s raised unexpectedly", item.channel_desc)
            error = DeliveryError(f"{type(exc).__name__}: {exc}")
        duration_ms = round((time.perf_counter() - started) * 1000)
        state = await self._db(self._finish, item, error, duration_ms)
        self._record(item, state, error)

    def _record(self, item: OutboxItem, state: ItemState, error: DeliveryError | None) -> None:
        where = f"{item.receiver}/{item.channel_desc} (#{item.id}, attempt {item.attempts + 1})"
        if state is ItemState.DELIVERED:
            self._count(item, "delivered")
            log.debug("outbox: delivered to %s", where)
        elif state is ItemState.PENDING:
            self._count(item, "retried")
            if item.attempts == 0:  # log the first failure of a row, not every retry
                log.warning("outbox: %s failed, will retry: %s", where, error)
        elif state is ItemState.FAILED:
            self._count(item, "failed")
            log.error("outbox: %s failed permanently: %s", where, error)
        else:
            self._gave_up(
                replace(item, attempts=item.attempts + 1, last_error=str(error)[:_ERROR_CHARS])
            )

    def _count(self, item: OutboxItem, what: str) -> None:
        self._counts[what] += 1
        self._by_receiver.setdefault(item.receiver, Counter())[what] += 1

    def _gave_up(self, item: OutboxItem) -> None:
        item = replace(item, state=ItemState.GIVEN_UP)
        self._count(item, "given_up")
        log.error(
            "outbox: gave up on %s/%s (#%d) after %d attempts: %s",
            item.receiver,
            item.channel_desc,
            item.id,
            item.attempts,
            item.last_error or "not sent in time",
        )
        if self._on_give_up is not None:
            try:
                self._on_give_up(item)
            except Exception:  # the caller's bug must not stop deliveries
                self._counts["errors"] += 1
                log.exception("outbox: on_give_up failed for #%d", item.id)

    def _housekeeping(self) -> None:
        now = self._now_ms()
        if now - self._last_housekeeping_ms < HOUSEKEEPING_MS:
            return
        self._last_housekeeping_ms = now
        horizon = now - round(self.config.keep * 1000)
        with self._transaction() as conn:
            old = "SELECT id FROM outbox WHERE done_ms IS NOT NULL AND done_ms < ?"
            conn.execute(f"DELETE FROM outbox_attempts WHERE item_id IN ({old})", (horizon,))
            conn.execute(f"DELETE FROM outbox WHERE id IN ({old})", (horizon,))

    async def _claim(self, limit: int) -> list[OutboxItem]:
        claimed, expired = await self._db(self._claim_due, limit)
        for item in expired:
            self._gave_up(item)
        await self._db(self._housekeeping)
        return claimed

    async def deliver_due(self) -> int:
        """Send every row due now, ``max_parallel`` at a time; the number of
        attempts made. For tests and ``notify test``; the agent uses ``run``."""
        sent = 0
        while True:
            batch = await self._claim(self.config.max_parallel)
            if not batch:
                return sent
            await asyncio.gather(*(self._deliver(item) for item in batch))
            sent += len(batch)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver due rows until ``stop`` is set (deliveries in flight are then
        cancelled and their rows left for the next start)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        inflight: set[asyncio.Task[None]] = set()
        stop_wait = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                self._wake.clear()
                free = self.config.max_parallel - len(inflight)
                if free > 0:
                    try:
                        batch = await self._claim(free)
                    except (sqlite3.Error, OSError) as exc:
                        self._counts["errors"] += 1
                        log.error("outbox: cannot read %s: %s", self.path, exc)
                        batch = []
                    inflight.update(asyncio.create_task(self._deliver(i)) for i in batch)
                    if len(batch) == free:
                        continue  # maybe more due: claim again once a slot frees
                wake_wait = asyncio.ensure_future(self._wake.wait())
                done, _ = await asyncio.wait(
                    {stop_wait, wake_wait, *inflight},
                    timeout=POLL_S,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                wake_wait.cancel()
                for task in done & inflight:
                    inflight.discard(task)
                    if not task.cancelled() and task.exception() is not None:
                        self._counts["errors"] += 1
                        log.error("outbox: delivery bookkeeping failed: %s", task.exception())
        finally:
            stop_wait.cancel()
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)
            self.close()
            self._loop = self._wake = None

    def close(self) -> None:
        """Stop the writer thread if ``run`` left one (it normally stops it itself)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)

    # --------------------------------------------------------------- reads

    def pending_count(self) -> int:
        return pending_count(self.path)

    def items(
        self, *, since_ms: int = 0, state: ItemState | None = None, limit: int = 100
    ) -> list[OutboxItem]:
        """Rows created at or after ``since_ms`` (optionally in ``state``), newest first."""
        return read_items(self.path, since_ms=since_ms, state=state, limit=limit)

    def attempts(self, since_ms: int = 0, *, limit: int = 1000) -> list[OutboxAttempt]:
        """Delivery attempts at or after ``since_ms``, newest first."""
        return read_attempts(self.path, since_ms=since_ms, limit=limit)

    def stats(self) -> OutboxStats:
        c = self._counts
        kinds = ("delivered", "failed", "given_up", "retried")
        return OutboxStats(
            pending=self.pending_count(),
            delivered=c["delivered"],
            failed=c["failed"],
            given_up=c["given_up"],
            retried=c["retried"],
            errors=c["errors"],
            by_receiver={
                name: {k: counts[k] for k in kinds} for name, counts in self._by_receiver.items()
            },
        )
