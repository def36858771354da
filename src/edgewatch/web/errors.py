"""Every error the web app answers is JSON, never an HTML or plain-text page.

Two shapes, chosen by path:

- ``/api/v1/*`` speaks Prometheus' error format so Grafana and other Prometheus
  clients read it: ``{"status": "error", "errorType": "bad_data", "error": "..."}``;
  a request validation error there is ``400 bad_data``, as in Prometheus.
- every other path: ``{"error": "message", "detail": ...}`` (``detail`` is null, or
  structured data such as the list of invalid parameters).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgewatch.query import QueryError

log = logging.getLogger(__name__)

PROM_PREFIX = "/api/v1"

PromErrorType = Literal["bad_data", "execution", "timeout", "not_found", "internal", "unavailable"]


class ErrorBody(BaseModel):
    """The error shape of every endpoint outside ``/api/v1``."""

    error: str
    detail: Any = None


class PromErrorBody(BaseModel):
    """Prometheus' HTTP API error shape (``/api/v1/*``)."""

    status: Literal["error"]
    errorType: str
    error: str


# OpenAPI ``responses=`` for the routes of each family.
PROM_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": PromErrorBody, "description": "Bad parameter or malformed query"},
    422: {"model": PromErrorBody, "description": "The query cannot be executed"},
    503: {"model": PromErrorBody, "description": "The query timed out"},
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad parameter or malformed query"},
    422: {"model": ErrorBody, "description": "Invalid request, or the query cannot be executed"},
    503: {"model": ErrorBody, "description": "Timed out or not available"},
}


def is_prom_path(request: Request) -> bool:
    path = request.url.path
    return path == PROM_PREFIX or path.startswith(PROM_PREFIX + "/")


def prom_error(status: int, error_type: str, message: str) -> JSONResponse:
    body = {"status": "error", "errorType": error_type, "error": message}
    return JSONResponse(body, status_code=status)


def error_response(
    status: int, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, "detail": detail}, status_code=status, headers=headers)


def _status_error_type(status: int) -> str:
    if status == 404:
        return "not_found"
    if status == 503:
        return "unavailable"
    return "internal" if status >= 500 else "bad_data"


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # ``input`` is left out: it may echo a password or token back.
    errors: list[dict[str, Any]] = []
    for err in exc.errors():
        item = {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err["type"]}
        errors.append(jsonable_encoder(item))
    return errors


def _parameter(loc: Any) -> str:
    """The parameter a validation error is about: ``("query", "step")`` -> ``step``."""
    parts = [str(part) for part in loc]
    if parts and parts[0] in ("query", "body", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "request"


async def _on_query_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, QueryError):  # pragma: no cover - registered for QueryError only
        raise exc
    if is_prom_path(request):
        return prom_error(exc.status, exc.error_type, str(exc))
    return error_response(exc.status, str(exc), {"errorType": exc.error_type})


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        raise exc
    errors = _validation_errors(exc)
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    message = f'invalid parameter "{_parameter(first["loc"])}": {first["msg"]}'
    if is_prom_path(request):
        return prom_error(400, "bad_data", message)
    return error_response(422, message, errors)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
        raise exc
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code in (204, 304) or exc.status_code < 400:
        return Response(status_code=exc.status_code, headers=headers)
    if isinstance(exc.detail, str):
        message, detail = exc.detail, None
    else:
        message, detail = f"HTTP {exc.status_code}", jsonable_encoder(exc.detail)
    if is_prom_path(request):
        response = prom_error(exc.status_code, _status_error_type(exc.status_code), message)
        if headers:
            response.headers.update(headers)
        return response
    return error_response(exc.status_code, message, detail, headers)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.error(
        "unexpected error answering %s %s: %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc,
        exc_info=exc,
    )
    message = f"internal error: {type(exc).__name__}"
    if is_prom_path(request):
        return prom_error(500, "internal", message)
    return error_response(500, message)


class CatchUnexpected:
    """ASGI middleware: an exception no handler took becomes a JSON 500, logged once.

    Starlette's outermost ServerErrorMiddleware would answer too, but re-raises (the
    server logs the traceback again); this one answers and stops there. An exception
    after the response started (a broken stream) can only be logged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            request = Request(scope)
            if started:
                log.error(
                    "error while streaming %s %s: %s: %s",
                    request.method,
                    request.url.path,
                    type(exc).__name__,
                    exc,
                    exc_info=exc,
                )
                return
            response = await _on_unexpected(request, exc)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in JSON, in the shape its path calls for."""
    app.add_exception_handler(QueryError, _on_query_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_middleware(CatchUnexpected)
