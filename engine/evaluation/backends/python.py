"""The pure-Python back end: the reference model the other back ends must agree with.

Conditions are evaluated by plain recursion over the compiled condition
tree, one seller at a time, with exact float comparisons (``eq`` is ``==``).
A leaf on a null or absent fact is false; the evaluator never relies on that
for a seller whose rule is not assessable, because results for such rules
are discarded (see :mod:`sellerpolicy.engine.evaluation.evaluate`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sellerpolicy.engine.metrics.facts import Number, SellerFacts
from sellerpolicy.rules.model import AllOf, AnyOf, Compare, CompiledPack, Condition, Field, Op


def fact_name(leaf: Compare) -> str:
    """The facts field a leaf reads: the metric itself or its ``__num`` count."""
    return leaf.metric if leaf.field is Field.VALUE else f"{leaf.metric}__num"


def compare(value: Number, op: Op, threshold: float) -> bool:
    """``value <op> threshold``, exactly."""
    if op is Op.GT:
        return value > threshold
    if op is Op.GTE:
        return value >= threshold
    if op is Op.LT:
        return value < threshold
    if op is Op.LTE:
        return value <= threshold
    return value == threshold


def holds(cond: Condition, facts: SellerFacts) -> bool:
    """Whether a condition is true on one seller's facts (a null leaf is false)."""
    if isinstance(cond, Compare):
        value = facts.get(fact_name(cond))
        return value is not None and compare(value, cond.op, cond.threshold)
    if isinstance(cond, AllOf):
        return all(holds(child, facts) for child in cond.children)
    if isinstance(cond, AnyOf):
        return any(holds(child, facts) for child in cond.children)
    return not holds(cond.child, facts)


class PythonBackend:
    """Evaluate rule conditions by recursion over the condition tree."""

    name = "python"

    def match(self, pack: CompiledPack, facts: Sequence[SellerFacts]) -> list[frozenset[str]]:
        """For each seller, in order, the ids of rules whose condition is true."""
        return [
            frozenset(rule.id for rule in pack.rules if holds(rule.when, seller))
            for seller in facts
        ]
