"""Where the config file and the data directory are: flag, then environment, then default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from edgewatch.config.model import Config

DATA_DIR_ENV = "EDGEWATCH_DATA_DIR"
CONFIG_ENV = "EDGEWATCH_CONFIG"
SYSTEM_DATA_DIR = Path("/var/lib/edgewatch")


def resolve_config_path(
    cli_value: str | None, *, environ: Mapping[str, str] | None = None
) -> Path | None:
    """``--config``, else ``EDGEWATCH_CONFIG``, else None (the built-in defaults)."""
    env = os.environ if environ is None else environ
    value = cli_value or env.get(CONFIG_ENV)
    return Path(value).expanduser() if value else None


def resolve_data_dir(
    cli_value: str | None,
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
    is_root: bool | None = None,
) -> Path:
    """``--data-dir``, else ``EDGEWATCH_DATA_DIR``, else ``data_dir`` from the config, else
    ``/var/lib/edgewatch`` when running as root, else ``$XDG_DATA_HOME/edgewatch``
    (``~/.local/share/edgewatch`` when XDG_DATA_HOME is unset or relative).

    Only computes the path; creating and checking it is the caller's job.
    """
    env = os.environ if environ is None else environ
    if cli_value:
        return Path(cli_value).expanduser()
    if env.get(DATA_DIR_ENV):
        return Path(env[DATA_DIR_ENV]).expanduser()
    if config.data_dir is not None:
        return config.data_dir.expanduser()
    root = os.geteuid() == 0 if is_root is None else is_root
    if root:
        return SYSTEM_DATA_DIR
    xdg = env.get("XDG_DATA_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "edgewatch"
    home = env.get("HOME")
    base = Path(home) if home else Path.home()
    return base / ".local" / "share" / "edgewatch"
