"""Placeholder for ``edgewatch series|query|export`` (the lead replaces this module)."""

from __future__ import annotations

import click

from edgewatch.errors import UsageError


@click.command("series")
def series_cmd() -> None:
    """List series (not implemented yet)."""
    raise UsageError("not implemented yet")


@click.command("query")
def query_cmd() -> None:
    """Query a series (not implemented yet)."""
    raise UsageError("not implemented yet")


@click.command("export")
def export_cmd() -> None:
    """Export samples (not implemented yet)."""
    raise UsageError("not implemented yet")
