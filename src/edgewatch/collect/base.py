"""Small helpers shared by the collectors: file reads that never raise, cached keys."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from edgewatch.model import MetricFamily, MetricType, SeriesKey

# Kernel-reported CPU times are in USER_HZ ticks; 100 on every Linux port we know of.
USER_HZ = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
# Distinct label sets remembered per collector before the cache is emptied.
MAX_CACHED_KEYS = 4096

GAUGE = MetricType.GAUGE
COUNTER = MetricType.COUNTER
INFO = MetricType.INFO


def read_text(path: str) -> str | None:
    """The file's text, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def read_small(path: str, size: int = 4096) -> bytes | None:
    """Up to ``size`` bytes of a small /proc file in one read(2), or None.

    About twice as fast as ``open().read()`` (no buffered text layer), which
    matters when reading two files of each of hundreds of processes.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_stripped(path: str) -> str | None:
    text = read_text(path)
    return None if text is None else text.strip()


def read_int(path: str) -> int | None:
    """The integer a sysfs attribute holds, or None when absent or not a number."""
    text = read_stripped(path)
    if text is None:
        return None
    try:
        return int(text, 0) if text.startswith("0x") else int(text)
    except ValueError:
        return None


def list_dir(path: str) -> list[str]:
    """Sorted entries of a directory; empty when it does not exist."""
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


class KeyCache:
    """SeriesKeys memoised by family and label values.

    Building a SeriesKey sorts its labels; doing that for every sample every
    second is measurable, so collectors ask this cache instead.
    """

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: dict[tuple[str, tuple[str, ...]], SeriesKey] = {}

    def key(self, family: MetricFamily, *values: str) -> SeriesKey:
        cache_key = (family.name, values)
        found = self._keys.get(cache_key)
        if found is None:
            if len(self._keys) >= MAX_CACHED_KEYS:
                self._keys.clear()
            found = SeriesKey.of(family.name, dict(zip(family.labels, values, strict=True)))
            self._keys[cache_key] = found
        return found


RATIO_DECIMALS = 6


def ratio(part: float, whole: float) -> float:
    """``part / whole`` rounded to 1 ppm: the inputs are counts of ticks, pages or
    blocks, so more digits are noise, and a decimal compresses far better in the store
    than a full-precision float."""
    return round(part / whole, RATIO_DECIMALS)


def family(name: str, kind: MetricType, help_text: str, *labels: str) -> MetricFamily:
    return MetricFamily(name, kind, help_text, tuple(labels))


class OnceLogger:
    """Logs each distinct message once per collector instance (absent hardware, odd files)."""

    __slots__ = ("_log", "_seen")

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._seen: set[str] = set()

    def info(self, message: str) -> None:
        self._emit(self._log.info, message)

    def warning(self, message: str) -> None:
        self._emit(self._log.warning, message)

    def _emit(self, sink: Callable[[str], None], message: str) -> None:
        if message in self._seen or len(self._seen) > 256:
            return
        self._seen.add(message)
        sink(message)
