"""FastAPI dependencies shared by the routers (fastapi is imported with the web app)."""

from __future__ import annotations

from fastapi import Request

from edgewatch.web.context import AppContext


async def get_context(request: Request) -> AppContext:
    """FastAPI dependency: the AppContext that ``create_app`` put in ``app.state.ctx``.

    ``async`` on purpose: FastAPI runs a plain-``def`` dependency in a worker thread,
    which doubled the cost of every request.
    """
    ctx: AppContext = request.app.state.ctx
    return ctx
