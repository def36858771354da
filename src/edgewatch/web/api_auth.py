"""``POST /api/login``, ``POST /api/logout`` and ``GET /api/whoami``.

A login takes JSON or a form (``username``, ``password``; a form may add ``next``,
a local path to go to afterwards) and sets the signed session cookie plus the
readable CSRF cookie. A failed login answers 401 after a fixed delay; too many
failures from one client address answer 429 for a while.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from edgewatch.timespec import format_time
from edgewatch.web.accounts import ANONYMOUS
from edgewatch.web.audit import AuditRow
from edgewatch.web.auth import AuthService, current_principal
from edgewatch.web.sessions import CSRF_COOKIE, SESSION_COOKIE, Session, SessionKeyError

log = logging.getLogger(__name__)

MAX_LOGIN_BODY = 8192
MAX_FAILURES = 10  # failed logins per client address ...
FAILURE_WINDOW_S = 60.0  # ... per this window; past it: 429
MAX_CLIENTS = 10_000  # client addresses remembered (oldest forgotten first)


_CREDENTIALS = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "username": {"type": "string"},
        "password": {"type": "string", "format": "password"},
        "next": {"type": "string", "description": "Forms only: a local path to go to."},
    },
}
LOGIN_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _CREDENTIALS},
            "application/x-www-form-urlencoded": {"schema": _CREDENTIALS},
        },
    }
}
_ERROR = {"content": {"application/json": {"schema": {"type": "object"}}}}
LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {"description": "A form with `next`: logged in (to `next`) or not (to /login?failed=1)"},
    400: {"description": "No username or password", **_ERROR},
    401: {"description": "Wrong user name or password", **_ERROR},
    413: {"description": "Body too large", **_ERROR},
    415: {"description": "Neither JSON nor a form", **_ERROR},
    429: {"description": "Too many failed logins from this address", **_ERROR},
    503: {"description": "Logins unavailable (users or session key unreadable)", **_ERROR},
}


class LoginLimiter:
    """Failed logins per client address in a sliding window."""

    def __init__(
        self,
        *,
        max_failures: int = MAX_FAILURES,
        window_s: float = FAILURE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str) -> deque[float]:
        times = self._failures.get(client)
        if times is None:
            return deque()
        cutoff = self._clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[client]
        return times

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again; 0 when it may now."""
        times = self._recent(client)
        if len(times) < self.max_failures:
            return 0
        return max(1, int(times[-self.max_failures] + self.window_s - self._clock()) + 1)

    def failed(self, client: str) -> None:
        times = self._recent(client)
        self._failures[client] = times
        self._failures.move_to_end(client)
        times.append(self._clock())
        while len(times) > self.max_failures:
            times.popleft()
        while len(self._failures) > MAX_CLIENTS:
            self._failures.popitem(last=False)


class BadLogin(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_credentials(request: Request) -> tuple[str, str, str | None]:
    """``(username, password, next)`` from a JSON or form body."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_BODY:
            raise BadLogin(413, "request body too large")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
        if ctype == "application/json":
            data = json.loads(text)
            fields = data if isinstance(data, dict) else {}
            nxt = None
        elif ctype == "application/x-www-form-urlencoded":
            form = parse_qs(text, keep_blank_values=True, max_num_fields=10)
            fields = {key: values[0] for key, values in form.items()}
            nxt = fields.get("next")
        else:
            raise BadLogin(415, "send JSON or a form (application/x-www-form-urlencoded)")
    except ValueError:
        raise BadLogin(400, "the body is not valid JSON or form data") from None
    username, password = fields.get("username"), fields.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise BadLogin(400, "give username and password")
    # Only a local path: never an open redirect to another site.
    if not (isinstance(nxt, str) and nxt.startswith("/") and not nxt.startswith(("//", "/\\"))):
        nxt = None
    return username, password, nxt


def set_session_cookies(
    response: Response, cookie: str, session: Session, *, secure: bool, lifetime_s: float
) -> None:
    max_age = max(1, math.ceil(lifetime_s))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    response.set_cookie(
        CSRF_COOKIE,
        session.csrf,
        max_age=max_age,
        path="/",
        httponly=False,
        samesite="strict",
        secure=secure,
    )


def build_router(service: AuthService, limiter: LoginLimiter | None = None) -> APIRouter:
    """The login routes of ``service``'s app."""
    limits = limiter or LoginLimiter(clock=service.monotonic)
    router = APIRouter(tags=["auth"])

    async def audit(request: Request, actor: str, via: str, role: str | None, status: int) -> None:
        client = request.client.host if request.client else None
        path = request.url.path
        await service.audit.record(AuditRow(actor, via, role, request.method, path, status, client))

    @router.post(
        "/api/login",
        summary="Log in: sets the session and CSRF cookies",
        openapi_extra=LOGIN_OPENAPI,
        responses=LOGIN_RESPONSES,
    )
    async def login(request: Request) -> Response:
        started = service.monotonic()
        client = request.client.host if request.client else "unknown"
        try:
            username, password, nxt = await read_credentials(request)
        except BadLogin as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        wait = limits.retry_after(client)
        if wait:
            log.warning(
                "auth: login for user %r from %s refused: too many failures", username[:64], client
            )
            await audit(request, username, "session", None, 429)
            return JSONResponse(
                {"error": "too many failed logins; try again later"},
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        try:
            async with service.scrypt_slots:
                user = await asyncio.to_thread(service.accounts.authenticate, username, password)
            signer = await service.signer() if user is not None else None
        except (sqlite3.Error, OSError, SessionKeyError) as exc:
            log.error("auth: login for user %r failed: %s", username[:64], exc)
            return JSONResponse({"error": "logins are unavailable; see the log"}, status_code=503)
        if user is None or signer is None:
            limits.failed(client)
            log.warning("auth: failed login for user %r from %s", username[:64], client)
            await asyncio.sleep(max(0.0, started + service.fail_delay_s - service.monotonic()))
            await audit(request, username, "session", None, 401)
            if nxt is not None:
                return RedirectResponse("/login?failed=1", status_code=303)
            return JSONResponse({"error": "wrong user name or password"}, status_code=401)
        cookie, session = signer.issue(user.name, user.role, user.updated_ms)
        log.info("auth: user %r logged in from %s", user.name, client)
        body = {"user": user.name, "role": user.role, "expires": format_time(session.expires_ms)}
        response: Response = (
            RedirectResponse(nxt, status_code=303) if nxt is not None else JSONResponse(body)
        )
        auth = service.config.auth
        set_session_cookies(
            response, cookie, session, secure=auth.secure_cookies, lifetime_s=auth.session_lifetime
        )
        await audit(request, user.name, "session", user.role, response.status_code)
        return response

    @router.post("/api/logout", summary="Log out: clears the session cookies")
    async def logout(request: Request) -> Response:
        principal, _ = await service.identify(request.headers)
        response = JSONResponse({"logged_out": True})
        secure = service.config.auth.secure_cookies
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            response.delete_cookie(
                name, path="/", samesite="strict", secure=secure, httponly=name == SESSION_COOKIE
            )
        if principal is not None:
            await audit(request, principal.name, principal.via, principal.role, 200)
        else:
            await audit(request, ANONYMOUS, "anonymous", None, 200)
        return response

    @router.get("/api/whoami", summary="Who the request's credentials name, and their role")
    async def whoami(request: Request) -> dict[str, str | None]:
        principal = current_principal(request)
        return {"user": principal.name, "role": principal.role, "via": principal.via}

    return router
