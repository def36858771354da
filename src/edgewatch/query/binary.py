"""Binary operators: arithmetic, comparisons (with ``bool``), ``and or unless``, and
vector matching with ``on``/``ignoring`` (and ``group_left``/``group_right``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgewatch.query.errors import QueryExecutionError
from edgewatch.query.types import (
    NAME,
    Labels,
    Mask,
    Series,
    Vector,
    drop_name,
    drop_these,
    format_labels,
    keep_only,
    make_labels,
)
from edgewatch.store.transforms import F64

ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})
COMPARISON = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPS = frozenset({"and", "or", "unless"})


@dataclass(frozen=True)
class Matching:
    card: str  # "one-to-one", "many-to-one", "one-to-many", "many-to-many"
    on: bool
    labels: tuple[str, ...]
    include: tuple[str, ...] = ()
    return_bool: bool = False


def apply(op: str, a: F64, b: F64) -> tuple[F64, Mask]:
    """``a op b`` elementwise: the value, and for comparisons whether it holds."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if op == "+":
            return a + b, _all(a)
        if op == "-":
            return a - b, _all(a)
        if op == "*":
            return a * b, _all(a)
        if op == "/":
            return a / b, _all(a)
        if op == "%":
            return np.fmod(a, b), _all(a)
        if op == "^":
            return np.power(a, b), _all(a)
        if op == "atan2":
            return np.arctan2(a, b), _all(a)
        holds = {
            "==": np.equal,
            "!=": np.not_equal,
            ">": np.greater,
            "<": np.less,
            ">=": np.greater_equal,
            "<=": np.less_equal,
        }[op](a, b)
        return a, np.asarray(holds, dtype=bool)


def _all(a: F64) -> Mask:
    return np.ones(np.shape(a), dtype=bool)


def scalar_scalar(op: str, a: F64, b: F64) -> F64:
    value, holds = apply(op, a, b)
    if op in COMPARISON:
        return holds.astype(np.float64)
    return value


def vector_scalar(op: str, vector: Vector, scalar: F64, *, swap: bool, return_bool: bool) -> Vector:
    """``vector op scalar`` (``scalar op vector`` with swap)."""
    out: Vector = []
    for s in vector:
        a, b = (scalar, s.values) if swap else (s.values, scalar)
        value, holds = apply(op, a, b)
        if op in COMPARISON:
            value = s.values  # the vector's value, whichever side it is on
        labels = s.labels
        ok = s.ok
        if return_bool:
            value = holds.astype(np.float64)
            labels = drop_name(labels)
        elif op in COMPARISON:
            ok = ok & holds
        else:
            labels = drop_name(labels)
        out.append(Series(labels, np.asarray(value, dtype=np.float64), ok))
    return out


def signature(labels: Labels, m: Matching) -> Labels:
    if m.on:
        return keep_only(labels, m.labels)
    return drop_these(labels, [*m.labels, NAME])


def set_operation(op: str, lhs: Vector, rhs: Vector, m: Matching) -> Vector:
    steps = len(lhs[0].ok) if lhs else (len(rhs[0].ok) if rhs else 0)
    rhs_present: dict[Labels, Mask] = defaultdict(lambda: np.zeros(steps, dtype=bool))
    for s in rhs:
        rhs_present[signature(s.labels, m)] |= s.ok
    if op == "and":
        return [Series(s.labels, s.values, s.ok & rhs_present[signature(s.labels, m)]) for s in lhs]
    if op == "unless":
        return [
            Series(s.labels, s.values, s.ok & ~rhs_present[signature(s.labels, m)]) for s in lhs
        ]
    lhs_present: dict[Labels, Mask] = defaultdict(lambda: np.zeros(steps, dtype=bool))
    for s in lhs:
        lhs_present[signature(s.labels, m)] |= s.ok
    return lhs + [
        Series(s.labels, s.values, s.ok & ~lhs_present[signature(s.labels, m)]) for s in rhs
    ]


def _one_side(vector: Vector, m: Matching, side: str) -> dict[Labels, Series]:
    """The "one" side of a match, one series per signature (duplicates must not overlap)."""
    groups: dict[Labels, list[Series]] = defaultdict(list)
    for s in vector:
        groups[signature(s.labels, m)].append(s)
    out: dict[Labels, Series] = {}
    for sig, members in groups.items():
        if len(members) > 1:
            count = np.sum([s.ok for s in members], axis=0)
            if (count > 1).any():
                listed = ", ".join(format_labels(s.labels) for s in members[:2])
                raise QueryExecutionError(
                    f"found duplicate series for the match group {format_labels(sig)} on the "
                    f"{side} hand-side of the operation: [{listed}];many-to-many matching not "
                    "allowed: matching labels must be unique on one side"
                )
            values = np.zeros_like(members[0].values)
            for s in members:
                values = np.where(s.ok, s.values, values)
            out[sig] = Series(members[0].labels, values, count > 0)
        else:
            out[sig] = members[0]
    return out


def _result_labels(many: Labels, one: Labels, op: str, m: Matching) -> Labels:
    labels = drop_name(many) if (op in ARITHMETIC or m.return_bool) else many
    if m.card == "one-to-one":
        labels = keep_only(labels, m.labels) if m.on else drop_these(labels, m.labels)
    if m.include:
        extra = dict(one)
        kept = dict(labels)
        for name in m.include:
            kept[name] = extra.get(name, "")
        labels = make_labels(kept.items())
    return labels


def vector_vector(op: str, lhs: Vector, rhs: Vector, m: Matching) -> Vector:
    if op in SET_OPS:
        return set_operation(op, lhs, rhs, m)
    one_to_many = m.card == "one-to-many"
    many, one_vec = (rhs, lhs) if one_to_many else (lhs, rhs)
    ones = _one_side(one_vec, m, "left" if one_to_many else "right")
    out: Vector = []
    used: dict[Labels, dict[Labels, Mask]] = defaultdict(dict)
    for s in many:
        sig = signature(s.labels, m)
        other = ones.get(sig)
        if other is None:
            continue
        ok = s.ok & other.ok
        if not ok.any():
            continue
        a, b = (other.values, s.values) if one_to_many else (s.values, other.values)
        value, holds = apply(op, a, b)
        if m.return_bool:
            value = holds.astype(np.float64)
        elif op in COMPARISON:
            ok = ok & holds
        labels = _result_labels(s.labels, other.labels, op, m)
        seen = used[sig]
        # One-to-one: one result per match group; otherwise one per result label set.
        key = () if m.card == "one-to-one" else labels
        clash = seen.get(key)
        if clash is not None and (clash & ok).any():
            if m.card == "one-to-one":
                raise QueryExecutionError(
                    "multiple matches for labels: many-to-one matching must be explicit "
                    "(group_left/group_right)"
                )
            raise QueryExecutionError(
                "multiple matches for labels: grouping labels must ensure unique matches"
            )
        seen[key] = ok if clash is None else clash | ok
        out.append(Series(labels, np.asarray(value, dtype=np.float64), ok))
    return out


def matching_of(modifier: object, op: str) -> Matching:
    """The parser's BinModifier as a Matching (default: one-to-one on all labels but the name)."""
    if modifier is None:
        return Matching("many-to-many" if op in SET_OPS else "one-to-one", False, ())
    card_name = str(modifier.card).rsplit(".", 1)[-1]  # type: ignore[attr-defined]
    card = {
        "OneToOne": "one-to-one",
        "ManyToOne": "many-to-one",
        "OneToMany": "one-to-many",
        "ManyToMany": "many-to-many",
    }[card_name]
    matching = modifier.matching  # type: ignore[attr-defined]
    on = False
    labels: Sequence[str] = ()
    if matching is not None:
        on = str(matching.type).endswith("Include")
        labels = tuple(matching.labels)
    include = tuple(modifier.group_labels or ())  # type: ignore[attr-defined]
    return Matching(card, on, tuple(labels), include, bool(modifier.return_bool))  # type: ignore[attr-defined]
