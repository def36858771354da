"""What every block format decodes to, and the error a bad blob raises."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from edgewatch.store.transforms import F64, I64


class CodecError(ValueError):
    """A blob that is not a valid block (corrupt or foreign)."""


class Block(NamedTuple):
    """Decoded block: ``ids[i]`` owns samples ``starts[i]:starts[i+1]``."""

    ids: I64
    starts: I64  # len(ids) + 1 offsets into ts/values
    ts: I64
    values: F64
    # Per segment, the decimals its values were stored at (FLOAT_MODE: floats); None
    # where the format does not say (format 1, journals).
    decimals: I64 | None = None


def empty_block() -> Block:
    z = np.zeros(0, dtype=np.int64)
    return Block(z, np.zeros(1, dtype=np.int64), z, np.zeros(0, dtype=np.float64))


def concat_blocks(parts: list[Block]) -> Block:
    """Blocks one after the other, as one."""
    parts = [p for p in parts if len(p.ids)]
    if not parts:
        return empty_block()
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [int(p.starts[-1]) for p in parts[:-1]])
    starts = np.concatenate(
        [p.starts[:-1] + off for p, off in zip(parts, offsets, strict=True)]
        + [np.array([int(offsets[-1] + parts[-1].starts[-1])], dtype=np.int64)]
    )
    decimals = [p.decimals for p in parts]
    return Block(
        np.concatenate([p.ids for p in parts]),
        starts.astype(np.int64),
        np.concatenate([p.ts for p in parts]),
        np.concatenate([p.values for p in parts]),
        None if any(d is None for d in decimals) else np.concatenate(decimals),  # type: ignore[arg-type]
    )


def select_segments(block: Block, kept: npt.NDArray[np.bool_]) -> Block:
    """The segments of ``block`` where ``kept`` (per segment) holds."""
    mine = np.repeat(kept, np.diff(block.starts))
    counts = np.diff(block.starts)[kept]
    return Block(
        block.ids[kept],
        np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
        block.ts[mine],
        block.values[mine],
        None if block.decimals is None else block.decimals[kept],
    )
