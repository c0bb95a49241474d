"""The threshold sweep of one rule: how many sellers it fires on as one threshold moves.

A compliance team choosing a threshold wants its cost: :func:`sweep` counts,
for each candidate threshold, the sellers on whom the rule's outcome would be
``matched`` exactly as ``evaluate`` decides it (assessed: every fact read
present and the ``min_orders`` volume met; and the condition true). Only the
one leaf named moves: the other leaves of an ``all`` / ``any`` / ``not``
condition keep their thresholds. Escalation ladders and history decide which
actions a firing takes, never whether the rule fires, so they play no part.

The work is columnar: assessability is computed once, over the facts columns,
by the same :func:`~sellerpolicy.engine.columnar.columns.rule_block` the bulk
decision path uses; each step then replaces the leaf's threshold
(:func:`dataclasses.replace` on the frozen model) and evaluates the rule's
condition with :func:`~sellerpolicy.engine.columnar.kernels.condition_mask`
(a few NumPy comparisons per step: a million sellers and twenty steps take
well under a second once the facts are in memory).

This module owns :func:`sweep`, what it returns (:class:`SweepResult`), the
choice of the leaf (:func:`pick_leaf`), the thresholds a range gives
(:func:`sweep_thresholds`, :func:`parse_threshold`) and how thresholds are
written for people (:func:`threshold_labels`). Arguments that cannot be
swept are ``ValueError``, worded for the person who typed them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pyarrow as pa

from sellerpolicy.engine.columnar.columns import rule_block
from sellerpolicy.engine.columnar.kernels import Columns, condition_mask
from sellerpolicy.engine.errors import FactsError
from sellerpolicy.engine.evaluation.backends.python import fact_name
from sellerpolicy.engine.evaluation.decision import Outcome
from sellerpolicy.engine.evaluation.plans import leaves, pack_plans
from sellerpolicy.engine.metrics.facts import as_of_instant, as_of_label
from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import (
    AllOf,
    AnyOf,
    Compare,
    CompiledPack,
    Condition,
    Field,
    Rule,
)
from sellerpolicy.rules.thresholds import is_percent, to_fraction

__all__ = [
    "MAX_STEPS",
    "OP_SYMBOLS",
    "SweepResult",
    "SweepStep",
    "find_rule",
    "is_percent_leaf",
    "is_whole_leaf",
    "leaf_text",
    "parse_threshold",
    "pick_leaf",
    "sweep",
    "sweep_thresholds",
    "threshold_labels",
]

#: The most thresholds a range is cut into (each step is a pass over the facts).
MAX_STEPS = 1000

OP_SYMBOLS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=="}
_PERCENT_KINDS = (MetricKind.RATE, MetricKind.GROWTH)  # as rules.diff writes them
_MAX_DECIMALS = 6


@dataclass(frozen=True, slots=True)
class SweepStep:
    """One candidate threshold and the sellers the rule fires on with it."""

    threshold: float
    fired: int


@dataclass(frozen=True, slots=True)
class SweepResult:
    """Sellers a rule fires on at each threshold, the current one among them."""

    pack: str
    pack_version: str
    rule: str
    metric: str  # the fact the swept leaf reads: ``<name>``, or ``<name>__num`` (count)
    field: Field
    op: str  # gt | gte | lt | lte | eq
    current: float  # the threshold of the pack
    percent: bool  # a rate (or growth) value: thresholds are written as percentages
    whole: bool  # a count: thresholds are whole numbers
    as_of: datetime
    sellers: int  # rows of the facts table
    assessed: int  # sellers the rule can be judged on (facts present, min_orders met)
    steps: tuple[SweepStep, ...]  # ascending thresholds; the current one is a row

    @property
    def current_fired(self) -> int:
        """Sellers the rule fires on with the pack's own threshold (what ``evaluate`` gives)."""
        return next(s.fired for s in self.steps if s.threshold == self.current)

    def labels(self) -> list[str]:
        """The steps' thresholds written for people, each distinct (``1.25%``, ``400``)."""
        return threshold_labels(
            [s.threshold for s in self.steps], percent=self.percent, exact=self.current
        )

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping with stable keys; thresholds are fractions (``0.01``)."""
        return {
            "pack": self.pack,
            "pack_version": self.pack_version,
            "rule": self.rule,
            "metric": self.metric,
            "field": self.field.value,
            "op": self.op,
            "current_threshold": self.current,
            "current_fired": self.current_fired,
            "percent": self.percent,
            "as_of": as_of_label(self.as_of),
            "sellers": self.sellers,
            "assessed": self.assessed,
            "steps": [{"threshold": s.threshold, "fired": s.fired} for s in self.steps],
        }


# ---------------------------------------------------------------------------
# Which rule, which leaf


def find_rule(pack: CompiledPack, rule_id: str) -> Rule:
    """The rule of ``pack`` with this id; ValueError listing the pack's rules otherwise."""
    try:
        return pack.rule(rule_id)
    except KeyError:
        known = ", ".join(r.id for r in pack.rules) or "none"
        raise ValueError(
            f"pack {pack.id!r} {pack.version} has no rule {rule_id!r} (its rules: {known})"
        ) from None


def leaf_text(pack: CompiledPack, leaf: Compare) -> str:
    """A leaf as people write it: ``order_defect_rate >= 1%``, ``orders_3m >= 400``."""
    labels = threshold_labels([leaf.threshold], percent=is_percent_leaf(pack, leaf))
    return f"{fact_name(leaf)} {OP_SYMBOLS[leaf.op.value]} {labels[0]}"


def pick_leaf(pack: CompiledPack, rule: Rule, metric: str | None = None) -> int:
    """The position (in :func:`leaves` order) of the leaf whose threshold is swept.

    ``metric`` names the fact the leaf reads (``transaction_defect_rate_3m``
    for its value, ``transaction_defect_rate_3m__num`` for its count), or a
    metric that only one leaf compares. It may be left out when the rule
    compares one number. ValueError listing the candidates otherwise, or when
    the name fits two leaves (a range: ``x >= 1% and x < 5%``).
    """
    found = leaves(rule.when)
    candidates = ", ".join(leaf_text(pack, leaf) for leaf in found)
    if metric is None:
        if len(found) == 1:
            return 0
        raise ValueError(
            f"rule {rule.id!r} has {len(found)} comparisons ({candidates}): "
            "name the one whose threshold moves, by the fact it reads"
        )
    chosen = [k for k, leaf in enumerate(found) if fact_name(leaf) == metric]
    if not chosen:
        chosen = [k for k, leaf in enumerate(found) if leaf.metric == metric]
    if not chosen:
        names = ", ".join(dict.fromkeys(fact_name(leaf) for leaf in found))
        raise ValueError(
            f"rule {rule.id!r} compares no metric {metric!r}; it compares {candidates} "
            f"(name one of: {names})"
        )
    if len(chosen) > 1:
        twice = ", ".join(leaf_text(pack, found[k]) for k in chosen)
        raise ValueError(
            f"rule {rule.id!r} compares {metric} {len(chosen)} times ({twice}): "
            "a sweep moves one threshold, and these cannot be told apart by name"
        )
    return chosen[0]


def is_percent_leaf(pack: CompiledPack, leaf: Compare) -> bool:
    """Whether the leaf compares a rate (or growth) value: thresholds written as percents."""
    return leaf.field is Field.VALUE and pack.metric(leaf.metric).kind in _PERCENT_KINDS


def is_whole_leaf(pack: CompiledPack, leaf: Compare) -> bool:
    """Whether the leaf compares a count (orders, or the numerator of a rate)."""
    return leaf.field is Field.COUNT or pack.metric(leaf.metric).kind is MetricKind.COUNT


# ---------------------------------------------------------------------------
# Thresholds


def parse_threshold(text: str, pack: CompiledPack, leaf: Compare) -> float:
    """A threshold typed for ``leaf``: ``0.5%`` or ``0.005`` for a rate, ``400`` for a count.

    Percentages are read exactly (``1.1%`` is ``0.011``). ValueError for
    something else than a number, a percentage for a leaf that is not a
    rate, a rate outside 0..100%, or a count that is not a whole number.
    """
    name = fact_name(leaf)
    percent = is_percent_leaf(pack, leaf)
    written = text.strip()
    if is_percent(written) and not percent:
        raise ValueError(f"{written!r}: {name} is not a rate; write a plain number")
    try:
        value = to_fraction(written) if is_percent(written) else float(written)
    except ValueError:
        example = "0.5% or 0.005" if percent else "400"
        raise ValueError(f"{written!r} is not a threshold (write {example})") from None
    if not math.isfinite(value):
        raise ValueError(f"{written!r} is not a finite threshold")
    rate = percent and pack.metric(leaf.metric).kind is MetricKind.RATE
    if rate and not 0 <= value <= 1:
        raise ValueError(
            f"{written!r}: {name} is a rate, between 0 and 100% (write 2% or 0.02, not 2)"
        )
    if is_whole_leaf(pack, leaf) and not value.is_integer():
        raise ValueError(f"{written!r}: {name} is a count; its thresholds are whole numbers")
    return value


def sweep_thresholds(
    start: float, stop: float, steps: int, current: float, *, whole: bool = False
) -> tuple[float, ...]:
    """``steps`` evenly spaced thresholds from ``start`` to ``stop``, and ``current``.

    The current threshold is always one of them, exactly: a point of the
    grid within a billionth of the range of it is replaced by it (so that
    ``0.5%..2%`` in 16 steps shows ``1%`` once, not beside
    ``1.0000000000000002%``). With ``whole``, the grid is rounded to whole
    numbers and repeats dropped (fewer rows when the range is narrow).
    ValueError unless ``start < stop``, both finite, and
    ``2 <= steps <= MAX_STEPS``.
    """
    if not (math.isfinite(start) and math.isfinite(stop) and math.isfinite(current)):
        raise ValueError("thresholds must be finite numbers")
    if not start < stop:
        raise ValueError(f"the range is empty: start {start:g} is not below stop {stop:g}")
    if not 2 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 2 and {MAX_STEPS:,}, not {steps:,}")
    grid = np.linspace(start, stop, steps)
    # 12 significant digits: 0.01375, not 0.013750000000000002 (linspace's rounding)
    grid = np.round(grid) if whole else np.array([float(f"{v:.12g}") for v in grid.tolist()])
    near = np.abs(grid - current) <= (stop - start) * 1e-9
    grid[near] = current
    return tuple(sorted({*grid.tolist(), current}))


def threshold_labels(
    values: Sequence[float], *, percent: bool, exact: float | None = None
) -> list[str]:
    """Thresholds written for people with one number of decimals: distinct, and exact for
    ``exact`` (the current threshold: ``1.25%`` is never shown as ``1.2%``).

    Rates (``percent``) as percentages, other numbers with thousands
    separators; at most six decimals.
    """
    scale = 100.0 if percent else 1.0
    shown = [v * scale for v in values]
    decimals = 0
    if exact is not None:
        decimals = _decimals(exact * scale)
    gaps = [b - a for a, b in zip(sorted(shown), sorted(shown)[1:], strict=False) if b > a]
    if gaps:
        decimals = max(decimals, min(_MAX_DECIMALS, max(0, math.ceil(-math.log10(min(gaps))))))
    elif len(shown) == 1:
        decimals = max(decimals, _decimals(shown[0]))
    while True:
        labels = [f"{v:,.{decimals}f}{'%' if percent else ''}" for v in shown]
        if decimals >= _MAX_DECIMALS or len(set(labels)) == len(set(shown)):
            return labels
        decimals += 1


def _decimals(value: float) -> int:
    """Decimals needed to write ``value`` (to 10 significant digits), at most six."""
    exponent = Decimal(f"{value:.10g}").normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only
    return min(_MAX_DECIMALS, max(0, -exponent))


# ---------------------------------------------------------------------------
# The sweep


def sweep(
    pack: CompiledPack,
    rule_id: str,
    facts: pa.Table,
    as_of: date | datetime,
    thresholds: Iterable[float],
    *,
    metric: str | None = None,
) -> SweepResult:
    """Sellers the rule fires on with each threshold in place of the chosen leaf's.

    ``facts`` is a facts table (``seller_id`` and fact columns, as
    ``sellerpolicy metrics`` writes and :mod:`.population` reads) holding
    what the rule reads. ``metric`` picks the leaf (:func:`pick_leaf`). The
    pack's own threshold is always one of the steps, so
    :attr:`SweepResult.current_fired` is what ``evaluate`` would give.
    ValueError for an unknown rule or metric, or a threshold that is not a
    finite number; :class:`~sellerpolicy.engine.errors.FactsError` when the
    table lacks a fact the rule reads (it would silently assess no one).
    """
    rule = find_rule(pack, rule_id)
    index = pick_leaf(pack, rule, metric)
    leaf = leaves(rule.when)[index]
    wanted = {float(t) for t in thresholds}
    if not all(math.isfinite(t) for t in wanted):
        raise ValueError("thresholds must be finite numbers")
    plan = next(p for p in pack_plans(pack) if p.rule is rule)
    volumes = [name for name, _ in plan.volumes] if rule.min_orders is not None else []
    missing = [f for f in ("seller_id", *plan.reads, *volumes) if f not in facts.column_names]
    if missing:
        raise FactsError(
            f"the facts table lacks {', '.join(missing)}, which rule {rule.id!r} of pack"
            f" {pack.id!r} reads"
        )
    columns = Columns.from_arrow(facts)
    instant = as_of_instant(as_of)
    # Assessability does not depend on the threshold: once, by the bulk path's own code.
    block = rule_block(
        plan, columns, sellers=facts.column("seller_id"), as_of=instant, history=None
    )
    outcomes = block.array.field("outcome")
    code = outcomes.dictionary.to_pylist().index(Outcome.NOT_ASSESSED.value)
    assessed = outcomes.indices.to_numpy() != code
    steps = []
    for threshold in sorted(wanted | {leaf.threshold}):
        fires = assessed & condition_mask(_moved(rule.when, index, threshold), columns)
        steps.append(SweepStep(threshold, int(np.count_nonzero(fires))))
    return SweepResult(
        pack=pack.id,
        pack_version=pack.version,
        rule=rule.id,
        metric=fact_name(leaf),
        field=leaf.field,
        op=leaf.op.value,
        current=leaf.threshold,
        percent=is_percent_leaf(pack, leaf),
        whole=is_whole_leaf(pack, leaf),
        as_of=instant,
        sellers=facts.num_rows,
        assessed=int(np.count_nonzero(assessed)),
        steps=tuple(steps),
    )


def _moved(cond: Condition, index: int, threshold: float) -> Condition:
    """``cond`` with the ``index``-th leaf (in :func:`leaves` order) at ``threshold``."""
    position = 0

    def walk(c: Condition) -> Condition:
        nonlocal position
        if isinstance(c, Compare):
            position += 1
            return replace(c, threshold=threshold) if position - 1 == index else c
        if isinstance(c, AllOf | AnyOf):
            return replace(c, children=tuple(walk(child) for child in c.children))
        return replace(c, child=walk(c.child))

    return walk(cond)
