"""Rule plans: what evaluation needs to know about each rule, worked out once per pack.

Owns :class:`RulePlan` and :func:`plan_rule` (a rule's leaves, facts read,
volumes checked against ``min_orders``, first-leaf numbers), the per-pack plan
cache (:func:`pack_plans`, which also checks the status map with
:func:`check_status_map`) and assessability (:func:`not_assessed_reason`:
stage 1 of :mod:`sellerpolicy.engine.evaluation.evaluate`). The row-wise
evaluation and the columnar back end share these plans.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction

from cachetools import LRUCache

from sellerpolicy.engine.evaluation.backends.python import fact_name
from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.rules.catalog import MetricKind, has_counts
from sellerpolicy.rules.diagnostics import Diagnostic, PackError
from sellerpolicy.rules.model import (
    AllOf,
    AnyOf,
    Compare,
    CompiledPack,
    Condition,
    Field,
    MetricUse,
    Mode,
    Rule,
)

from .explain import format_count

__all__ = [
    "RulePlan",
    "check_status_map",
    "leaves",
    "not_assessed_reason",
    "pack_plans",
    "plan_rule",
]


# ---------------------------------------------------------------------------
# Assessability


def leaves(cond: Condition) -> tuple[Compare, ...]:
    """The comparison leaves of a condition, in order."""
    if isinstance(cond, Compare):
        return (cond,)
    if isinstance(cond, AllOf | AnyOf):
        return tuple(leaf for child in cond.children for leaf in leaves(child))
    return leaves(cond.child)


@dataclass(frozen=True, slots=True)
class RulePlan:
    """What evaluation needs to know about one rule, worked out once per call."""

    rule: Rule
    mode: Mode  # shadow when the pack or the rule is
    leaf: Compare  # the first leaf: its numbers are the rule's numbers
    use: MetricUse  # the first leaf's metric use
    reads: tuple[str, ...]  # every fact the condition reads
    volumes: tuple[tuple[str, str], ...]  # (fact, unit) checked against min_orders
    rate_value: bool  # the first leaf compares a rate (written as a percentage)
    single: bool  # the condition is that one leaf (a distance can be computed)
    value_fact: str  # the fact the first leaf reads
    exact: Fraction  # the first leaf's threshold as written (``1%`` is exactly 1/100)
    count_facts: tuple[str, str] | None  # the first leaf's ``__num`` / ``__den`` facts


def plan_rule(rule: Rule, pack: CompiledPack) -> RulePlan:
    """The :class:`RulePlan` of a rule of ``pack``."""
    rule_leaves = leaves(rule.when)
    uses = list(dict.fromkeys(pack.metric(leaf.metric) for leaf in rule_leaves))
    volumes = [(f"{u.name}__den", _unit(u.metric)) for u in uses if has_counts(u.kind)]
    first = rule_leaves[0]
    use = pack.metric(first.metric)
    return RulePlan(
        rule=rule,
        mode=Mode.SHADOW if Mode.SHADOW in (pack.mode, rule.mode) else Mode.ENFORCE,
        leaf=first,
        use=use,
        reads=tuple(dict.fromkeys(fact_name(leaf) for leaf in rule_leaves)),
        volumes=tuple(volumes) or (("orders", "orders"),),
        rate_value=use.kind is MetricKind.RATE and first.field is Field.VALUE,
        single=isinstance(rule.when, Compare),
        value_fact=fact_name(first),
        exact=Fraction(repr(first.threshold)),
        count_facts=(f"{use.name}__num", f"{use.name}__den") if has_counts(use.kind) else None,
    )


def not_assessed_reason(plan: RulePlan, facts: SellerFacts) -> str | None:
    """Why a rule cannot be judged on these facts, or ``None`` when it can."""
    for name in plan.reads:
        if facts.get(name) is None:
            return f"metric {name} is null: not enough data"
    minimum = plan.rule.min_orders
    if minimum is None:
        return None
    for name, unit in plan.volumes:
        volume = facts.get(name)
        if volume is None:
            return f"metric {name} is null: cannot check min_orders {minimum:,}"
        if volume < minimum:
            return f"only {format_count(volume)} {unit}, rule needs {minimum:,}"
    return None


def _unit(metric: str) -> str:
    return "messages" if metric == "message_response_rate" else "orders"


# ---------------------------------------------------------------------------
# The plan cache


_PLANS: LRUCache[int, tuple[CompiledPack, tuple[RulePlan, ...]]] = LRUCache(maxsize=32)
_PLANS_LOCK = threading.Lock()


def pack_plans(pack: CompiledPack) -> tuple[RulePlan, ...]:
    """The :class:`RulePlan` of every rule of ``pack``, its status map checked.

    Worked out once per pack object and kept for the last few packs (a
    service evaluates one seller at a time against the same pack; planning
    every call cost about 40% of ``evaluate``). The cache holds the pack
    itself, so an entry can never answer for another object with a reused id.
    """
    with _PLANS_LOCK:
        found = _PLANS.get(id(pack))  # a hit is also the most recent use
        if found is not None and found[0] is pack:
            return found[1]
    check_status_map(pack)
    plans = tuple(plan_rule(rule, pack) for rule in pack.rules)
    with _PLANS_LOCK:
        _PLANS[id(pack)] = (pack, plans)
    return plans


def check_status_map(pack: CompiledPack) -> None:
    """Raise a :class:`PackError` when an action the pack can take maps to no status."""
    used: dict[str, tuple[str, int]] = {}
    for rule in pack.rules:
        steps = rule.escalation.steps if rule.escalation else ()
        for action in rule.actions + tuple(a for s in steps for a in s.actions):
            used.setdefault(action, (rule.id, rule.line))
    for score in pack.scores:
        for grade in score.grades:
            for action in grade.actions:
                used.setdefault(action, (score.id, 0))
    problems = [
        Diagnostic(
            file=pack.path or pack.id,
            line=max(line, 1),
            column=1,
            code="unmapped_action",
            json_path="$.spec.status",
            message=f"action {action!r} (used by {owner!r}) maps to no account status",
        )
        for action, (owner, line) in used.items()
        if action not in pack.status_map
    ]
    if problems:
        raise PackError(problems)
