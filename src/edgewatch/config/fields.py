"""Small validated value types of the config: regexes, unit names, listen addresses, log levels."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator

_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_LISTEN_HINT = "use HOST:PORT, e.g. 127.0.0.1:8700, 0.0.0.0:8700 or [::1]:8700"


def check_regex(value: str) -> str:
    """The pattern itself, once it compiles; a clear error when it does not."""
    try:
        re.compile(value)
    except re.error as err:
        raise ValueError(f"{value!r} is not a valid regular expression: {err}") from None
    return value


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); IPv6 hosts are written in brackets (``[::1]:8700``).

    Port 0 is allowed (the OS picks a free port, useful in tests).
    """
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{value!r} is not a listen address; {_LISTEN_HINT}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} in {value!r} is out of range 0..65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in {value!r} is not an IPv6 address") from None
        return host, port
    if ":" in host:
        raise ValueError(f"IPv6 host in {value!r} must be in brackets; {_LISTEN_HINT}")
    if not _HOSTNAME_RE.match(host):
        raise ValueError(f"{host!r} in {value!r} is not a host name or address; {_LISTEN_HINT}")
    return host, port


def _check_listen(value: str) -> str:
    parse_listen(value)
    return value


def check_unit_name(value: str) -> str:
    """A systemd unit name, without glob characters (a glob would match any number of units)."""
    if not value.strip():
        raise ValueError("a unit name must not be empty")
    globs = sorted({c for c in value if c in "*?["})
    if globs:
        raise ValueError(
            f"{value!r} is a glob ({' '.join(globs)}); name each unit exactly, e.g. vision.service"
        )
    return value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


Regex = Annotated[str, AfterValidator(check_regex)]
"""A regular expression (Python ``re`` syntax), checked to compile; kept as its text."""

UnitName = Annotated[str, AfterValidator(check_unit_name)]
"""A systemd unit name such as ``vision.service``; globs are refused."""

ListenAddress = Annotated[str, AfterValidator(_check_listen)]
"""``HOST:PORT``; see :func:`parse_listen`."""

LogLevel = Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)]
