"""Print docs/cli.md: the ``--help`` of every edgewatch command (``make docs``)."""

from __future__ import annotations

import click

from edgewatch.cli import cli


def walk(ctx: click.Context) -> list[click.Context]:
    """The context of every command, children inheriting settings as at run time."""
    found = [ctx]
    if isinstance(ctx.command, click.Group):
        for name in sorted(ctx.command.commands):
            sub = ctx.command.commands[name]
            found += walk(sub.make_context(name, [], parent=ctx, resilient_parsing=True))
    return found


def render() -> str:
    parts = [
        "# Command line reference\n",
        "Generated from `--help` by `make docs` (docs/gen_cli.py);"
        " a test fails when it is stale.\n",
    ]
    root = cli.make_context(
        "edgewatch", [], resilient_parsing=True, terminal_width=100, max_content_width=100
    )
    for ctx in walk(root):
        parts.append(f"## {ctx.command_path}\n\n```text\n{ctx.get_help()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
