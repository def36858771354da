"""Serving an ASGI app with uvicorn on a loopback port in a thread, for tests of any folder
(pyproject puts tests/ on the path)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from edgewatch.web.server import HttpServer


@contextmanager
def serve(app: FastAPI, timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1:0 in a thread; yields the base URL."""
    server = HttpServer(app, "127.0.0.1", 0)
    server.bind()
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(server.serve())
        except BaseException as exc:  # reported to the test below
            failure.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if failure or not thread.is_alive():
            raise AssertionError(f"uvicorn did not start: {failure}")
        if time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start in time")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        loop.call_soon_threadsafe(server.stop)
        thread.join(timeout)
        if thread.is_alive():
            raise AssertionError("uvicorn did not stop")
    if failure:
        raise AssertionError(f"uvicorn failed: {failure[0]!r}")
