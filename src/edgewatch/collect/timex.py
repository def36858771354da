"""Clock discipline from the kernel: ``adjtimex(2)`` in read-only mode (``modes = 0``).

A device without a real-time clock that boots with the wrong time corrupts every
chart; ``node_timex_sync_status`` says whether NTP (or chrony, or
systemd-timesyncd) has synchronised the kernel clock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from typing import NamedTuple

STA_UNSYNC = 0x0040  # clock not synchronised
STA_NANO = 0x2000  # offset in nanoseconds instead of microseconds
TIME_ERROR = 5  # adjtimex return value: clock not synchronised


class _Timeval(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long))


class _Timex(ctypes.Structure):
    """``struct timex`` from <sys/timex.h> (Linux, native ``long``)."""

    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    )


class TimexReading(NamedTuple):
    synced: bool
    offset_seconds: float
    maxerror_seconds: float
    esterror_seconds: float
    frequency_ppm: float
    tai_offset_seconds: float


TimexReader = Callable[[], TimexReading]


def open_adjtimex() -> TimexReader:
    """A function reading the kernel clock state; raises OSError when unavailable."""
    libc_name = ctypes.util.find_library("c") or "libc.so.6"
    libc = ctypes.CDLL(libc_name, use_errno=True)
    adjtimex = libc.adjtimex
    adjtimex.argtypes = (ctypes.POINTER(_Timex),)
    adjtimex.restype = ctypes.c_int

    def read() -> TimexReading:
        tx = _Timex()  # modes = 0: read only, never adjusts the clock
        state = adjtimex(ctypes.byref(tx))
        if state < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"adjtimex failed: errno {errno}")
        offset_unit = 1e-9 if tx.status & STA_NANO else 1e-6
        return TimexReading(
            synced=not (tx.status & STA_UNSYNC) and state != TIME_ERROR,
            offset_seconds=tx.offset * offset_unit,
            maxerror_seconds=tx.maxerror * 1e-6,
            esterror_seconds=tx.esterror * 1e-6,
            frequency_ppm=tx.freq / 65536.0,
            tai_offset_seconds=float(tx.tai),
        )

    read()  # fail now, not every collection
    return read
