"""Metric facts checked like rows are: counts, rates, averages that contradict nothing.

Facts computed by :mod:`.compute` hold by construction; facts that arrive
from a file or an HTTP request are checked here against the catalog before
any rule reads them, so that ``orders: -5`` or a rate of ``0.0`` over
``1,000 of 2,000`` cannot produce contradictory decisions ("headroom -990").

For each metric use of a pack, by the catalog's kind of the metric:

* count (``orders``): a whole number >= 0;
* rate: ``__num`` and ``__den`` whole numbers >= 0 with ``__num <= __den``;
  the value within 0..1, equal to ``__num / __den`` (relative tolerance
  :data:`TOLERANCE`), and null when ``__den`` is 0;
* average: ``__num`` (the sum) >= 0 and ``__den`` (the count) a whole number
  >= 0; the value within the rating scale 1..5, equal to ``__num / __den``;
* amount: any finite number;
* growth: any finite number, equal to ``__num / __den`` (the current window's
  sum minus the previous one's, over the previous one's) when they are
  given, and null when ``__den`` is 0.

A rate or an average may come without its counts (both absent or null: a
marketplace's own report often gives the rate alone); one count without the
other is an error. Every number is finite (the readers refuse NaN and
infinity before this).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import CompiledPack

__all__ = ["TOLERANCE", "FactProblem", "fact_problems", "maybe_contradictory"]

#: How far a rate or average may be from ``__num / __den`` (relative, for float rounding).
TOLERANCE = 1e-9
_SCALE = (1.0, 5.0)  # ratings


@dataclass(frozen=True, slots=True)
class FactProblem:
    """One contradiction in a seller's facts: the field and what is wrong with it."""

    field: str
    message: str


def fact_problems(values: Mapping[str, object], pack: CompiledPack) -> list[FactProblem]:
    """Every contradiction in one seller's ``values`` for the metric uses of ``pack``."""
    problems: list[FactProblem] = []
    orders = values.get("orders")
    if orders is not None and not _whole(orders):
        problems.append(FactProblem("orders", f"is {orders!r}: orders are a whole number >= 0"))
    for use in pack.metrics:
        kind = use.kind
        if kind is MetricKind.COUNT and use.name != "orders":  # orders: checked above
            value = values.get(use.name)
            if value is not None and not _whole(value):
                message = f"is {value!r}: a count is a whole number >= 0"
                problems.append(FactProblem(use.name, message))
        elif kind in (MetricKind.RATE, MetricKind.AVERAGE, MetricKind.SCORE):
            problems.extend(_ratio(use.name, kind, values))
        elif kind is MetricKind.GROWTH:
            problems.extend(_growth(use.name, values))
    return problems


def _growth(name: str, values: Mapping[str, object]) -> list[FactProblem]:
    """Growth: any finite number, ``__num / __den`` when its counts are given."""
    value, num, den = (values.get(f) for f in (name, f"{name}__num", f"{name}__den"))
    unpaired = _unpaired(name, num, den)
    if unpaired is not None:
        return [unpaired]
    for field, x in ((name, value), (f"{name}__num", num), (f"{name}__den", den)):
        if x is not None and not _number(x):
            return [FactProblem(field, f"is {x!r}, not a number")]
    if num is None or den is None:
        return []
    off = _off_ratio(name, value, float(num), float(den))  # type: ignore[arg-type]
    return [] if off is None else [off]


def _ratio(name: str, kind: MetricKind, values: Mapping[str, object]) -> list[FactProblem]:
    value, num, den = (values.get(f) for f in (name, f"{name}__num", f"{name}__den"))
    rate = kind is MetricKind.RATE
    unpaired = _unpaired(name, num, den)
    if unpaired is not None:
        return [unpaired]
    if value is not None and not _number(value):
        return [FactProblem(name, f"is {value!r}, not a number")]
    if num is not None:
        problems = []
        if not (_whole(num) if rate else _number(num) and float(num) >= 0):  # type: ignore[arg-type]
            what = "a whole number >= 0" if rate else "a number >= 0"
            problems.append(FactProblem(f"{name}__num", f"is {num!r}: it must be {what}"))
        if not _whole(den):
            problems.append(FactProblem(f"{name}__den", f"is {den!r}: a whole number >= 0"))
        if problems:
            return problems
        n, d = float(num), float(den)  # type: ignore[arg-type]
        if rate and n > d:
            return [
                FactProblem(f"{name}__num", f"{n:g} is above {name}__den {d:g} (a share of it)")
            ]
        off = _off_ratio(name, value, n, d)
        if off is not None:
            return [off]
    if value is not None:
        low, high = (0.0, 1.0) if rate else _SCALE if kind is MetricKind.AVERAGE else (0, math.inf)
        if not low <= float(value) <= high:  # type: ignore[arg-type]
            scale = {
                MetricKind.RATE: "a share (0..1)",
                MetricKind.AVERAGE: f"an average rating ({low:g}..{high:g})",
            }.get(kind, "a number of points >= 0")
            return [FactProblem(name, f"is {value!r}: it must be {scale}")]
    return []


def _unpaired(name: str, num: object, den: object) -> FactProblem | None:
    """One count given without the other."""
    if (num is None) == (den is None):
        return None
    given, absent = ("__num", "__den") if den is None else ("__den", "__num")
    return FactProblem(f"{name}{absent}", f"is missing while {name}{given} is given")


def _off_ratio(name: str, value: object, n: float, d: float) -> FactProblem | None:
    """A value that is not ``n / d`` (null when ``d`` is 0), within :data:`TOLERANCE`."""
    if d == 0:
        if value is None:
            return None
        return FactProblem(name, f"is {value!r} with {name}__den 0 (must be null)")
    if value is None:
        return FactProblem(name, f"is null with {name}__den {d:g} (must be {n / d:g})")
    if math.isclose(float(value), n / d, rel_tol=TOLERANCE, abs_tol=TOLERANCE):  # type: ignore[arg-type]
        return None
    return FactProblem(
        name, f"is {value!r} but {name}__num / {name}__den is {n / d:g} ({n:g} of {d:g})"
    )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: object) -> bool:
    return _number(value) and float(value) >= 0 and float(value).is_integer()  # type: ignore[arg-type]


def maybe_contradictory(batch: pa.RecordBatch, pack: CompiledPack) -> npt.NDArray[np.bool_]:
    """Rows of a facts batch that may break :func:`fact_problems`.

    A superset, computed over the whole batch: negative or fractional counts,
    a numerator above its denominator, one count without the other, a value
    out of its range, or a value not exactly ``num / den``. Only these rows
    are checked one by one.
    """
    names = set(batch.schema.names)

    def column(name: str) -> npt.NDArray[np.float64] | None:
        if name not in names:
            return None
        values = batch.column(name).cast(pa.float64()).fill_null(np.nan)
        return np.asarray(values.to_numpy(zero_copy_only=False), np.float64)

    flags = np.zeros(batch.num_rows, np.bool_)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        orders = column("orders")
        if orders is not None:
            flags |= (orders < 0) | _fractional(orders)
        for use in pack.metrics:
            kind = use.kind
            value = column(use.name)
            if kind is MetricKind.COUNT and value is not None:
                flags |= (value < 0) | _fractional(value)
            if kind not in (
                MetricKind.RATE,
                MetricKind.AVERAGE,
                MetricKind.GROWTH,
                MetricKind.SCORE,
            ):
                continue
            num, den = column(f"{use.name}__num"), column(f"{use.name}__den")
            if num is None or den is None:  # one count column alone, or none
                alone = num if num is not None else den
                if alone is not None:
                    flags |= ~np.isnan(alone)
                if value is not None and kind is MetricKind.SCORE:
                    flags |= value < 0
                elif value is not None and kind is not MetricKind.GROWTH:
                    low, high = (0.0, 1.0) if kind is MetricKind.RATE else _SCALE
                    flags |= (value < low) | (value > high)
                continue
            value = value if value is not None else np.full(batch.num_rows, np.nan)
            empty = (den == 0) | np.isnan(num) & np.isnan(den)
            flags |= ~((value == num / den) | np.isnan(value) & empty)
            flags |= np.isnan(num) != np.isnan(den)
            if kind is not MetricKind.GROWTH:
                flags |= (num < 0) | (den < 0) | _fractional(den)
            if kind is MetricKind.RATE:
                flags |= (num > den) | _fractional(num)
    return flags


def _fractional(x: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Values with a fraction (NaN, a null, has none)."""
    fractional: npt.NDArray[np.bool_] = (np.floor(x) != x) & ~np.isnan(x)
    return fractional
