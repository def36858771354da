"""Loading a YAML file into a config model, with every error placed at its file and line."""

from __future__ import annotations

import difflib
import inspect
import os
import re
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from edgewatch.config.errors import ConfigError, ConfigIssue
from edgewatch.config.model import Config
from edgewatch.config.yamltree import (
    PathPart,
    dotted,
    duplicate_keys,
    line_of,
    locate,
    node_at,
    substitute_env,
)

M = TypeVar("M", bound=BaseModel)

_SCALARS = (str, int, float, bool, type(None))
# Error types whose message already says what the value was.
_NO_GOT = {"value_error", "missing", "extra_forbidden", "model_type", "dict_type"}


def load_config(path: Path | None, *, environ: Mapping[str, str] | None = None) -> Config:
    """The config in ``path``, or the built-in defaults when ``path`` is None.

    Raises ``ConfigError`` listing every problem with file, line and key.
    """
    if path is None:
        return Config()
    return load_yaml_model(path, Config, environ=environ)


def load_yaml_model(path: Path, model: type[M], *, environ: Mapping[str, str] | None = None) -> M:
    """Any config-like model from a YAML file; see ``load_config``."""
    env = os.environ if environ is None else environ
    text = read_text_file(path, "config file")
    return parse_yaml_model(text, model, file=str(path), environ=env)


def read_text_file(path: Path, what: str) -> str:
    """The UTF-8 text of ``path``; a ConfigError naming ``what`` when it cannot be read."""
    name = str(path)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        reason = err.strerror or str(err)
        raise ConfigError([ConfigIssue(name, None, "", f"cannot read {what}: {reason}")]) from None
    except UnicodeDecodeError as err:
        raise ConfigError([ConfigIssue(name, None, "", f"not a UTF-8 text file: {err}")]) from None


def parse_yaml_model(text: str, model: type[M], *, file: str, environ: Mapping[str, str]) -> M:
    """``text`` (YAML) validated as ``model``; ``file`` is the name used in errors."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
            if root is None:
                return model()
            problems = duplicate_keys(root) + substitute_env(root, environ)
            if problems:
                raise ConfigError(
                    [ConfigIssue(file, ln, p, msg) for ln, p, msg in sorted(problems)]
                )
            data = loader.construct_document(root)
        except yaml.MarkedYAMLError as err:
            raise ConfigError([_yaml_issue(file, err)]) from None
        except yaml.YAMLError as err:
            raise ConfigError([ConfigIssue(file, None, "", f"invalid YAML: {err}")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"{data!r}"
        raise ConfigError(
            [
                ConfigIssue(
                    file, line_of(root), "", f"the config must be a mapping of keys, got {kind}"
                )
            ]
        )
    try:
        return model.model_validate(data)
    except ValidationError as err:
        issues = [_issue(file, root, model, detail) for detail in err.errors()]
        raise ConfigError(sorted(issues, key=lambda i: (i.line or 0, i.field_path))) from None


def _yaml_issue(file: str, err: yaml.MarkedYAMLError) -> ConfigIssue:
    mark = err.problem_mark or err.context_mark
    line = int(mark.line) + 1 if mark is not None else None
    message = err.problem or err.context or "invalid YAML"
    if err.context and err.problem and err.context_mark is not None:
        message = f"{message} ({err.context} at line {int(err.context_mark.line) + 1})"
    return ConfigIssue(file, line, "", f"invalid YAML: {message}")


def _issue(file: str, root: yaml.Node, model: type[BaseModel], detail: ErrorDetails) -> ConfigIssue:
    path, parent = _real_path(model, detail["loc"])
    kind = detail["type"]
    message = detail["msg"]
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    elif kind == "extra_forbidden":
        message = _unknown_key_message(str(path[-1]), parent)
    elif kind == "missing":
        message = "required key is missing"
    if kind not in _NO_GOT:
        message += _got(root, path, detail.get("input"))
    line = locate(root, path, key_line=kind == "extra_forbidden")
    return ConfigIssue(file, line, dotted(path), message)


# user:password@ in a URL: never echoed back in an error (it lands in logs).
_URL_USERINFO = re.compile(r"(\w+://)[^/@\s]*@")
_MASKED = r"\1***@"


def _got(root: yaml.Node, path: Sequence[PathPart], value: object) -> str:
    """`` (got VALUE)`` as the YAML wrote it: strings quoted, other scalars verbatim."""
    if not isinstance(value, _SCALARS):
        return ""
    node = node_at(root, path)
    if isinstance(value, str):
        return f" (got {_URL_USERINFO.sub(_MASKED, value)!r})"
    if not isinstance(node, yaml.ScalarNode):
        return f" (got {value!r})"
    return f" (got {node.value})"


def _unknown_key_message(key: str, parent: Any) -> str:
    if not (inspect.isclass(parent) and issubclass(parent, BaseModel)):
        return f"unknown key {key!r}"
    valid = list(parent.model_fields)
    close = difflib.get_close_matches(key, valid, n=1)
    if close:
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    return f"unknown key {key!r}; valid keys: {', '.join(valid)}"


def _real_path(model: type[BaseModel], loc: Sequence[PathPart]) -> tuple[list[PathPart], Any]:
    """The parts of a pydantic ``loc`` that are keys and indexes in the YAML.

    pydantic adds schema names (union members, validator wrappers) to ``loc``;
    walking the model's annotations tells them apart. Also returns the type
    holding the last real part (for "did you mean").
    """
    path: list[PathPart] = []
    current: Any = model
    parent: Any = None
    for part in loc:
        step = _step(current, part)
        if step is None:
            continue
        path.append(part)
        parent, current = current, step[0]
    return path, parent


def _step(annotation: Any, part: PathPart) -> tuple[Any] | None:
    """(type of the child) when ``part`` is a real key/index under ``annotation``, else None."""
    annotation = unwrap_annotation(annotation)
    origin = get_origin(annotation)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        if not isinstance(part, str):
            return None
        field = annotation.model_fields.get(part)
        return (field.annotation if field is not None else None,)
    if origin in (dict, Mapping) and isinstance(part, str):
        return (get_args(annotation)[1],)
    if origin in (list, tuple, Sequence) and isinstance(part, int):
        return (get_args(annotation)[0],)
    return None


def unwrap_annotation(annotation: Any) -> Any:
    """The model or type inside ``Annotated[...]`` and ``X | None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
