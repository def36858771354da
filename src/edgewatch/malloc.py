"""glibc malloc and the agent's memory: fewer arenas, and freed pages handed back.

glibc gives each thread that allocates its own arena (up to 8 per core), and memory
freed in one arena is not reused by the threads of another. The agent has a dozen
mostly idle threads (store writer and readers, collector pool, uvicorn), so arenas
only cost it resident memory: with two, a default agent kept 1.3 MiB less after a
minute and 2.5 to 3 MiB less after a few minutes (bench/agent_overhead.py, x86-64).

``MALLOC_ARENA_MAX`` in the environment wins (glibc has applied it already); other C
libraries (musl) have no arenas and are left alone.

After each compaction the store calls ``return_freed_memory`` (``malloc_trim``): glibc
would otherwise keep the compaction's temporaries resident until the next one. It costs
the next compaction the page faults of getting them back (about 0.025 us a sample on
bench/store.py's 500 series at 1 s), which the agent pays to stay small between them.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

AGENT_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt parameter, glibc's malloc.h


def limit_arenas(arenas: int = AGENT_ARENAS, environ: dict[str, str] | None = None) -> bool:
    """Cap glibc's malloc arenas at ``arenas``; call before the agent starts threads.

    True when the cap was set; False when the environment sets one or this is not glibc."""
    env = os.environ if environ is None else environ
    if "MALLOC_ARENA_MAX" in env:
        return False
    libc = ctypes.CDLL(None)  # the C library the interpreter runs on
    if not hasattr(libc, "gnu_get_libc_version"):
        return False  # not glibc (musl's mallopt is a stub)
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if mallopt(_M_ARENA_MAX, arenas) != 1:
        log.debug("mallopt(M_ARENA_MAX, %d) refused", arenas)
        return False
    return True


@functools.cache
def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None
    return trim


def return_freed_memory() -> None:
    """Hand the heap pages a compaction freed back to the OS (glibc keeps them otherwise:
    about 12 MB of RSS on a 250-series agent)."""
    trim = _find_malloc_trim()
    if trim is not None:
        trim(0)
