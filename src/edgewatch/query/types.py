"""The evaluator's values: an instant vector evaluated at every step of a query.

A range query at N steps evaluates each expression once, vectorised over the
steps: a ``Series`` holds N values and a mask saying at which steps the series
exists. An instant query is the same with N = 1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgewatch.query.errors import QueryExecutionError
from edgewatch.store.transforms import F64, I64

Labels = tuple[tuple[str, str], ...]  # sorted by name; "__name__" included when kept
Mask = npt.NDArray[np.bool_]
NAME = "__name__"


@dataclass
class Series:
    labels: Labels
    values: F64  # one per step; meaningless where ``ok`` is False
    ok: Mask

    def with_labels(self, labels: Labels) -> Series:
        return Series(labels, self.values, self.ok)


Vector = list[Series]


@dataclass(frozen=True)
class RawSeries:
    """Samples of one stored series, as read for a range-vector selector."""

    labels: Labels
    ts: I64
    values: F64


@dataclass(frozen=True)
class Matrix:
    """A range-vector selector's value: raw samples plus the window to apply per step."""

    series: list[RawSeries]
    range_ms: int
    refs: I64  # per step: the window's right end (step time minus offset, or @ time)


def make_labels(items: Iterable[tuple[str, str]]) -> Labels:
    return tuple(sorted((k, v) for k, v in items if v != ""))


def drop_name(labels: Labels) -> Labels:
    return tuple(kv for kv in labels if kv[0] != NAME)


def label_dict(labels: Labels) -> dict[str, str]:
    return dict(labels)


def keep_only(labels: Labels, names: Sequence[str]) -> Labels:
    wanted = set(names)
    return tuple(kv for kv in labels if kv[0] in wanted)


def drop_these(labels: Labels, names: Sequence[str]) -> Labels:
    unwanted = set(names)
    return tuple(kv for kv in labels if kv[0] not in unwanted)


def format_labels(labels: Labels) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}"


def merge_same_labels(vector: Vector) -> Vector:
    """Join series that came to share a label set (e.g. after dropping the name).

    At steps where two of them exist at once, Prometheus refuses the result
    ("vector cannot contain metrics with the same labelset"), and so do we.
    """
    groups: dict[Labels, list[Series]] = defaultdict(list)
    for s in vector:
        groups[s.labels].append(s)
    if len(groups) == len(vector):
        return vector
    out: Vector = []
    for labels, members in groups.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        count = np.sum([m.ok for m in members], axis=0)
        if (count > 1).any():
            raise QueryExecutionError("vector cannot contain metrics with the same labelset")
        values = np.zeros_like(members[0].values)
        ok = np.zeros_like(members[0].ok)
        for m in members:
            values = np.where(m.ok, m.values, values)
            ok |= m.ok
        out.append(Series(labels, values, ok))
    return out


def present(vector: Vector) -> Vector:
    """Series that exist at one step at least."""
    return [s for s in vector if s.ok.any()]
