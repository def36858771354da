"""The hand-laid WriteRequest decodes, through protobuf and snappy, to exactly what went in."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.export.remote_write_encode import (
    Encoder,
    Part,
    compress,
    decompress,
    encode_samples,
    varint,
    with_extra_labels,
)
from edgewatch.export.remote_write_pb import decode, messages
from edgewatch.model import SeriesKey

label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True).filter(
    lambda n: not n.startswith("__")
)
label_values = st.text(min_size=1, max_size=300)  # > 127 bytes: a two-byte length
series_keys = st.builds(
    SeriesKey.of,
    st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True),
    st.dictionaries(label_names, label_values, max_size=4),
)
timestamps = st.integers(min_value=-(2**63), max_value=2**63 - 1)
values = st.floats(allow_nan=True, allow_infinity=True, width=64)


def _bits(v: float) -> bytes:
    return struct.pack("<d", v)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(series_keys, st.lists(st.tuples(timestamps, values), min_size=1, max_size=20)),
        min_size=1,
        max_size=6,
        unique_by=lambda item: item[0],
    ),
    st.dictionaries(label_names, st.text(min_size=1, max_size=10), max_size=2),
)
def test_write_request_decodes_to_what_was_encoded(
    series: list[tuple[SeriesKey, list[tuple[int, float]]]], extra: dict[str, str]
) -> None:
    parts = [
        Part(
            key,
            np.array([t for t, _ in samples], dtype=np.int64),
            np.array([v for _, v in samples], dtype=np.float64),
        )
        for key, samples in series
    ]
    body = Encoder(extra).compressed(parts)
    request = decode(decompress(body))
    assert len(request.timeseries) == len(parts)
    for ts, (key, samples) in zip(request.timeseries, series, strict=True):
        labels = [(lb.name, lb.value) for lb in ts.labels]
        want = {**dict(key.labels), **extra, "__name__": key.name}
        for name in sorted(set(extra) & set(dict(key.labels)), key=len):
            moved = f"exported_{name}"
            while moved in want:
                moved = f"exported_{moved}"
            want[moved] = key.label(name)
        assert labels == sorted(want.items())  # sorted by name, the extra labels win
        got = [(s.timestamp, _bits(s.value)) for s in ts.samples]
        assert got == [(t, _bits(v)) for t, v in samples]  # bit for bit: NaN, -0.0 too


def test_an_extra_label_wins_and_the_series_own_moves_to_exported() -> None:
    disk = SeriesKey.of("node_disk_read_bytes_total", device="mmcblk0")
    both = SeriesKey.of("x", device="sda", exported_device="old", site="here")
    extra = {"device": "rvm-0042", "site": "shop-12"}
    assert with_extra_labels(disk, extra) == {
        "__name__": "node_disk_read_bytes_total",
        "device": "rvm-0042",
        "exported_device": "mmcblk0",
        "site": "shop-12",
    }
    # exported_device taken already: one more prefix, as Prometheus does
    assert with_extra_labels(both, extra) == {
        "__name__": "x",
        "device": "rvm-0042",
        "exported_device": "old",
        "exported_exported_device": "sda",
        "site": "shop-12",
        "exported_site": "here",
    }
    # no clash: nothing moves; no extra labels: the series as it is
    plain = SeriesKey.of("node_load1")
    assert with_extra_labels(plain, extra) == {"__name__": "node_load1", **extra}
    assert with_extra_labels(disk, {}) == {"__name__": disk.name, "device": "mmcblk0"}
    body = Encoder(extra).write_request([Part(disk, np.array([5]), np.array([1.0]))])
    [series] = decode(body).timeseries
    assert [(lb.name, lb.value) for lb in series.labels] == sorted(
        with_extra_labels(disk, extra).items()
    )


def test_layout_equals_protobufs_own_serialisation() -> None:
    m = messages()
    key = SeriesKey.of("node_cpu_seconds_total", cpu="0", mode="idle")
    ts = np.array([1_767_225_600_000, 1_767_225_610_000, 5, 200], dtype=np.int64)
    vals = np.array([1.5, 2.25, 3.0, -7.0])
    ref = m.WriteRequest()
    series = ref.timeseries.add()
    for name, value in sorted({"__name__": key.name, **dict(key.labels)}.items()):
        series.labels.add(name=name, value=value)
    for t, v in zip(ts.tolist(), vals.tolist(), strict=True):
        series.samples.add(value=v, timestamp=t)
    assert Encoder().write_request([Part(key, ts, vals)]) == ref.SerializeToString()


def test_samples_with_mixed_varint_lengths_are_trimmed_per_sample() -> None:
    ts = np.array([0, 127, 128, 2**35, -1], dtype=np.int64)
    body, lengths = encode_samples(ts, np.zeros(5))
    assert lengths.tolist() == [13, 13, 14, 18, 22]
    assert len(body) == sum(lengths.tolist())
    assert varint(-1) == b"\xff" * 9 + b"\x01"


def test_snappy_is_the_block_format_and_round_trips() -> None:
    data = b"edgewatch" * 1000
    packed = compress(data)
    assert len(packed) < len(data) // 10
    assert not packed.startswith(b"\xff\x06\x00\x00sNaPpY")  # not the framed format
    assert decompress(packed) == data


def test_empty_parts_make_an_empty_body() -> None:
    empty = Part(SeriesKey.of("x"), np.zeros(0, dtype=np.int64), np.zeros(0))
    assert Encoder().write_request([empty]) == b""
