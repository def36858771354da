"""Config errors people read: one line each, naming the file, line and key."""

from __future__ import annotations

from typing import IO, Any, NamedTuple

import click

from edgewatch.errors import UsageError


class ConfigIssue(NamedTuple):
    """One problem in a config file. ``line`` is 1-based; None when no line applies."""

    file: str
    line: int | None
    field_path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.field_path:
            return f"{where}: {self.field_path}: {self.message}"
        return f"{where}: {self.message}"


class ConfigError(UsageError):
    """The config cannot be used. ``errors`` lists every problem found, in file order.

    A ``UsageError``: reaching the CLI it prints one line per problem on stderr
    and exits 2, no traceback.
    """

    def __init__(self, errors: list[ConfigIssue]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(issue) for issue in self.errors))

    def show(self, file: IO[Any] | None = None) -> None:
        for issue in self.errors:
            click.echo(str(issue), file=file, err=file is None)
