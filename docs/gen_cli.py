"""Print docs/cli.md: the ``--help`` of every edgewatch command (``make docs``)."""

from __future__ import annotations

import click

from edgewatch.cli import cli


def walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            found += walk(cmd.commands[name], [*path, name])
    return found


def render() -> str:
    parts = [
        "# Command line reference\n",
        "Generated from `--help` by `make docs` (docs/gen_cli.py); a test fails when it is stale.\n",
    ]
    for path, cmd in walk(cli, ["edgewatch"]):
        ctx = click.Context(cmd, info_name=" ".join(path), terminal_width=100)
        parts.append(f"## {' '.join(path)}\n\n```text\n{cmd.get_help(ctx)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
