"""Placeholder (being written): authentication and authorisation."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from edgewatch.config import Config
from edgewatch.web.context import AppContext


def auth_configured(config: Config, db_path: Path) -> bool:
    """True when at least one API token or one dashboard user exists."""
    return bool(config.auth.tokens)


def install_auth(app: FastAPI, ctx: AppContext, *, loopback: bool) -> None:
    """Add authentication to ``app`` (middleware, login routes)."""
