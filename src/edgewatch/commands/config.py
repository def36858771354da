"""``edgewatch config validate|schema|show``: check, describe and print the config."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.config import (
    Config,
    ConfigError,
    load_config,
    render_yaml,
    resolve_config_path,
)


@click.group("config", context_settings=CONTEXT_SETTINGS)
def config_group() -> None:
    """Check, describe and print the edgewatch configuration."""


@config_group.command("validate", context_settings=CONTEXT_SETTINGS)
@click.argument(
    "files", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
def validate_cmd(files: tuple[Path, ...]) -> None:
    """Check config files: prints 'FILE: ok', or each error with its line, and exits 2."""
    failed = False
    for file in files:
        try:
            load_config(file)
        except ConfigError as err:
            err.show()
            failed = True
        else:
            click.echo(f"{file}: ok")
    if failed:
        raise SystemExit(ConfigError.exit_code)


@config_group.command("schema", context_settings=CONTEXT_SETTINGS)
def schema_cmd() -> None:
    """Print the JSON Schema of the config file (for editor completion and checks)."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    schema.update(Config.model_json_schema())
    click.echo(json.dumps(schema, indent=2))


@config_group.command("show", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="Config file (default: $EDGEWATCH_CONFIG, else the built-in defaults).",
)
def show_cmd(config_file: str | None) -> None:
    """Print the effective config as YAML, secrets masked."""
    path = resolve_config_path(config_file)
    config = load_config(path)
    source = f"from {path}" if path is not None else "built-in defaults (no config file)"
    click.echo(f"# edgewatch effective config: {source}")
    click.echo(render_yaml(config), nl=False)
