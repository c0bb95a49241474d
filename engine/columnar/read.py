"""Back from decision batches to full :class:`Decision` values (for sinks and tests).

A decision batch (:mod:`sellerpolicy.engine.columnar.decisions`) does not store
what its facts and its pack already say, only what evaluation decided (codes,
streaks, actions, scores). Worked out here, exactly as ``evaluate`` does:

* a rule result's value and counts, from the ``facts`` column; its metric,
  threshold and window, from the pack;
* the wording of a not-assessed reason
  (:func:`~sellerpolicy.engine.evaluation.plans.not_assessed_reason` on the row's
  facts; the stored ``reason`` code names the check that failed);
* explanations, at the explain level the schema records (its
  ``sellerpolicy.explain`` metadata), by the renderers of
  :mod:`.vector_texts`, over all rows of the batch at once; an action item's
  explanation is its rule's (or the first line of its score's);
* the distance to compliance (a pure function of the counts, the leaf and
  the outcome; :func:`~sellerpolicy.engine.evaluation.explain.leaf_distance`).
  ``Distance.clears_on`` is always null in the bulk path (it needs
  per-seller order dates).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.evaluation.decision import (
    ActionItem,
    Decision,
    DimensionResult,
    Distance,
    Outcome,
    RuleResult,
    ScoreResult,
)
from sellerpolicy.engine.evaluation.explain import leaf_distance, window_dates
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.evaluation.plans import RulePlan, not_assessed_reason, pack_plans
from sellerpolicy.engine.metrics.facts import SellerFacts, as_of_instant
from sellerpolicy.rules.model import CompiledPack, Score, Severity, Status

from .kernels import Columns
from .texts import describe_rows, render_fired

#: The schema metadata key holding the explain level a batch was evaluated at.
EXPLAIN_KEY = b"sellerpolicy.explain"
STATUS_LABELS = tuple(s.label for s in sorted(Status))
_OUTCOME_OF = {o.value: o for o in Outcome}
#: The schema metadata key saying whether the facts are a column or stand beside.
FACTS_KEY = b"sellerpolicy.facts"
FACTS_EMBEDDED, FACTS_BESIDE = b"embedded", b"beside"
_MATCHED, _NOT_MATCHED = (list(Outcome).index(o) for o in (Outcome.MATCHED, Outcome.NOT_MATCHED))
_OUTCOME_LABELS = tuple(o.value for o in Outcome)


def explain_level(schema: pa.Schema) -> ExplainLevel:
    """The explain level recorded in a decision schema (``summary`` when absent)."""
    raw = (schema.metadata or {}).get(EXPLAIN_KEY)
    return ExplainLevel(raw.decode()) if raw is not None else ExplainLevel.SUMMARY


def decisions_from_batch(
    batch: pa.RecordBatch | pa.Table,
    pack: CompiledPack,
    facts: pa.RecordBatch | pa.Table | None = None,
) -> list[Decision]:
    """Full :class:`Decision` values from a decision batch of ``pack`` (for sinks and tests).

    A batch written without its ``facts`` column needs them given: ``facts``
    holds ``seller_id`` and the fact columns, row ``i`` for decision ``i``
    (ValueError when the seller ids do not line up, or when they are missing).
    ValueError when the batch was decided by another pack (its digest): the
    texts and numbers rebuilt from a different pack would be wrong.
    """
    check_digest(batch, pack)
    batch = with_facts(batch, facts)
    plans = pack_plans(pack)
    by_rule = {p.rule.id: p for p in plans}
    level = explain_level(batch.schema)
    data = {name: batch.column(name).to_pylist() for name in batch.schema.names}
    out: list[Decision] = []
    if not data["seller_id"]:
        return out
    # One as_of per batch (a constant column): windows and texts are worked out once.
    label = data["as_of"][0]
    instant = as_of_instant(datetime.fromisoformat(label.replace("Z", "+00:00")))
    texts = rule_texts(batch, plans, level, instant)
    windows = {p.use.name: window_dates(p.use, instant) for p in plans}
    rule_cells = [_cells(data, f"rule:{plan.rule.id}.") for plan in plans]
    # Distances depend only on (rule, counts, outcome), and counts repeat across sellers.
    distances: dict[tuple[str, object, object, bool], Distance | None] = {}
    score_cells = [_cells(data, f"score:{score.id}.") for score in pack.scores]
    for i, seller in enumerate(data["seller_id"]):
        facts = data["facts"][i]
        seller_facts = SellerFacts(seller, instant, facts)
        results = tuple(
            _rule_result(
                plan,
                {name: values[i] for name, values in rule_cells[k]},
                seller_facts,
                windows[plan.use.name],
                texts[k].get(i),
                distances if level is not ExplainLevel.NONE else None,
            )
            for k, plan in enumerate(plans)
        )
        scores = tuple(
            _score_result(score, {name: values[i] for name, values in score_cells[k]}, facts)
            for k, score in enumerate(pack.scores)
        )
        actions = tuple(
            _action_item(item, pack, facts, by_rule.get(item["rule"]), results, scores)
            for item in data["actions"][i]
        )
        out.append(
            Decision(
                decision_id=str(uuid.UUID(bytes=data["decision_id"][i])),
                seller_id=seller,
                as_of=data["as_of"][i],
                pack=data["pack"][i],
                pack_version=data["pack_version"][i],
                pack_digest=data["pack_digest"][i],
                status=Status(STATUS_LABELS.index(data["status"][i])),
                actions=actions,
                rules=results,
                scores=scores,
                facts=MappingProxyType(facts),
            )
        )
    return out


def check_digest(batch: pa.RecordBatch | pa.Table, pack: CompiledPack) -> None:
    """ValueError unless every decision of ``batch`` was made by ``pack`` (its digest)."""
    digests = pc.unique(batch.column("pack_digest").cast(pa.string())).to_pylist()
    if any(d != pack.digest for d in digests):
        raise ValueError(
            f"these decisions were made with pack digest {digests[0]}, not {pack.digest} "
            f"({pack.id} {pack.version}): read them with the pack that made them"
        )


def with_facts(
    batch: pa.RecordBatch | pa.Table, facts: pa.RecordBatch | pa.Table | None
) -> pa.RecordBatch | pa.Table:
    """The batch with its ``facts`` column, from ``facts`` when it was written without."""
    if "facts" in batch.schema.names:
        return batch
    if facts is None:
        raise ValueError("these decisions were written without facts: give the facts beside them")
    if facts.num_rows != batch.num_rows or not _whole(facts.column("seller_id")).cast(
        pa.string()
    ).equals(_whole(batch.column("seller_id"))):
        raise ValueError("the facts given do not line up with the decisions, seller by seller")
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    fields = [f for f in facts.schema if f.name not in ("seller_id", "as_of")]
    struct = pa.StructArray.from_arrays(
        [_whole(facts.column(f.name)) for f in fields], fields=fields
    )
    return table.append_column(pa.field("facts", struct.type), pa.chunked_array([struct]))


def _whole(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array, whether a table's (chunked) column or a batch's."""
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def rule_texts(
    batch: pa.RecordBatch | pa.Table,
    plans: tuple[RulePlan, ...],
    level: ExplainLevel,
    as_of: datetime,
) -> list[dict[int, str]]:
    """Per rule, the explanation of each row that carries one at ``level``.

    The same renderers the bulk path used to store texts with: the rule's
    template (or plain sentence) for firing rows, the plain sentence for
    the other assessed rows at ``full``.
    """
    if level is ExplainLevel.NONE:
        return [{} for _ in plans]
    columns = Columns.from_arrow(pa.RecordBatch.from_struct_array(_whole(batch.column("facts"))))
    sellers = _whole(batch.column("seller_id"))
    out = []
    for plan in plans:
        name = f"rule:{plan.rule.id}.outcome"
        indices = label_codes(_whole(batch.column(name)), _OUTCOME_LABELS, name)
        fired = np.flatnonzero(indices == _MATCHED)
        texts = render_fired(plan, fired, columns, sellers, as_of)
        if level is ExplainLevel.FULL:
            quiet = np.flatnonzero(indices == _NOT_MATCHED)
            texts.update(
                zip(quiet.tolist(), describe_rows(plan, quiet, columns, as_of), strict=True)
            )
        out.append(texts)
    return out


def label_codes(array: pa.Array, labels: Sequence[str], what: str) -> npt.NDArray[np.int64]:
    """Per row, the position of its text in ``labels`` (-1 for null); ValueError if unknown.

    By the dictionary's values, not its indices: a dictionary read back from
    a file (or decoded, in an ``.arrow`` file) need not be the static one.
    """
    encoded = array if pa.types.is_dictionary(array.type) else pc.dictionary_encode(array)
    position = {label: k for k, label in enumerate(labels)}
    values = encoded.dictionary.to_pylist()
    unknown = [v for v in values if v not in position]
    if unknown:
        raise ValueError(f"{what}: unknown value {unknown[0]!r}")
    mapping = np.asarray([position[v] for v in values] + [-1], np.int64)
    indices = np.asarray(encoded.indices.cast(pa.int64()).fill_null(-1), np.int64)
    return mapping[indices]


def _cells(data: dict[str, list[Any]], prefix: str) -> list[tuple[str, list[Any]]]:
    """The columns under ``prefix``, by their name without it."""
    return [(k.removeprefix(prefix), v) for k, v in data.items() if k.startswith(prefix)]


def _rule_result(  # noqa: PLR0917 - one private call site
    plan: RulePlan,
    cell: dict[str, Any],
    seller: SellerFacts,
    window: tuple[date, date],
    explanation: str | None,
    distances: dict[tuple[str, object, object, bool], Distance | None] | None,
) -> RuleResult:
    """A rule's result; ``distances`` caches distances (``None``: no distance, explain none)."""
    counts = plan.count_facts
    outcome = _OUTCOME_OF[cell["outcome"]]
    facts = seller.values
    num = facts.get(counts[0]) if counts else None
    den = facts.get(counts[1]) if counts else None
    distance = None
    if (
        distances is not None
        and outcome is not Outcome.NOT_ASSESSED
        and plan.single
        and plan.rate_value
    ):
        fired = outcome is Outcome.MATCHED
        key = (plan.rule.id, num, den, fired)
        if key in distances:
            distance = distances[key]
        else:
            distance = distances[key] = leaf_distance(
                plan.leaf,
                num,
                den,
                fired=fired,
                bad_dates=None,
                use=plan.use,
                exact=plan.exact,
            )
    return RuleResult(
        rule=plan.rule.id,
        outcome=outcome,
        mode=plan.mode,
        reason=not_assessed_reason(plan, seller) if outcome is Outcome.NOT_ASSESSED else None,
        metric=plan.leaf.metric,
        op=plan.leaf.op,
        value=facts.get(plan.value_fact),
        threshold=plan.leaf.threshold,
        num=num,
        den=den,
        window_start=window[0],
        window_end=window[1],
        explanation=explanation,
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


def _action_item(  # noqa: PLR0917 - one private call site
    item: dict[str, Any],
    pack: CompiledPack,
    facts: dict[str, Any],
    plan: RulePlan | None,
    rules: tuple[RuleResult, ...],
    scores: tuple[ScoreResult, ...],
) -> ActionItem:
    """An action item: what the row stores, plus its value and explanation from its owner."""
    if plan is not None:
        value = facts.get(plan.value_fact)
        explanation = next(r.explanation for r in rules if r.rule == item["rule"])
    else:
        score = next(s for s in scores if s.score == item["rule"])
        value = score.total
        explanation = score.explanation.splitlines()[0] if score.explanation else None
    return ActionItem(
        action=item["action"],
        rule=item["rule"],
        severity=Severity[item["severity"].upper()],
        status=pack.status_map[item["action"]],
        metric=item["metric"],
        value=value,
        threshold=item["threshold"],
        explanation=explanation,
        enforced=item["enforced"],
        exemption=item["exemption"],
    )
