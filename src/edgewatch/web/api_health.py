"""``/livez`` (the process answers) and ``/readyz`` (the store is open, collectors run)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from edgewatch.web.context import AppContext
from edgewatch.web.dependencies import get_context
from edgewatch.web.errors import ErrorBody, error_response

router = APIRouter(tags=["health"])


class Status(BaseModel):
    status: Literal["ok"]


@router.get("/livez", response_model=Status, summary="The agent's process is alive")
async def livez() -> Status:
    return Status(status="ok")


@router.get(
    "/readyz",
    response_model=Status,
    summary="The agent is ready: store open, collectors running",
    responses={503: {"model": ErrorBody, "description": "Starting or stopping"}},
)
async def readyz(ctx: Annotated[AppContext, Depends(get_context)]) -> Status | JSONResponse:
    if not ctx.ready():
        return error_response(503, "not ready: the agent is starting or stopping")
    return Status(status="ok")
