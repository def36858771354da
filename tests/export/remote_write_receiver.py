"""A real remote_write receiver on 127.0.0.1 for the sender's tests.

It decodes every request (snappy, then the protobuf reference messages),
records its samples, and answers with the next status of its script (then
204, as Prometheus does).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from edgewatch.export.remote_write_encode import decompress
from edgewatch.export.remote_write_pb import decode

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    size: int  # bytes on the wire
    series: dict[Labels, list[tuple[int, float]]]  # labels -> [(ts, value)] in request order
    status: int  # what was answered

    def samples(self) -> int:
        return sum(len(v) for v in self.series.values())


def parse(body: bytes) -> dict[Labels, list[tuple[int, float]]]:
    out: dict[Labels, list[tuple[int, float]]] = {}
    for ts in decode(decompress(body)).timeseries:
        labels = tuple((lb.name, lb.value) for lb in ts.labels)
        out.setdefault(labels, []).extend((s.timestamp, s.value) for s in ts.samples)
    return out


Refuse = Callable[[dict[Labels, list[tuple[int, float]]]], int | None]


class WriteReceiver:
    """``with WriteReceiver([503, (429, {"Retry-After": "7"})]) as r: ... r.url``.

    ``refuse``: once the script is done, a status for a request's series (a receiver
    that refuses some data, e.g. 400 for one bad series), or None to accept."""

    def __init__(
        self,
        script: list[int | tuple[int, dict[str, str]]] | None = None,
        *,
        refuse: Refuse | None = None,
    ) -> None:
        self.script: deque[int | tuple[int, dict[str, str]]] = deque(script or [])
        self.refuse = refuse
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/write"

    def accepted(self) -> dict[Labels, list[tuple[int, float]]]:
        """Samples of the 2xx-answered requests, per series, in arrival order."""
        out: dict[Labels, list[tuple[int, float]]] = {}
        with self._lock:
            for r in self.received:
                if 200 <= r.status < 300:
                    for labels, samples in r.series.items():
                        out.setdefault(labels, []).extend(samples)
        return out

    def _answer(self, item: Received) -> tuple[int, dict[str, str]]:
        with self._lock:
            refused = self.refuse(item.series) if self.refuse is not None else None
            step = self.script.popleft() if self.script else (refused or 204)
            status, headers = step if isinstance(step, tuple) else (step, {})
            self.received.append(Received(item.headers, item.size, item.series, status))
        return status, headers

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the sender's client uses it

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                item = Received(dict(self.headers.items()), len(body), parse(body), 0)
                status, headers = receiver._answer(item)
                text = b"" if status < 300 else b"scripted failure"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the tests assert on what was received

        return Handler

    def __enter__(self) -> WriteReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
