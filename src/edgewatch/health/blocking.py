"""Blocking calls of check kinds, on daemon threads the monitor owns.

``run_blocking(fn, *args)`` is what a kind uses instead of ``asyncio.to_thread``.
Inside a ``HealthMonitor`` run it goes to the monitor's ``DaemonExecutor`` and is
tracked in the check's ``Slot``: a call that hangs (a read from a FIFO, a dead NFS
mount) keeps its thread, but the runner sees the slot busy and starts no second
call for that check. The threads are daemons, so a hung one never keeps
``asyncio.run`` or the interpreter from exiting (``asyncio.to_thread`` uses the
loop's default executor, whose shutdown joins its threads). Outside a monitor
(a kind used on its own) it falls back to ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_Item = tuple["Future[Any]", Callable[[], Any]]


class DaemonExecutor(Executor):
    """At most ``max_workers`` daemon threads, started as work needs them."""

    def __init__(self, max_workers: int, name: str = "edgewatch-health") -> None:
        self._max = max_workers
        self._name = name
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._shutdown = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new calls after shutdown")
            future: Future[T] = Future()
            self._queue.put((future, functools.partial(fn, *args, **kwargs)))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, call = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:  # handed to the awaiting coroutine
                    future.set_exception(exc)
            del item, future, call
            self._idle.release()
        self._queue.put(None)  # wake the next idle thread to exit too

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Idle threads exit; a hung one is left behind (a daemon), never joined."""
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[0].cancel()
            self._queue.put(None)


class Slot:
    """One check's blocking calls in flight, on the monitor's executor."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._lock = threading.Lock()  # done callbacks run in the worker threads
        self._in_flight: set[Future[Any]] = set()

    @property
    def busy(self) -> bool:
        """A call of this check's is still running (its run was cut off at the timeout)."""
        with self._lock:
            return any(f.running() for f in self._in_flight)

    def submit(self, call: Callable[[], T]) -> Future[T]:
        future = self.executor.submit(call)
        with self._lock:
            self._in_flight.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._in_flight.discard(future)


CURRENT: contextvars.ContextVar[Slot | None] = contextvars.ContextVar(
    "edgewatch_health_slot", default=None
)


async def run_blocking(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a thread: the running check's slot, else to_thread."""
    slot = CURRENT.get()
    if slot is None:
        return await asyncio.to_thread(fn, *args, **kwargs)
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await asyncio.wrap_future(slot.submit(call))
