"""uvicorn inside the agent's event loop.

The agent owns the process's signals (SIGTERM, SIGINT, SIGHUP): the server installs
none, and stops when the agent asks. The socket is bound before serving, so an
address in use is one clear ``ListenError`` and port 0 gives a known port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Generator
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:  # the agent serves a LazyApp: starlette comes with the web app
    from starlette.types import ASGIApp

log = logging.getLogger(__name__)

# Seconds open connections (an SSE stream never ends by itself) get to finish at stop.
GRACEFUL_SHUTDOWN_S = 2
BACKLOG = 128


class ListenError(Exception):
    """The address cannot be listened on (in use, not local, no permission)."""


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket on (host, port); ListenError says why not."""
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV
        )
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {url_host(host)}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise ListenError(f"cannot listen on {url_host(host)}:{port}: {reason}") from None
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handling (the agent's loop owns signals)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HttpServer:
    """``bind()``, then ``await serve()`` until ``stop()``."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.host = host
        self._requested_port = port
        self._sock: socket.socket | None = None
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        self._server = _Server(config)

    def bind(self) -> socket.socket:
        if self._sock is None:
            self._sock = bind_socket(self.host, self._requested_port)
        return self._sock

    def close(self) -> None:
        """Release the socket of a server that will not serve."""
        if self._sock is not None and not self._server.started:
            self._sock.close()

    @property
    def port(self) -> int:
        """The bound port (the one the OS picked when 0 was asked)."""
        if self._sock is None:
            raise RuntimeError("the HTTP server is not bound; call bind() first")
        port: int = self._sock.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}/"

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    async def serve(self) -> None:
        await self._server.serve(sockets=[self.bind()])

    def stop(self) -> None:
        """Ask ``serve()`` to return (it closes the socket and open connections)."""
        self._server.should_exit = True


async def stop_and_wait(server: HttpServer, task: asyncio.Task[None], timeout: float) -> None:
    """Stop ``server`` and wait for its ``serve()`` task; cancel it past ``timeout``."""
    server.stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        log.warning("the HTTP server did not stop within %.0f s; cancelled", timeout)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    except Exception as exc:
        log.error("the HTTP server failed: %s: %s", type(exc).__name__, exc)
