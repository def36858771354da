"""docs/cli.md is generated from --help; it must match the commands as they are."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current() -> None:
    render = runpy.run_path(str(ROOT / "docs" / "gen_cli.py"))["render"]
    current = (ROOT / "docs" / "cli.md").read_text()
    assert render() == current, "docs/cli.md is stale: run `make docs`"


def test_every_command_is_in_the_reference() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    for command in ("run", "series", "query", "export", "config validate", "config schema"):
        assert f"## edgewatch {command}\n" in text
