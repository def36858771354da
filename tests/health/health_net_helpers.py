"""Shared helpers for the network check tests: a real HTTP(S) server on 127.0.0.1 at
an ephemeral port (in a thread) with good and bad answers, a self-signed certificate
made by ``openssl``, and running one check through a real HealthMonitor."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from edgewatch.config.health import HealthConfig
from edgewatch.health.model import CheckEnv, CheckResult
from edgewatch.health.runner import HealthMonitor

USER, PASSWORD = "operator", "s3cr3t-pa55"
DOCUMENT = {"status": "ok", "queue": 7, "items": [{"n": 1}, {"n": 2.5}], "ready": True}
SLOW_WAIT_S = 10.0  # the slow endpoint's answer, unless released sooner (teardown does)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on results, not the access log."""

    def _answer(self, status: int, body: bytes, ctype: str = "text/plain", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path
        if path == "/ok":
            self._answer(200, b"all systems nominal")
        elif path.startswith("/status/"):
            self._answer(int(path.rsplit("/", 1)[1]), b"as asked")
        elif path == "/json":
            self._answer(200, json.dumps(DOCUMENT).encode(), "application/json")
        elif path == "/loop":
            self._answer(302, b"", Location="/loop")
        elif path == "/hop":
            self._answer(302, b"", Location="/ok")
        elif path == "/slow":
            self.server.release.wait(SLOW_WAIT_S)
            self._answer(200, b"late")
        elif path == "/auth":
            token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") == f"Basic {token}":
                self._answer(200, b"welcome")
            else:
                self._answer(401, b"who are you", **{"WWW-Authenticate": 'Basic realm="x"'})
        else:
            self._answer(404, b"no such page")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.release = threading.Event()


@dataclass(frozen=True)
class Served:
    base: str  # e.g. http://127.0.0.1:PORT
    port: int


@contextmanager
def http_server(tls: ssl.SSLContext | None = None) -> Iterator[Served]:
    """A real HTTP (or HTTPS, with ``tls``) server on 127.0.0.1, stopped on exit."""
    server = _Server()
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    port = server.server_address[1]
    scheme = "https" if tls is not None else "http"
    try:
        yield Served(f"{scheme}://127.0.0.1:{port}", port)
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=SLOW_WAIT_S)


def self_signed(tmp: Path, days: int) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 valid ``days`` days, and its key; None
    when no ``openssl`` program is installed."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", str(days), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def run_check(check: dict[str, Any], env: CheckEnv | None = None) -> CheckResult:
    """Build a real HealthMonitor with one check (a ``health.checks`` item) and run it once."""
    config = HealthConfig.model_validate({"checks": [check]})
    monitor = HealthMonitor(config, env or CheckEnv())
    return asyncio.run(monitor.run_once(config.checks[0].name))
