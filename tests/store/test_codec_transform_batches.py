"""The codec transforms a large block batch by batch (``TRANSFORM_BATCH`` samples of
whole segments at a time): the result must be the one a single pass gives, field by field."""

from __future__ import annotations

import numpy as np

from edgewatch.store import codec, codec_transform
from edgewatch.store.transforms import segment_starts


def _block(rng: np.random.Generator, nseg: int, per: int) -> tuple[np.ndarray, ...]:
    seg = np.repeat(np.arange(nseg, dtype=np.int64) * 7 + 3, per)
    tick = np.tile(np.arange(per, dtype=np.int64), nseg)
    ts = 1_790_000_000_000 + tick * 1000 + rng.integers(-4, 5, len(tick))
    kind = np.repeat(np.arange(nseg) % 5, per)
    vals = np.where(kind == 0, np.round(rng.normal(50, 5, len(tick)), 1), 0.0)
    vals = np.where(kind == 1, np.cumsum(rng.poisson(12_000, len(tick))) * 4096.0, vals)
    vals = np.where(kind == 2, rng.lognormal(-3.5, 0.3, len(tick)), vals)
    vals = np.where(kind == 3, 42.0, vals)
    vals[kind == 4] = np.where(rng.random(int((kind == 4).sum())) < 0.01, np.nan, 1.25)
    return seg, ts, vals


def test_batched_transform_equals_one_pass() -> None:
    rng = np.random.default_rng(3)
    seg, ts, vals = _block(rng, nseg=130, per=601)  # 78k samples: three batches and more
    assert len(ts) > 2 * codec_transform.TRANSFORM_BATCH
    batched = codec_transform.transform(seg, ts, vals, 0.02)
    whole = codec_transform._transform_batch(seg, ts, vals, 0.02, segment_starts(seg))
    for name, a, b in zip(batched._fields, batched, whole, strict=True):
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b), name


def test_batched_encoding_round_trips() -> None:
    rng = np.random.default_rng(4)
    seg, ts, vals = _block(rng, nseg=70, per=1000)
    blobs = codec.encode_segments(seg, ts, vals).blobs
    block = codec.decode_blocks([b for _, b in blobs])
    assert np.array_equal(block.ts, ts)
    assert np.array_equal(block.values, vals, equal_nan=True)
