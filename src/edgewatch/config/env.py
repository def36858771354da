"""``${NAME}`` references in config values, resolved from the environment.

- ``${NAME}``: the variable's value; an error when it is unset.
- ``${NAME:-default}``: the default when NAME is unset or empty.
- ``NAME_FILE``: when NAME is unset but NAME_FILE is set, the value is read from
  the file it names (trailing newline stripped) — the Docker/systemd-credentials
  way of passing secrets.
- ``$${`` is a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

_REF_RE = re.compile(r"\$\$\{|\$\{([^}:]*)(?::-([^}]*))?\}")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EnvReferenceError(ValueError):
    """A ``${...}`` reference that cannot be resolved; the message names the variable."""


def substitute(text: str, environ: Mapping[str, str]) -> str:
    """``text`` with every ``${NAME}`` reference replaced; see the module docstring."""
    if "${" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if not _NAME_RE.match(name):
            raise EnvReferenceError(
                f"{match.group(0)!r} is not a valid reference; use ${{NAME}} or ${{NAME:-default}}"
            )
        value = environ.get(name)
        if default is not None:
            return value if value else default
        if value is not None:
            return value
        file_name = environ.get(f"{name}_FILE")
        if file_name:
            return _read_secret_file(name, Path(file_name))
        raise EnvReferenceError(
            f"environment variable {name} is not set (nor {name}_FILE); "
            f"set it or write ${{{name}:-default}}"
        )

    return _REF_RE.sub(replace, text)


def _read_secret_file(name: str, path: Path) -> str:
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise EnvReferenceError(f"cannot read {name}_FILE={path}: {reason}") from None
    return content.rstrip("\r\n")
