"""The per-seller decision of one :func:`~sellerpolicy.engine.evaluation.evaluate.evaluate` call.

Owns :class:`Context`: what stays the same for every seller of one call (the
pack, its plans, history, exemptions, explain level), and the decision it
builds for each seller once the back end has said which rules matched:
rule results and their explanations, escalation (stage 3), scores (stage 4)
and the combination of actions with exemptions applied last (stage 5). The
stages are described in :mod:`sellerpolicy.engine.evaluation.evaluate`.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from types import MappingProxyType

from sellerpolicy.engine.metrics.facts import SellerFacts, as_of_label
from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import CompiledPack, Exemption, Mode, Score, Status

from .daily_scores import averaged_result, daily_mean, in_band
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
from .history import HistoryLookup, ladder_actions
from .levels import ExplainLevel
from .plans import RulePlan

__all__ = ["Context"]


class Context:
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
        if score.average is not None:
            return self._averaged(score, facts)
        reasons: list[str] = []
        orders = facts.get("orders")
        if score.min_orders is not None:
            if orders is None:
                reasons.append("metric orders is null: not enough data")
            elif orders < score.min_orders:
                reasons.append(
                    f"only {format_count(orders)} orders, score needs {score.min_orders:,}"
                )
        dims = _dimensions(score, facts)
        for dim, result_dim in zip(score.dimensions, dims, strict=True):
            if result_dim.value is None:
                reasons.append(f"dimension {dim.id}: metric {dim.metric} is null: not enough data")
            elif result_dim.points is None:
                reasons.append(f"dimension {dim.id}: {dim.metric} {result_dim.value} is in no band")
        if reasons:
            result = ScoreResult(score.id, None, None, dims, reason="; ".join(reasons))
            return self._score_explained(score, result), []
        total = round(math.fsum(d.points or 0.0 for d in dims), 9)
        grade = next((g for g in score.grades if in_band(total, g.min, g.max)), None)
        result = ScoreResult(score.id, total, grade.grade if grade else None, dims)
        result = self._score_explained(score, result)
        if grade is None:
            return replace(result, reason=f"total {total:g} is in no grade"), []
        return result, self._grade_items(score, result)

    def _averaged(self, score: Score, facts: SellerFacts) -> tuple[ScoreResult, list[ActionItem]]:
        """A score graded on the mean of its daily totals (``daily_scores``)."""
        assert score.average is not None
        mean = daily_mean(self.pack, score, facts.as_of, facts.get(f"{score.average}__den"))
        result = averaged_result(score, mean, facts.get(score.average), _dimensions(score, facts))
        if self.level is not ExplainLevel.NONE:
            result = replace(result, explanation=explain_score(score, result, self.rates, mean))
        if result.grade is None:
            return result, []
        return result, self._grade_items(score, result)

    def _grade_items(self, score: Score, result: ScoreResult) -> list[ActionItem]:
        """The actions of the grade ``result`` reached."""
        pack = self.pack
        grade = next(g for g in score.grades if g.grade == result.grade)
        enforced = pack.mode is Mode.ENFORCE
        return [
            ActionItem(
                action=action,
                rule=score.id,
                severity=grade.severity,
                status=pack.status_map[action],
                metric=score.id,
                value=result.total,
                threshold=grade.min,
                explanation=result.explanation.splitlines()[0] if result.explanation else None,
                enforced=enforced,
            )
            for action in grade.actions
        ]

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


def _dimensions(score: Score, facts: SellerFacts) -> tuple[DimensionResult, ...]:
    """Each dimension's value and the points of the first band it falls in (None: none)."""
    dims = []
    for dim in score.dimensions:
        value = facts.get(dim.metric)
        band = (
            None
            if value is None
            else next((b for b in dim.bands if in_band(value, b.lower, b.upper)), None)
        )
        points = band.points * dim.weight if band is not None else None
        dims.append(DimensionResult(dim.id, dim.metric, dim.weight, value, points))
    return tuple(dims)
