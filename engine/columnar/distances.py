"""Distances to compliance of one rule over a whole batch, in integer array arithmetic.

:func:`rule_distances` gives, row for row, what
:func:`~sellerpolicy.engine.evaluation.explain.leaf_distance` gives for the
rule's first leaf and the row's counts: the same integer formulas
(:func:`~sellerpolicy.engine.evaluation.explain.distance`) on int64 columns,
floor division and all. Counts whose products could leave int64, and counts
given as floats too large to be exact, are worked out by ``leaf_distance``
itself, one distinct row at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sellerpolicy.engine.evaluation.decision import Distance
from sellerpolicy.engine.evaluation.explain import leaf_distance
from sellerpolicy.engine.evaluation.plans import RulePlan
from sellerpolicy.rules.model import Op

from .kernels import Columns, Mask

Ints = npt.NDArray[np.int64]

_SAFE = 2**62  # |p * den| and |q * num| below this cannot overflow int64 arithmetic
_EXACT = 2.0**53  # float counts below this convert to int64 exactly


@dataclass(frozen=True, slots=True)
class Distances:
    """Per row: whether there is a distance, and its three counts (valid where ``has_*``)."""

    present: Mask
    headroom: Ints
    has_headroom: Mask
    excess: Ints
    has_excess: Mask
    good_needed: Ints
    has_good_needed: Mask


def _floor_div(a: Ints, b: int | Ints) -> Ints:
    return np.floor_divide(a, b)


def _ceil_div(a: Ints, b: int | Ints) -> Ints:
    return -np.floor_divide(-a, b)


def rule_distances(plan: RulePlan, columns: Columns, assessed: Mask, fired: Mask) -> Distances:
    """The distance of each assessed row of a single-leaf rate rule (none elsewhere)."""
    n = columns.length
    zeros, none = np.zeros(n, np.int64), np.zeros(n, np.bool_)
    empty = Distances(none, zeros, none, zeros, none, zeros, none)
    if not (plan.single and plan.rate_value and plan.count_facts) or plan.leaf.op is Op.EQ:
        return empty
    num_raw, num_ok = columns.raw(plan.count_facts[0])
    den_raw, den_ok = columns.raw(plan.count_facts[1])
    known = assessed & num_ok & den_ok
    num, num_whole = _whole(num_raw)
    den, den_whole = _whole(den_raw)
    rows = known & num_whole & den_whole  # a count that is not a whole number has no distance
    p, q = plan.exact.numerator, plan.exact.denominator
    largest = max(int(np.abs(num[rows]).max(initial=0)), int(np.abs(den[rows]).max(initial=0)))
    exact = _exact(num_raw) & _exact(den_raw)
    if 2 * max(p, q) * largest >= _SAFE or not exact[known].all():
        return _one_by_one(plan, num_raw, den_raw, known, fired)
    rows &= den > 0
    if plan.leaf.op in (Op.GT, Op.GTE):
        bad, strict = num, plan.leaf.op is Op.GT
    else:
        bad, p, strict = den - num, q - p, plan.leaf.op is Op.LT
    quiet, hot = rows & ~fired, rows & fired
    headroom, has_headroom = zeros.copy(), none.copy()
    if p < q:  # adding bad orders can make it fire
        a, b = p * den - q * bad, q - p
        headroom = _floor_div(a, b) if strict else _ceil_div(a, b) - 1
        has_headroom = quiet.copy()
    excess, has_excess = zeros.copy(), none.copy()
    if not (p >= q or (p == 0 and not strict)):
        a, b = q * bad - p * den, q - p
        excess = _ceil_div(a, b) if strict else _floor_div(a, b) + 1
        has_excess = hot & (bad < den)
    good, has_good = zeros.copy(), none.copy()
    if p != 0:
        a = q * bad - p * den
        good = _ceil_div(a, p) if strict else _floor_div(a, p) + 1
        has_good = hot.copy()
    present = quiet | (hot & (has_excess | has_good))
    return Distances(present, headroom, has_headroom, excess, has_excess, good, has_good)


def _whole(values: npt.NDArray[np.generic]) -> tuple[Ints, Mask]:
    """Counts as int64, and where they are whole numbers."""
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64, copy=False), np.ones(values.size, np.bool_)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < _EXACT)
        return np.where(whole, values, 0).astype(np.int64), whole


def _exact(values: npt.NDArray[np.generic]) -> Mask:
    """Where a float count converts exactly (integers always do)."""
    if np.issubdtype(values.dtype, np.integer):
        return np.ones(values.size, np.bool_)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (np.floor(values) == values)
        exact: Mask = ~whole | (np.abs(values) < _EXACT)
        return exact


def _one_by_one(
    plan: RulePlan,
    num: npt.NDArray[np.generic],
    den: npt.NDArray[np.generic],
    rows: Mask,
    fired: Mask,
) -> Distances:
    """The exact (Python integer) path, once per distinct (num, den, fired) of ``rows``."""
    n = rows.size
    out = Distances(
        np.zeros(n, np.bool_),
        np.zeros(n, np.int64),
        np.zeros(n, np.bool_),
        np.zeros(n, np.int64),
        np.zeros(n, np.bool_),
        np.zeros(n, np.int64),
        np.zeros(n, np.bool_),
    )
    cache: dict[tuple[object, object, bool], Distance | None] = {}
    for row in np.flatnonzero(rows).tolist():
        key = (num[row].item(), den[row].item(), bool(fired[row]))
        if key not in cache:
            cache[key] = leaf_distance(
                plan.leaf, key[0], key[1], fired=key[2], bad_dates=None, use=plan.use,
                exact=plan.exact,
            )  # fmt: skip
        found = cache[key]
        if found is None:
            continue
        out.present[row] = True
        for value, slot, has in (
            (found.headroom, out.headroom, out.has_headroom),
            (found.excess, out.excess, out.has_excess),
            (found.good_needed, out.good_needed, out.has_good_needed),
        ):
            if value is not None:
                if abs(value) >= 2**63:
                    raise ValueError(
                        f"rule {plan.rule.id}: a distance of {value} orders (over int64)"
                    )
                slot[row], has[row] = value, True
    return out
