"""Helpers of the collector tests: the checked-in fake /proc and /sys trees, sample lookup."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from edgewatch.model import Sample

FIXTURES = Path(__file__).parent / "fixtures"
PROC = FIXTURES / "proc"
SYS = FIXTURES / "sys"


def values(samples: Iterable[Sample]) -> dict[str, float]:
    """Samples as {'name{labels}': value}; fails on a duplicated series."""
    out: dict[str, float] = {}
    for sample in samples:
        text = str(sample.key)
        assert text not in out, f"series {text} emitted twice"
        out[text] = sample.value
    return out
