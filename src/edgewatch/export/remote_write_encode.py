"""The remote_write 1.0 body: a protobuf ``WriteRequest``, snappy block-compressed.

This is the sender's hot path, so the wire format is written directly rather
than through protobuf message objects (one Python object per sample would cost
more than everything else together). Every sample is the same small message,
``Sample{value = 1 (double), timestamp = 2 (int64 varint)}`` inside its
``TimeSeries.samples = 2`` field, so a whole batch of samples is laid out at once
with numpy: one row of bytes per sample, trimmed to the length of its
timestamp's varint. Labels are encoded once per series and cached. The layout
is checked against the protobuf reference (``remote_write_pb``) by the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import cramjam
import numpy as np
import numpy.typing as npt

from edgewatch.model import SeriesKey

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

_TAG_SERIES = 0x0A  # WriteRequest.timeseries = 1, length-delimited
_TAG_LABEL = 0x0A  # TimeSeries.labels = 1
_TAG_SAMPLE = 0x12  # TimeSeries.samples = 2
_TAG_NAME = 0x0A  # Label.name = 1
_TAG_VALUE = 0x12  # Label.value = 2
_TAG_DOUBLE = 0x09  # Sample.value = 1, 64-bit
_TAG_TS = 0x10  # Sample.timestamp = 2, varint
_FIXED = 12  # tag, length, double tag, 8 bytes, varint tag
_MAX_VARINT = 10
_CACHE_LIMIT = 200_000  # label encodings kept (one per series)


class Part(NamedTuple):
    """Samples of one series, in time order."""

    key: SeriesKey
    ts: I64
    values: F64


def varint(n: int) -> bytes:
    """Protobuf varint of a non-negative int (negative ints as their 64-bit pattern)."""
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + varint(len(payload)) + payload


def encode_labels(labels: Sequence[tuple[str, str]]) -> bytes:
    """The ``labels`` fields of a TimeSeries; ``labels`` sorted by name, as receivers expect."""
    out = bytearray()
    for name, value in labels:
        inner = _field(_TAG_NAME, name.encode()) + _field(_TAG_VALUE, value.encode())
        out += _field(_TAG_LABEL, inner)
    return bytes(out)


def encode_samples(ts: I64, values: F64) -> tuple[U8, I64]:
    """The ``samples`` fields of ``len(ts)`` samples, back to back, and each one's byte length."""
    n = len(ts)
    if n == 0:
        return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
    u = np.ascontiguousarray(ts, dtype=np.int64).view(np.uint64)
    vlen = np.ones(n, dtype=np.int64)
    for k in range(1, _MAX_VARINT):
        vlen += u >= np.uint64(1 << (7 * k))
    top = int(vlen.max())
    width = _FIXED + top
    mat = np.empty((n, width), dtype=np.uint8)
    mat[:, 0] = _TAG_SAMPLE
    mat[:, 1] = (10 + vlen).astype(np.uint8)
    mat[:, 2] = _TAG_DOUBLE
    mat[:, 3:11] = np.ascontiguousarray(values, dtype="<f8").view(np.uint8).reshape(n, 8)
    mat[:, 11] = _TAG_TS
    rest = u
    for k in range(top):
        byte = (rest & np.uint64(0x7F)).astype(np.uint8)
        mat[:, _FIXED + k] = byte | np.where(vlen > k + 1, 0x80, 0).astype(np.uint8)
        rest = rest >> np.uint64(7)
    lengths = _FIXED + vlen
    if int(vlen.min()) == top:  # the usual case: every timestamp's varint is as long
        return mat.reshape(-1), lengths
    keep = np.arange(width)[None, :] < lengths[:, None]
    return mat[keep], lengths


def with_extra_labels(key: SeriesKey, extra: Mapping[str, str]) -> dict[str, str]:
    """The labels sent for ``key`` (``__name__`` included): ``extra`` added, winning.

    As Prometheus does with a target's labels when it scrapes with
    ``honor_labels: false``: where the series has a label of the same name, the
    extra label's value is kept and the series' own value moves to
    ``exported_<name>`` (``exported_exported_<name>`` if that is taken too, and
    so on), so ``disk_read_bytes_total{device="mmcblk0"}`` is sent as
    ``{device="rvm-0042", exported_device="mmcblk0"}``. The clashes are resolved
    shortest name first, as Prometheus does.
    """
    own = dict(key.labels)
    merged = {**own, **extra}
    clashes = sorted((n for n in extra if own.get(n)), key=len)
    for name in clashes:
        moved = f"exported_{name}"
        while merged.get(moved):
            moved = f"exported_{moved}"
        merged[moved] = own[name]
    merged["__name__"] = key.name
    return merged


class Encoder:
    """Builds WriteRequest bodies for one endpoint (its extra labels), caching label bytes."""

    def __init__(self, extra_labels: Mapping[str, str] | None = None) -> None:
        self._extra = dict(extra_labels or {})
        self._labels: dict[SeriesKey, bytes] = {}

    def labels_of(self, key: SeriesKey) -> bytes:
        cached = self._labels.get(key)
        if cached is None:
            if len(self._labels) >= _CACHE_LIMIT:
                self._labels.clear()
            merged = with_extra_labels(key, self._extra)
            cached = self._labels[key] = encode_labels(sorted(merged.items()))
        return cached

    def write_request(self, parts: Sequence[Part]) -> bytes:
        """The uncompressed WriteRequest of ``parts`` (one TimeSeries each)."""
        parts = [p for p in parts if len(p.ts)]
        if not parts:
            return b""
        ts = np.concatenate([p.ts for p in parts])
        vals = np.concatenate([p.values for p in parts])
        body, lengths = encode_samples(ts, vals)
        ends = np.cumsum(lengths)
        counts = np.cumsum([len(p.ts) for p in parts])
        offsets = [0, *ends[counts - 1].tolist()]
        raw = memoryview(body.tobytes())
        out: list[bytes | memoryview] = []
        for i, part in enumerate(parts):
            labels = self.labels_of(part.key)
            a, b = offsets[i], offsets[i + 1]
            out.append(bytes((_TAG_SERIES,)) + varint(len(labels) + b - a) + labels)
            out.append(raw[a:b])
        return b"".join(out)

    def compressed(self, parts: Sequence[Part]) -> bytes:
        """The request body as sent: snappy block format (not framed), per the spec."""
        return compress(self.write_request(parts))


def compress(body: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(body))


def decompress(body: bytes) -> bytes:
    return bytes(cramjam.snappy.decompress_raw(body))
