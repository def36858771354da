"""Every config key is documented in docs/config.md with its true default, and shown in
examples/edgewatch.yaml."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel

from edgewatch.config import Config
from edgewatch.config.loader import unwrap_annotation

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "config.md"
EXAMPLE = ROOT / "examples" / "edgewatch.yaml"
SECTION = object()  # the documented default of a section: empty
REQUIRED = "(required)"


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def config_keys(
    model: type[BaseModel], defaults: Any, prefix: str = ""
) -> Iterator[tuple[str, Any]]:
    """(dotted key, default as `config show` prints it) for every key; SECTION for sections.

    Mappings of models (process groups) document their entries as ``<name>``.
    """
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"  # the YAML key: `continue`, not `continue_`
        annotation = unwrap_annotation(field.annotation)
        value = defaults.get(name) if isinstance(defaults, dict) else None
        if _is_model(annotation):
            yield key, SECTION
            # An optional section that is unset by default documents its fields' defaults.
            inner = value if value is not None else _field_defaults(annotation)
            yield from config_keys(annotation, inner, f"{key}.")
        elif get_origin(annotation) is dict and _is_model(get_args(annotation)[1]):
            yield key, value
            entry = get_args(annotation)[1]
            yield from config_keys(entry, _field_defaults(entry), f"{key}.<name>.")
        else:
            yield key, REQUIRED if field.is_required() else value


def _field_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """A model's field defaults as ``config show`` prints them (tuples as lists)."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if not field.is_required():
            value = field.get_default(call_default_factory=True)
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def doc_rows() -> dict[str, str]:
    """Key -> default cell of every table row whose first cell is a `key`."""
    rows: dict[str, str] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]
        if len(cells) >= 4 and re.fullmatch(r"`[a-z0-9_.<>]+`", cells[1]):
            rows[cells[1].strip("`")] = cells[2]
    return rows


def expected_cell(default: Any) -> str | None:
    """The default cell for scalars (None: lists, checked item by item)."""
    if default is SECTION:
        return ""
    if default == REQUIRED:
        return REQUIRED
    if isinstance(default, list):
        return "`[]`" if not default else None
    if isinstance(default, dict):
        return "`{}`" if not default else None
    if default is None:
        return "`null`"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def test_every_config_key_is_documented_with_its_default() -> None:
    rows = doc_rows()
    keys = list(config_keys(Config, Config().model_dump(mode="json")))
    assert len(keys) > 40
    missing = [key for key, _ in keys if key not in rows]
    assert missing == [], f"config keys missing from {DOCS}: {missing}"
    wrong = []
    for key, default in keys:
        cell = rows[key]
        expected = expected_cell(default)
        if expected is None:
            if any(f"`{item}`" not in cell for item in default):
                wrong.append((key, cell, default))
        elif cell != expected:
            wrong.append((key, cell, expected))
    assert wrong == [], f"documented defaults differ from the model: {wrong}"


def test_docs_list_no_key_the_model_does_not_have() -> None:
    keys = {key for key, _ in config_keys(Config, Config().model_dump(mode="json"))}
    stale = [key for key in doc_rows() if key not in keys]
    assert stale == []


def _yaml_keys(data: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(data, dict):
        for name, value in data.items():
            yield f"{prefix}{name}"
            yield from _yaml_keys(value, f"{prefix}{name}.")


def test_example_shows_every_key() -> None:
    shown = set(_yaml_keys(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))))
    shown |= {re.sub(r"(groups|components)\.[^.]+\.", r"\1.<name>.", key) for key in shown}
    keys = [key for key, _ in config_keys(Config, Config().model_dump(mode="json"))]
    assert [key for key in keys if key not in shown] == []
