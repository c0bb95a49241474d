"""Intervals of metric values, for impossible conditions and band coverage.

A metric's values lie in a domain (a rate in ``0..1``, an average rating in
``1..5``, a count from ``0``); a comparison keeps part of it. A conjunction
that keeps nothing can never be true. Bands (``lower <= value < upper``)
must cover a domain without overlapping.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .catalog import MetricKind
from .model import Field, Op


@dataclass(frozen=True, slots=True)
class Interval:
    """The values between ``lo`` and ``hi``; each end open or closed."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_closed: bool = False
    hi_closed: bool = False

    @property
    def empty(self) -> bool:
        """Whether no number lies in the interval."""
        if self.lo > self.hi:
            return True
        return self.lo == self.hi and not (self.lo_closed and self.hi_closed)

    def meet(self, other: Interval) -> Interval:
        """The values in both intervals."""
        if other.lo > self.lo or (other.lo == self.lo and not other.lo_closed):
            lo, lo_closed = other.lo, other.lo_closed
        else:
            lo, lo_closed = self.lo, self.lo_closed
        if other.hi < self.hi or (other.hi == self.hi and not other.hi_closed):
            hi, hi_closed = other.hi, other.hi_closed
        else:
            hi, hi_closed = self.hi, self.hi_closed
        return Interval(lo, hi, lo_closed, hi_closed)

    def describe(self) -> str:
        """``[0, 1]``, ``(0.05, inf)``..."""
        left = "[" if self.lo_closed else "("
        right = "]" if self.hi_closed else ")"
        return f"{left}{self.lo:g}, {self.hi:g}{right}"


def compare_interval(op: Op, threshold: float) -> Interval:
    """The values for which ``value <op> threshold`` holds."""
    if op is Op.GT:
        return Interval(lo=threshold)
    if op is Op.GTE:
        return Interval(lo=threshold, lo_closed=True)
    if op is Op.LT:
        return Interval(hi=threshold)
    if op is Op.LTE:
        return Interval(hi=threshold, hi_closed=True)
    return Interval(threshold, threshold, True, True)


def domain(kind: MetricKind, field: Field) -> Interval:
    """The values a metric (or the numerator behind a rate) can take."""
    if field is Field.COUNT or kind in (MetricKind.COUNT, MetricKind.AMOUNT):
        return Interval(lo=0.0, lo_closed=True)
    if kind is MetricKind.RATE:
        return Interval(0.0, 1.0, True, True)
    if kind is MetricKind.AVERAGE:
        return Interval(1.0, 5.0, True, True)
    return Interval(lo=-1.0, lo_closed=True)  # growth: sales cannot fall below zero


class Coverage(StrEnum):
    """What is wrong between bands."""

    OVERLAP = "overlap"
    GAP = "gap"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class BandIssue:
    """A coverage problem, attached to the band (by index) where it shows."""

    index: int
    issue: Coverage
    message: str


def _fmt(value: float | None) -> str:
    return "open" if value is None else f"{value:g}"


def band_issues(
    bands: Sequence[tuple[float | None, float | None]], span: Interval
) -> list[BandIssue]:
    """Overlaps, gaps and empty bands of ``lower <= value < upper`` bands over ``span``.

    ``None`` is an open end. ``span`` is the domain the bands must cover.
    """
    issues: list[BandIssue] = []
    live: list[int] = []
    for i, (lower, upper) in enumerate(bands):
        if lower is not None and upper is not None and lower >= upper:
            issues.append(
                BandIssue(i, Coverage.EMPTY, f"holds no value: {lower:g} <= v < {upper:g}")
            )
        else:
            live.append(i)
    if not live:
        return issues

    def lower_of(i: int) -> float:
        lower = bands[i][0]
        return -math.inf if lower is None else lower

    order = sorted(live, key=lower_of)
    first_lower = bands[order[0]][0]
    if first_lower is not None and first_lower > span.lo:
        issues.append(
            BandIssue(order[0], Coverage.GAP, f"no band holds values below {first_lower:g}")
        )
    for prev, cur in itertools.pairwise(order):
        prev_upper, cur_lower = bands[prev][1], bands[cur][0]
        if prev_upper is None or cur_lower is None or cur_lower < prev_upper:
            issues.append(
                BandIssue(
                    cur,
                    Coverage.OVERLAP,
                    f"overlaps band {prev + 1} (from {_fmt(cur_lower)}, "
                    f"while band {prev + 1} runs to {_fmt(prev_upper)})",
                )
            )
        elif cur_lower > prev_upper:
            issues.append(
                BandIssue(
                    cur,
                    Coverage.GAP,
                    f"no band holds values from {prev_upper:g} up to {cur_lower:g}",
                )
            )
    last_upper = bands[order[-1]][1]
    if last_upper is not None and last_upper <= span.hi:
        issues.append(
            BandIssue(order[-1], Coverage.GAP, f"no band holds values at or above {last_upper:g}")
        )
    return issues
