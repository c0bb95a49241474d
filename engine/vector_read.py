"""Back from decision batches to full :class:`Decision` values (for sinks and tests).

A decision batch (:mod:`sellerpolicy.engine.vector_decisions`) does not store
what its facts and its pack already say: a rule result's value and counts
come from the ``facts`` column, its metric, threshold and window from the
pack, and its distance to compliance (a pure function of the counts, the
leaf and the outcome; :func:`~sellerpolicy.engine.explain.leaf_distance`)
is recomputed here when the batch was evaluated with explanations (the
schema's ``sellerpolicy.explain`` metadata). ``Distance.clears_on`` is
always null in the bulk path (it needs per-seller order dates).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from sellerpolicy.rules.model import CompiledPack, Score, Severity, Status

from .decision import (
    ActionItem,
    Decision,
    DimensionResult,
    Outcome,
    RuleResult,
    ScoreResult,
)
from .evaluate import ExplainLevel, RulePlan, plan_rule
from .explain import leaf_distance, window_dates
from .facts import as_of_instant

#: The schema metadata key holding the explain level a batch was evaluated at.
EXPLAIN_KEY = b"sellerpolicy.explain"
STATUS_LABELS = tuple(s.label for s in sorted(Status))


def explain_level(schema: pa.Schema) -> ExplainLevel:
    """The explain level recorded in a decision schema (``summary`` when absent)."""
    raw = (schema.metadata or {}).get(EXPLAIN_KEY)
    return ExplainLevel(raw.decode()) if raw is not None else ExplainLevel.SUMMARY


def decisions_from_batch(batch: pa.RecordBatch | pa.Table, pack: CompiledPack) -> list[Decision]:
    """Full :class:`Decision` values from a decision batch of ``pack`` (for sinks and tests)."""
    plans = tuple(plan_rule(rule, pack) for rule in pack.rules)
    explaining = explain_level(batch.schema) is not ExplainLevel.NONE
    data = {name: batch.column(name).to_pylist() for name in batch.schema.names}
    out: list[Decision] = []
    windows: dict[tuple[str, str], tuple[date, date]] = {}
    for i, seller in enumerate(data["seller_id"]):
        facts = data["facts"][i]
        label = data["as_of"][i]
        results = []
        for plan in plans:
            key = (plan.use.name, label)
            if key not in windows:
                instant = as_of_instant(datetime.fromisoformat(label.replace("Z", "+00:00")))
                windows[key] = window_dates(plan.use, instant)
            cell = _cell(data, f"rule:{plan.rule.id}.", i)
            results.append(_rule_result(plan, cell, facts, windows[key], explaining=explaining))
        scores = tuple(
            _score_result(score, _cell(data, f"score:{score.id}.", i), facts)
            for score in pack.scores
        )
        by_rule = {p.rule.id: p for p in plans}
        actions = tuple(
            _action_item(item, pack, facts, by_rule.get(item["rule"]))
            for item in data["actions"][i]
        )
        out.append(
            Decision(
                decision_id=str(uuid.UUID(bytes=data["decision_id"][i])),
                seller_id=seller,
                as_of=label,
                pack=data["pack"][i],
                pack_version=data["pack_version"][i],
                pack_digest=data["pack_digest"][i],
                status=Status(STATUS_LABELS.index(data["status"][i])),
                actions=actions,
                rules=tuple(results),
                scores=scores,
                facts=MappingProxyType(facts),
            )
        )
    return out


def _cell(data: dict[str, list[Any]], prefix: str, row: int) -> dict[str, Any]:
    return {k.removeprefix(prefix): v[row] for k, v in data.items() if k.startswith(prefix)}


def _rule_result(
    plan: RulePlan,
    cell: dict[str, Any],
    facts: dict[str, Any],
    window: tuple[date, date],
    *,
    explaining: bool,
) -> RuleResult:
    counts = plan.count_facts
    outcome = Outcome(cell["outcome"])
    distance = None
    if explaining and outcome is not Outcome.NOT_ASSESSED and plan.single and plan.rate_value:
        distance = leaf_distance(
            plan.leaf,
            facts.get(counts[0]) if counts else None,
            facts.get(counts[1]) if counts else None,
            fired=outcome is Outcome.MATCHED,
            bad_dates=None,
            use=plan.use,
            exact=plan.exact,
        )
    return RuleResult(
        rule=plan.rule.id,
        outcome=outcome,
        mode=plan.mode,
        reason=cell["reason"],
        metric=plan.leaf.metric,
        op=plan.leaf.op,
        value=facts.get(plan.value_fact),
        threshold=plan.leaf.threshold,
        num=facts.get(counts[0]) if counts else None,
        den=facts.get(counts[1]) if counts else None,
        window_start=window[0],
        window_end=window[1],
        explanation=cell["explanation"],
        distance=distance,
        streak=cell.get("streak", 0),  # stored for rules with an escalation ladder only
    )


def _score_result(score: Score, cell: dict[str, Any], facts: dict[str, Any]) -> ScoreResult:
    dims = tuple(
        DimensionResult(d.id, d.metric, d.weight, facts.get(d.metric), cell[f"points.{d.id}"])
        for d in score.dimensions
    )
    return ScoreResult(
        score.id, cell["total"], cell["grade"], dims, cell["reason"], cell["explanation"]
    )


def _action_item(
    item: dict[str, Any], pack: CompiledPack, facts: dict[str, Any], plan: RulePlan | None
) -> ActionItem:
    return ActionItem(
        action=item["action"],
        rule=item["rule"],
        severity=Severity[item["severity"].upper()],
        status=pack.status_map[item["action"]],
        metric=item["metric"],
        value=facts.get(plan.value_fact) if plan is not None else item["value"],
        threshold=item["threshold"],
        explanation=item["explanation"],
        enforced=item["enforced"],
        exemption=item["exemption"],
    )
