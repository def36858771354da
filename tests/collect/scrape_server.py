"""A loopback HTTP server for the scrape tests: each path answers what the test sets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass
class Answer:
    body: bytes = b""
    content_type: str = TEXT
    status: int = 200
    delay: float = 0.0  # seconds before answering (bounded by the server's stop)
    content_length: bool = True  # False: no Content-Length, the body ends when the socket closes
    location: str | None = None  # a Location header (for redirects)


class ExpositionServer:
    """``answers[path]`` is served at ``path``; every request is counted in ``hits``, and
    the Authorization header of the last request to each path (None: none) is kept in
    ``authorization``."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.hits: dict[str, int] = {}
        self.authorization: dict[str, str | None] = {}
        self.cut_short = 0
        self.stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits[self.path] = owner.hits.get(self.path, 0) + 1
                owner.authorization[self.path] = self.headers.get("Authorization")
                answer = owner.answers.get(self.path, Answer(b"not found", "text/plain", 404))
                if answer.delay and owner.stopping.wait(answer.delay):
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                if answer.content_length:
                    self.send_header("Content-Length", str(len(answer.body)))
                if answer.location is not None:
                    self.send_header("Location", answer.location)
                self.end_headers()
                try:
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    owner.cut_short += 1  # the scraper hung up early (a body limit)

            def log_message(self, format: str, *args: object) -> None:
                return  # quiet: the tests read the collector's log, not the server's

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def exposition_server() -> Iterator[ExpositionServer]:
    server = ExpositionServer()
    thread = threading.Thread(target=server.server.serve_forever, name="test-exposition")
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.server.shutdown()
        server.server.server_close()
        thread.join(10)
