"""Authentication and authorisation for the HTTP API: who is asking, and may they.

Principals are bearer API tokens (``auth.tokens``), dashboard users with a signed
session cookie, and anonymous requests. Reads are GET/HEAD/OPTIONS plus the
Prometheus query POSTs Grafana sends; everything else is a mutation and needs an
admin, and a mutation by session cookie needs the CSRF header too. On loopback with
no tokens and no users everybody is an anonymous admin, but any request from another
origin (a web page, DNS rebinding) is refused. Every mutation that presented valid
credentials, or needed none, gets an audit row (401s are only logged, rate-limited).
The policy is an ASGI middleware, so routers written elsewhere need nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgewatch.config import Config
from edgewatch.config.web import ApiToken, Role
from edgewatch.web.accounts import ANONYMOUS, Accounts
from edgewatch.web.accounts import auth_configured as auth_configured  # its old home
from edgewatch.web.audit import AuditLog, AuditRow, RefusalLog
from edgewatch.web.context import AppContext
from edgewatch.web.sessions import (
    CSRF_HEADER,
    SESSION_COOKIE,
    SessionKeyError,
    SessionSigner,
    csrf_ok,
    load_or_create_key,
)

log = logging.getLogger(__name__)

Via = Literal["token", "session", "anonymous"]
PRINCIPAL_KEY = "edgewatch.principal"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Grafana's Prometheus data source POSTs its queries: these POSTs read.
QUERY_POSTS = frozenset(
    {"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels", "/api/v1/metadata"}
)
# /api/alerts/ack: the signed link in a notification; its token is the credential.
OPEN_PATHS = frozenset({"/livez", "/readyz", "/api/login", "/api/logout", "/api/alerts/ack"})
OPEN_READ_PATHS = frozenset({"/login"})
OPEN_READ_PREFIXES = ("/static/",)
# Open, but only from this origin: a page elsewhere must not log a browser in (into
# the attacker's account: login CSRF) or out. Browsers send Origin on every such POST.
SAME_ORIGIN_POSTS = frozenset({"/api/login", "/api/logout"})
FAIL_DELAY_S = 0.25  # a failed login answers this long after it arrived
USERS_TTL_S = 5.0  # how long "are there users?" is cached (the CLI may add one)
SCRYPT_SLOTS = 2  # logins hashing at once (16 MiB each)


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role | None  # None: anonymous, allowed nothing
    via: Via
    csrf: str | None = None  # the session's CSRF token (via == "session")


ANONYMOUS_ADMIN = Principal(ANONYMOUS, "admin", "anonymous")
ANONYMOUS_VIEWER = Principal(ANONYMOUS, "viewer", "anonymous")
NOBODY = Principal(ANONYMOUS, None, "anonymous")


@dataclass(frozen=True)
class Decision:
    principal: Principal
    status: int | None = None  # None: allowed
    message: str = ""


def current_principal(request: Request) -> Principal:
    """Who sent ``request`` (for handlers, e.g. to name who acknowledged an alert)."""
    principal = request.scope.get(PRINCIPAL_KEY)
    return principal if isinstance(principal, Principal) else NOBODY


# Mutations whose accepted requests leave no audit row (those refused with 403 do):
# metric pushes, and heartbeat pings (every path under INGEST_PREFIXES).
INGEST_PATHS = frozenset({"/api/push"})
INGEST_PREFIXES = ("/api/heartbeat/",)


def is_ingest(path: str) -> bool:
    """Whether ``path`` takes data (pushes, pings), whose accepted requests are not audited."""
    return path in INGEST_PATHS or path.startswith(INGEST_PREFIXES)


def is_mutation(method: str, path: str) -> bool:
    if method in READ_METHODS:
        return False
    # Grafana POSTs its queries: reads too.
    label_values = path.startswith("/api/v1/label/") and path.endswith("/values")
    return not (method == "POST" and (path in QUERY_POSTS or label_values))


def is_open(method: str, path: str) -> bool:
    if path in OPEN_PATHS:
        return True
    return method in READ_METHODS and (
        path in OPEN_READ_PATHS or path.startswith(OPEN_READ_PREFIXES)
    )


def match_token(tokens: list[ApiToken], presented: str) -> ApiToken | None:
    """The token equal to ``presented``: every token is compared (SHA-256 digests,
    ``hmac.compare_digest``), so timing tells neither which one nor a length."""
    given = hashlib.sha256(presented.encode("utf-8")).digest()
    found: ApiToken | None = None
    for token in tokens:
        digest = hashlib.sha256(token.token.get_secret_value().encode("utf-8")).digest()
        if hmac.compare_digest(digest, given):
            found = token
    return found


def _host_port(netloc: str, scheme: str) -> tuple[str, int | None]:
    parts = urlsplit(f"{scheme}://{netloc}")
    try:
        port = parts.port
    except ValueError:
        return "", None
    default = 443 if scheme == "https" else 80
    return (parts.hostname or "").lower(), default if port is None else port


def foreign_origin(headers: Headers, *, referer: bool = True) -> bool:
    """True when Origin (or else, with ``referer``, Referer) names another host or
    port than Host."""
    source = headers.get("origin") or (headers.get("referer") if referer else None)
    if not source:
        return False
    parts = urlsplit(source)
    host = headers.get("host")
    if parts.scheme not in ("http", "https") or not parts.netloc or not host:
        return True  # "null" origins (sandboxed frames, file:) included
    return _host_port(parts.netloc, parts.scheme) != _host_port(host, parts.scheme)


def loopback_host(headers: Headers) -> bool:
    """True when the Host header names this machine (no DNS-rebound name)."""
    host = headers.get("host")
    if not host:
        return True
    name, _ = _host_port(host, "http")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, rest = value.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else None


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


class AuthService:
    """Everything the policy and the login routes share for one app."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        loopback: bool,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        fail_delay_s: float = FAIL_DELAY_S,
        users_ttl_s: float = USERS_TTL_S,
    ) -> None:
        self.ctx = ctx
        self.loopback = loopback
        self.clock = clock
        self.monotonic = monotonic
        self.fail_delay_s = fail_delay_s
        self.users_ttl_s = users_ttl_s
        self.accounts = Accounts(ctx.reader.path, clock=clock)
        self.audit = AuditLog(ctx.reader.path, clock=clock)
        self.refusals = RefusalLog(log, clock=monotonic)
        self.scrypt_slots = asyncio.Semaphore(SCRYPT_SLOTS)
        self._key: bytes | None = None
        self._key_lock = asyncio.Lock()
        self._users: tuple[float, bool] | None = None

    @property
    def config(self) -> Config:
        return self.ctx.config

    async def signer(self) -> SessionSigner:
        """The session signer (the key is read or created on first use)."""
        async with self._key_lock:
            if self._key is None:
                self._key = await asyncio.to_thread(load_or_create_key, self.ctx.data_dir)
        lifetime = self.config.auth.session_lifetime
        return SessionSigner(self._key, lifetime_s=lifetime, clock=self.clock)

    async def has_users(self) -> bool:
        now = self.monotonic()
        if self._users is not None and now - self._users[0] < self.users_ttl_s:
            return self._users[1]
        try:
            found = await asyncio.to_thread(self.accounts.has_users)
        except (sqlite3.Error, OSError) as exc:
            # Fail closed: an unreadable users table must not open the API.
            log.error("auth: cannot read users from %s: %s", self.accounts.path, exc)
            return True
        self._users = (now, found)
        return found

    async def configured(self) -> bool:
        return bool(self.config.auth.tokens) or await self.has_users()

    async def session_principal(self, cookie: str) -> Principal | None:
        try:
            signer = await self.signer()
        except SessionKeyError as exc:
            log.error("auth: sessions unavailable: %s", exc)
            return None
        session = signer.verify(cookie)
        if session is None:
            return None
        try:
            user = await asyncio.to_thread(self.accounts.get, session.user)
        except (sqlite3.Error, OSError) as exc:
            log.error("auth: cannot read users from %s: %s", self.accounts.path, exc)
            return None
        if user is None or user.updated_ms != session.version:
            return None  # removed or changed since the login
        return Principal(user.name, user.role, "session", session.csrf)

    async def identify(self, headers: Headers) -> tuple[Principal | None, bool]:
        """Who the credentials name, and whether a bearer token was given but wrong."""
        token = _bearer(headers)
        if token is not None:
            found = match_token(self.config.auth.tokens, token)
            if found is None:
                return None, True
            return Principal(found.name, found.role, "token"), False
        cookie = _cookie(headers, SESSION_COOKIE)
        if cookie:
            return await self.session_principal(cookie), False
        return None, False

    async def authorize(self, method: str, path: str, headers: Headers) -> Decision:
        mutation = is_mutation(method, path)
        if self.loopback and not await self.configured():
            # Reads too: a page may POST a query as a "simple" form (no CORS preflight),
            # and a DNS-rebound name makes a page's reads same-origin.
            # Referer only beyond GET/HEAD: a link from another site to the dashboard
            # must open it (a page can suppress Referer anyway; browsers send Origin
            # on every POST and on every script request that could read a response).
            if foreign_origin(headers, referer=method not in ("GET", "HEAD")):
                return Decision(ANONYMOUS_ADMIN, 403, "cross-origin request refused")
            if not loopback_host(headers):
                return Decision(ANONYMOUS_ADMIN, 403, "request for a non-loopback host refused")
            return Decision(ANONYMOUS_ADMIN)
        principal, bad_token = await self.identify(headers)
        if bad_token:
            return Decision(NOBODY, 401, "invalid token")
        if principal is None:
            if not mutation and self.config.auth.allow_anonymous_read:
                return Decision(ANONYMOUS_VIEWER)
            return Decision(NOBODY, 401, "authentication required")
        if mutation and principal.role != "admin":
            return Decision(principal, 403, "this needs the admin role")
        if (
            mutation
            and principal.via == "session"
            and not csrf_ok(principal.csrf or "", headers.get(CSRF_HEADER))
        ):
            return Decision(principal, 403, "missing or wrong X-CSRF-Token header")
        return Decision(principal)


def wants_login_page(method: str, path: str, headers: Headers) -> bool:
    """Whether a refused request is a browser opening a page (not the API): it gets
    a 303 to ``/login?next=PATH`` instead of the 401 JSON."""
    if method not in ("GET", "HEAD") or path.startswith("/api/"):
        return False
    return "text/html" in headers.get("accept", "")


def login_redirect(scope: Scope) -> RedirectResponse:
    """A 303 to the login page, which comes back to the requested path and query."""
    query = scope.get("query_string", b"").decode("latin-1")
    target = f"{scope['path']}?{query}" if query else scope["path"]
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


def error_response(path: str, status: int, message: str) -> JSONResponse:
    """401/403 in Prometheus' error shape on /api/v1/*, else ``{"error": ...}``."""
    headers = {"WWW-Authenticate": 'Bearer realm="edgewatch"'} if status == 401 else None
    if path.startswith("/api/v1/"):
        kind = "unauthorized" if status == 401 else "forbidden"
        body: dict[str, str] = {"status": "error", "errorType": kind, "error": message}
    else:
        body = {"error": message}
    return JSONResponse(body, status_code=status, headers=headers)


class AuthMiddleware:
    """The policy, applied to every HTTP request and WebSocket of the app."""

    def __init__(self, app: ASGIApp, service: AuthService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET") if scope["type"] == "http" else "GET"
        path: str = scope["path"]
        headers = Headers(scope=scope)
        if path in SAME_ORIGIN_POSTS and method == "POST" and foreign_origin(headers):
            await error_response(path, 403, "cross-origin request refused")(scope, receive, send)
            return
        if is_open(method, path):
            await self.app(scope, receive, send)
            return
        decision = await self.service.authorize(method, path, headers)
        mutation = is_mutation(method, path)
        if decision.status is not None:
            client = scope.get("client")
            self.service.refusals.refused(
                client[0] if client else None, method, path, decision.status, decision.message
            )
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            if decision.status == 401 and wants_login_page(method, path, headers):
                await login_redirect(scope)(scope, receive, send)
                return
            await error_response(path, decision.status, decision.message)(scope, receive, send)
            # A 401 (no or bad credentials) changed nothing for anybody: logged, no row.
            if mutation and decision.status != 401:
                await self._audit(scope, decision.principal, method, path, decision.status)
            return
        scope[PRINCIPAL_KEY] = decision.principal
        if not mutation:
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # Accepted metric pushes and heartbeat pings are data, not changes to
            # edgewatch: an application pushing every few seconds would flood the log.
            if not (is_ingest(path) and 200 <= status < 300):
                await self._audit(scope, decision.principal, method, path, status)

    async def _audit(
        self, scope: Scope, principal: Principal, method: str, path: str, status: int
    ) -> None:
        client = scope.get("client")
        row = AuditRow(principal.name, principal.via, principal.role, method, path, status)
        await self.service.audit.record(replace(row, client=client[0] if client else None))


def install_auth(app: FastAPI, ctx: AppContext, *, loopback: bool) -> None:
    """Add authentication to ``app``: the policy middleware and the login routes
    (``POST /api/login``, ``POST /api/logout``, ``GET /api/whoami``)."""
    install_service(app, AuthService(ctx, loopback=loopback))


def install_service(app: FastAPI, service: AuthService) -> None:
    """``install_auth`` with a service built by the caller (tests inject clocks)."""
    # Imported here: the login routes build on this module (Principal, AuthService).
    from edgewatch.web.api_auth import build_router

    app.include_router(build_router(service))
    app.add_middleware(AuthMiddleware, service=service)
    app.state.auth = service
