"""Errors that reach people: each carries a message fit to print as one line."""

from __future__ import annotations

import click


class UsageError(click.ClickException):
    """Bad usage or input (config, arguments, data directory): exit code 2, no traceback."""

    exit_code = 2
