"""A real HTTP receiver on 127.0.0.1 for the notification tests.

It records every request (method, path, headers, body) and answers with the
next status of its script (then ``default_status``).
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from edgewatch.alerting.notice import Notice, NoticeStatus, Notification


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """``with Receiver(statuses=[500, 200]) as r: ... r.url ... r.requests``."""

    def __init__(
        self,
        statuses: list[int | tuple[int, str]] | None = None,
        *,
        port: int = 0,
        default_status: int = 200,
    ) -> None:
        self.script: deque[int | tuple[int, str]] = deque(statuses or [])
        self.default_status = default_status
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def _answer(self, request: Request) -> tuple[int, str]:
        with self._lock:
            self.requests.append(request)
            step = self.script.popleft() if self.script else self.default_status
        return step if isinstance(step, tuple) else (step, "")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, dict(self.headers.items()), body)
                status, text = receiver._answer(request)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the tests assert on self.requests

        return Handler

    def __enter__(self) -> Receiver:
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


def notification(
    dedupe_key: str = "k1",
    *,
    receiver: str = "ops",
    group_key: str = "g1",
    status: str = "firing",
    alertname: str = "DiskFull",
    created_ms: int = 1_700_000_000_000,
) -> Notification:
    """A one-alert notification for the tests."""
    resolved = status == "resolved"
    notice = Notice(
        labels={"alertname": alertname, "severity": "critical", "mount": "/data"},
        annotations={"summary": "disk /data is 97% full"},
        status=NoticeStatus.RESOLVED if resolved else NoticeStatus.FIRING,
        starts_at_ms=created_ms - 60_000,
        ends_at_ms=created_ms if resolved else None,
        value=97.0,
        generator_url="http://device.local:9100/alerts",
    )
    return Notification(
        receiver=receiver,
        group_key=group_key,
        group_labels={"alertname": alertname},
        alerts=(notice,),
        dedupe_key=dedupe_key,
        created_ms=created_ms,
        ack_url="http://device.local:9100/ack/abc",
    )
