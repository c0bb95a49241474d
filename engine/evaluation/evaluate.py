"""The one evaluation function: a compiled pack on metric facts, to decisions.

Every adapter (CLI, HTTP service, batch runner, Python API) calls
:func:`evaluate`; no decision logic lives anywhere else. Back ends only say
which rule conditions hold; everything else is here, shared.

Stages, per batch of sellers:

1. **Assessability.** A rule is ``not_assessed`` for a seller when a fact
   its condition reads is null or absent, or when the denominator
   (``<name>__den``) of a rate or average it reads is under the rule's
   ``min_orders`` (a rule reading no rate checks ``orders`` instead). The
   reason is recorded; such a rule never fires.
2. **Matching.** The back end is called **once per batch**, with the pack
   restricted to the rules assessable for at least one seller of the batch
   (the pack itself when that is every rule). Its answer for a seller is then
   masked with that seller's assessable rules, so a rule on a null metric can
   neither fire nor pass. Back ends therefore see null facts for rules that
   are masked afterwards: they must not fail on them (a leaf on a null fact
   is false), and must not assume the rule set of a pack with a given
   digest is fixed.
3. **Escalation.** A firing rule with a ladder asks the
   :class:`HistoryLookup` for its streak (consecutive earlier firings, not
   lapsed); its actions are those of the highest step whose ``after`` is at
   most ``streak + 1`` (the rule's own actions below the first step).
4. **Scores.** Each dimension earns ``points * weight`` from the first band
   its metric falls in; the total picks the grade, whose actions join the
   decision. A score is not assessed under its ``min_orders`` (checked on
   ``orders``) or when a dimension's metric is null; the reason names them.
5. **Combination.** An action is *enforced* unless its rule (or the pack) is
   in shadow mode; shadow actions are reported, flagged, never enforced.
   **Exemptions are applied last**: an exemption for this pack and seller,
   naming the rule (or score) and not expired at ``as_of`` (``expires`` is
   the last exempt day), turns the action into a reported one carrying the
   exemption id. Actions are ordered enforced first, then most severe first
   (severity, then the status the action maps to), then pack order. The
   status is the worst status (``pack.status_map``) of the enforced actions,
   ``healthy`` when there are none: the most severe action wins.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType

from sellerpolicy.engine.evaluation.backends.protocol import Backend
from sellerpolicy.engine.evaluation.backends.python import PythonBackend, fact_name
from sellerpolicy.engine.metrics.facts import Number, SellerFacts, as_of_label
from sellerpolicy.rules.catalog import MetricKind, has_counts
from sellerpolicy.rules.diagnostics import Diagnostic, PackError
from sellerpolicy.rules.model import (
    AllOf,
    AnyOf,
    Compare,
    CompiledPack,
    Condition,
    Exemption,
    Field,
    MetricUse,
    Mode,
    Rule,
    Score,
    Status,
)

from .decision import ActionItem, Decision, DimensionResult, Outcome, RuleResult, ScoreResult
from .explain import (
    EvidenceLookup,
    describe,
    explain_score,
    format_count,
    leaf_distance,
    render_template,
    template_fields,
    window_dates,
)
from .history import Firing, HistoryFromRecords, HistoryLookup, ladder_actions, streak_length

__all__ = [
    "ExplainLevel",
    "Firing",
    "HistoryFromRecords",
    "HistoryLookup",
    "RulePlan",
    "check_status_map",
    "evaluate",
    "evaluate_one",
    "ladder_actions",
    "leaves",
    "not_assessed_reason",
    "pack_plans",
    "plan_rule",
    "streak_length",
]


class ExplainLevel(StrEnum):
    """How much explaining a decision carries.

    ``none``: outcomes only (fastest, for bulk runs). ``summary``: rendered
    templates for firing rules and actions, reasons, distances. ``full``: also
    a plain sentence for every rule that did not fire.
    """

    NONE = "none"
    SUMMARY = "summary"
    FULL = "full"


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
# The evaluation function


def evaluate(
    pack: CompiledPack,
    facts: Sequence[SellerFacts],
    *,
    backend: Backend | None = None,
    history: HistoryLookup | None = None,
    exemptions: Sequence[Exemption] = (),
    explain: ExplainLevel = ExplainLevel.SUMMARY,
    evidence: EvidenceLookup | None = None,
) -> list[Decision]:
    """Evaluate a compiled pack on many sellers: one decision per seller, in order."""
    plans = pack_plans(pack)
    reasons = [
        {p.rule.id: why for p in plans if (why := not_assessed_reason(p, f)) is not None}
        for f in facts
    ]
    wanted = [rule for rule in pack.rules if any(rule.id not in r for r in reasons)]
    matches: list[frozenset[str]] = [frozenset()] * len(facts)
    if wanted:
        subset = pack if len(wanted) == len(pack.rules) else replace(pack, rules=tuple(wanted))
        matches = (backend or PythonBackend()).match(subset, facts)
        if len(matches) != len(facts):
            raise RuntimeError(f"back end returned {len(matches)} results for {len(facts)} sellers")
    context = _Context(
        pack,
        plans=plans,
        history=history,
        exemptions=tuple(exemptions),
        level=explain,
        evidence=evidence,
    )
    return [
        context.decide(seller, matched - frozenset(why), why)
        for seller, matched, why in zip(facts, matches, reasons, strict=True)
    ]


def evaluate_one(
    pack: CompiledPack,
    facts: SellerFacts,
    *,
    backend: Backend | None = None,
    history: HistoryLookup | None = None,
    exemptions: Sequence[Exemption] = (),
    explain: ExplainLevel = ExplainLevel.SUMMARY,
    evidence: EvidenceLookup | None = None,
) -> Decision:
    """Evaluate a compiled pack on one seller."""
    return evaluate(
        pack,
        [facts],
        backend=backend,
        history=history,
        exemptions=exemptions,
        explain=explain,
        evidence=evidence,
    )[0]


_PLANS: OrderedDict[int, tuple[CompiledPack, tuple[RulePlan, ...]]] = OrderedDict()
_PLANS_KEPT = 32
_PLANS_LOCK = threading.Lock()


def pack_plans(pack: CompiledPack) -> tuple[RulePlan, ...]:
    """The :class:`RulePlan` of every rule of ``pack``, its status map checked.

    Worked out once per pack object and kept for the last few packs (a
    service evaluates one seller at a time against the same pack; planning
    every call cost about 40% of ``evaluate``). The cache holds the pack
    itself, so an entry can never answer for another object with a reused id.
    """
    with _PLANS_LOCK:
        found = _PLANS.get(id(pack))
        if found is not None and found[0] is pack:
            _PLANS.move_to_end(id(pack))
            return found[1]
    check_status_map(pack)
    plans = tuple(plan_rule(rule, pack) for rule in pack.rules)
    with _PLANS_LOCK:
        _PLANS[id(pack)] = (pack, plans)
        while len(_PLANS) > _PLANS_KEPT:
            _PLANS.popitem(last=False)
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


class _Context:
    """What stays the same for every seller of one call to :func:`evaluate`."""

    def __init__(
        self,
        pack: CompiledPack,
        *,
        plans: tuple[RulePlan, ...],
        history: HistoryLookup | None,
        exemptions: tuple[Exemption, ...],
        level: ExplainLevel,
        evidence: EvidenceLookup | None,
    ) -> None:
        self.pack, self.plans, self.history = pack, plans, history
        self.exemptions = [e for e in exemptions if e.pack == pack.id]
        self.level, self.evidence = level, evidence
        owners = [rule.id for rule in pack.rules] + [score.id for score in pack.scores]
        self.order = {owner: i for i, owner in enumerate(owners)}
        self.rates = frozenset(u.name for u in pack.metrics if u.kind is MetricKind.RATE)
        self.windows: dict[tuple[str, datetime], tuple[date, date]] = {}

    def decide(
        self, facts: SellerFacts, matched: frozenset[str], reasons: Mapping[str, str]
    ) -> Decision:
        """The decision for one seller, given the rules that matched."""
        pack = self.pack
        results: list[RuleResult] = []
        items: list[ActionItem] = []
        for plan in self.plans:
            result, actions = self._rule(plan, facts, matched, reasons.get(plan.rule.id))
            results.append(result)
            if actions:
                items += self._items(plan, result, actions)
        scores = []
        for score in pack.scores:
            score_result, score_items = self._score(score, facts)
            scores.append(score_result)
            items += score_items
        if self.exemptions:
            items = [self._exempt(item, facts) for item in items]
        order = self.order
        items.sort(key=lambda a: (not a.enforced, -a.severity, -a.status, order[a.rule], a.action))
        status = max((a.status for a in items if a.enforced), default=Status.HEALTHY)
        return Decision(
            decision_id=str(uuid.uuid4()),
            seller_id=facts.seller_id,
            as_of=as_of_label(facts.as_of),
            pack=pack.id,
            pack_version=pack.version,
            pack_digest=pack.digest,
            status=status,
            actions=tuple(items),
            rules=tuple(results),
            scores=tuple(scores),
            facts=MappingProxyType(dict(facts.values)),
        )

    def _rule(
        self, plan: RulePlan, facts: SellerFacts, matched: frozenset[str], reason: str | None
    ) -> tuple[RuleResult, tuple[str, ...]]:
        rule, leaf, use = plan.rule, plan.leaf, plan.use
        fired = reason is None and rule.id in matched
        streak = 0
        actions: tuple[str, ...] = ()
        if fired:
            if rule.escalation is not None and self.history is not None:
                streak = self.history.streak(facts.seller_id, rule.id, facts.as_of.date())
            actions = ladder_actions(rule, streak + 1)
        counts = plan.count_facts
        num = facts.get(counts[0]) if counts else None
        den = facts.get(counts[1]) if counts else None
        window = self.windows.get((use.name, facts.as_of))
        if window is None:
            window = self.windows[use.name, facts.as_of] = window_dates(use, facts.as_of)
        explaining = self.level is not ExplainLevel.NONE and reason is None
        distance = None
        if explaining and plan.single and plan.rate_value:
            dates = None
            if fired and self.evidence is not None:
                dates = self.evidence.bad_order_dates(facts.seller_id, use.name)
            distance = leaf_distance(
                leaf, num, den, fired=fired, bad_dates=dates, use=use, exact=plan.exact
            )
        result = RuleResult(
            rule=rule.id,
            outcome=(
                Outcome.NOT_ASSESSED
                if reason
                else Outcome.MATCHED
                if fired
                else Outcome.NOT_MATCHED
            ),
            mode=plan.mode,
            reason=reason,
            metric=leaf.metric,
            op=leaf.op,
            value=facts.get(plan.value_fact),
            threshold=leaf.threshold,
            num=num,
            den=den,
            window_start=window[0],
            window_end=window[1],
            distance=distance,
            streak=streak,
        )
        if explaining and (fired or self.level is ExplainLevel.FULL):
            result = replace(result, explanation=self._text(plan, result, facts))
        return result, actions

    def _text(self, plan: RulePlan, result: RuleResult, facts: SellerFacts) -> str:
        """The rule's own template for a firing rule, else (or on failure) a plain sentence."""
        if result.outcome is Outcome.MATCHED:
            fields = template_fields(
                result,
                title=plan.rule.title,
                seller_id=facts.seller_id,
                as_of=facts.as_of,
                orders=facts.get("orders"),
                use=plan.use,
                rate=plan.rate_value,
            )
            text = render_template(plan.rule.explanation, fields)
            if text is not None:
                return text
        return describe(result, rate=plan.rate_value)

    def _items(
        self, plan: RulePlan, result: RuleResult, actions: tuple[str, ...]
    ) -> list[ActionItem]:
        return [
            ActionItem(
                action=action,
                rule=plan.rule.id,
                severity=plan.rule.severity,
                status=self.pack.status_map[action],
                metric=result.metric,
                value=result.value,
                threshold=result.threshold,
                explanation=result.explanation,
                enforced=plan.mode is Mode.ENFORCE,
            )
            for action in actions
        ]

    def _score(self, score: Score, facts: SellerFacts) -> tuple[ScoreResult, list[ActionItem]]:
        pack = self.pack
        reasons: list[str] = []
        orders = facts.get("orders")
        if score.min_orders is not None:
            if orders is None:
                reasons.append("metric orders is null: not enough data")
            elif orders < score.min_orders:
                reasons.append(
                    f"only {format_count(orders)} orders, score needs {score.min_orders:,}"
                )
        dims: list[DimensionResult] = []
        for dim in score.dimensions:
            value = facts.get(dim.metric)
            points: float | None = None
            if value is None:
                reasons.append(f"dimension {dim.id}: metric {dim.metric} is null: not enough data")
            else:
                band = next((b for b in dim.bands if _in_band(value, b.lower, b.upper)), None)
                if band is None:
                    reasons.append(f"dimension {dim.id}: {dim.metric} {value} is in no band")
                else:
                    points = band.points * dim.weight
            dims.append(DimensionResult(dim.id, dim.metric, dim.weight, value, points))
        if reasons:
            result = ScoreResult(score.id, None, None, tuple(dims), reason="; ".join(reasons))
            return self._score_explained(score, result), []
        total = round(math.fsum(d.points or 0.0 for d in dims), 9)
        grade = next((g for g in score.grades if _in_band(total, g.min, g.max)), None)
        result = ScoreResult(score.id, total, grade.grade if grade else None, tuple(dims))
        result = self._score_explained(score, result)
        if grade is None:
            return replace(result, reason=f"total {total:g} is in no grade"), []
        enforced = pack.mode is Mode.ENFORCE
        items = [
            ActionItem(
                action=action,
                rule=score.id,
                severity=grade.severity,
                status=pack.status_map[action],
                metric=score.id,
                value=total,
                threshold=grade.min,
                explanation=result.explanation.splitlines()[0] if result.explanation else None,
                enforced=enforced,
            )
            for action in grade.actions
        ]
        return result, items

    def _score_explained(self, score: Score, result: ScoreResult) -> ScoreResult:
        if self.level is ExplainLevel.NONE:
            return result
        return replace(result, explanation=explain_score(score, result, self.rates))

    def _exempt(self, item: ActionItem, facts: SellerFacts) -> ActionItem:
        today = facts.as_of.date()
        for exemption in self.exemptions:
            if (
                exemption.seller_id == facts.seller_id
                and item.rule in exemption.rules
                and exemption.expires >= today
            ):
                return replace(item, enforced=False, exemption=exemption.id)
        return item


def _in_band(value: Number, lower: float | None, upper: float | None) -> bool:
    return (lower is None or value >= lower) and (upper is None or value < upper)
