"""What a new pack would do to a population, against the pack in force: the impact report.

Both packs are evaluated on the same sellers (a :class:`Population`) on the
bulk columnar path; the two decision tables are then compared column by
column, row for row:

* the status transition matrix (baseline status x new status), which sums to
  the number of sellers;
* per rule, firings (outcome ``matched``) and ``not_assessed`` before and
  after; per (rule, action), the sellers on whom it is enforced before and
  after; per action, the sellers who carry it;
* every seller whose status or set of enforced actions changes, as an Arrow
  table, and for each of them (up to ``explain_limit``) both decisions'
  reasons and the distance to compliance under the new pack;
* for each threshold the new pack moves, the distribution of that metric over
  the population, with how many sellers lie between the old and new value.

Only the changed sellers' decisions are rebuilt as full
:class:`~sellerpolicy.engine.evaluation.decision.Decision` values (to word
their explanations); everything else is counted on the columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.batch.columnar import decide_batches
from sellerpolicy.engine.columnar.decisions import decision_schema, decisions_from_batch
from sellerpolicy.engine.columnar.read import STATUS_LABELS
from sellerpolicy.engine.evaluation.decision import Decision, Outcome
from sellerpolicy.engine.evaluation.explain import describe_distance
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.evaluation.plans import leaves
from sellerpolicy.engine.metrics.facts import as_of_instant, as_of_label
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.diff import diff_packs
from sellerpolicy.rules.model import Compare, CompiledPack, Field

from .population import Population
from .report import (
    ActionCount,
    ChangedSeller,
    ImpactReport,
    PackRef,
    RuleCount,
    Side,
    ThresholdChange,
)

__all__ = [
    "ActionCount",
    "ChangedSeller",
    "ImpactReport",
    "PackRef",
    "RuleCount",
    "ThresholdChange",
    "impact",
]

#: Changed sellers explained in full by default; the rest are listed without texts.
EXPLAIN_LIMIT = 1_000
_BINS = 40
_PERCENT_KINDS = (MetricKind.RATE, MetricKind.GROWTH)


def impact(
    new: CompiledPack,
    baseline: CompiledPack,
    population: Population,
    as_of: date | datetime,
    *,
    store: DecisionStore | None = None,
    explain_limit: int = EXPLAIN_LIMIT,
) -> ImpactReport:
    """The impact of ``new`` against ``baseline`` on ``population`` (tables: new, baseline).

    ``store`` gives both packs their sellers' escalation history (read
    only); without it every seller is judged as on a first evaluation.
    ``explain_limit`` bounds how many changed sellers get both decisions
    explained (the most serious changes first); every changed seller is in
    :attr:`ImpactReport.changed` regardless.
    """
    if len(population.tables) != 2:
        raise ValueError("an impact population holds two tables: the new pack's, the baseline's")
    if explain_limit < 0:
        raise ValueError(f"explain_limit must be at least 0, got {explain_limit}")
    instant = as_of_instant(as_of)
    after = _decide(new, population.tables[0], instant, store)
    before = _decide(baseline, population.tables[1], instant, store)
    status_before, status_after = _status_codes(before), _status_codes(after)
    grid = np.bincount(
        status_before.astype(np.int64) * len(STATUS_LABELS) + status_after,
        minlength=len(STATUS_LABELS) ** 2,
    ).reshape(len(STATUS_LABELS), len(STATUS_LABELS))
    enforced_before, enforced_after = _enforced(before), _enforced(after)
    changed_mask = status_before != status_after
    for name in sorted(set(enforced_before.per_action) | set(enforced_after.per_action)):
        changed_mask |= enforced_before.has(name) != enforced_after.has(name)
    rows = _ordered(np.flatnonzero(changed_mask), status_before, status_after)
    changed = _changed_table(before, after, rows, status_before, status_after)
    explained = _explain(new, baseline, before, after, rows[:explain_limit])
    return ImpactReport(
        new=PackRef.of(new),
        baseline=PackRef.of(baseline),
        as_of=as_of_label(instant),
        population=population.origin,
        sellers=after.num_rows,
        changes=tuple(diff_packs(baseline, new)),
        matrix=tuple(tuple(int(n) for n in row) for row in grid),
        rules=_rule_counts(baseline, new, before, after),
        actions=_action_counts(enforced_before, enforced_after),
        changed=changed,
        explained=explained,
        thresholds=_thresholds(baseline, new, population.tables[0]),
        rejects=population.rejects,
    )


# ---------------------------------------------------------------------------
# Evaluation and columns


def _decide(
    pack: CompiledPack, facts: pa.Table, as_of: datetime, store: DecisionStore | None
) -> pa.Table:
    batches = list(
        decide_batches(
            pack,
            facts.to_batches(max_chunksize=131_072),
            as_of=as_of,
            store=store,
            explain=ExplainLevel.SUMMARY,
            exemptions=(),
        )
    )
    if not batches:
        return decision_schema(pack, facts.schema).empty_table()
    return pa.Table.from_batches(batches)


def _status_codes(table: pa.Table) -> np.ndarray:
    """Status codes (indices into STATUS_LABELS) of every row."""
    if table.num_rows == 0:
        return np.zeros(0, np.int8)
    column = table.column("status").combine_chunks()
    # Every batch's dictionary is STATUS_LABELS (decision_schema), so indices are codes.
    return np.asarray(column.indices.to_numpy(zero_copy_only=False), np.int8)


@dataclass(frozen=True, slots=True)
class _Enforced:
    """Per action, the rows that carry it enforced; per (rule, action), how many rows."""

    rows: int
    per_action: dict[str, np.ndarray]  # action -> boolean mask over rows
    per_rule: dict[tuple[str, str], int]

    def has(self, action: str) -> np.ndarray:
        return self.per_action.get(action, np.zeros(self.rows, np.bool_))


def _enforced(table: pa.Table) -> _Enforced:
    n = table.num_rows
    if n == 0:
        return _Enforced(0, {}, {})
    actions = table.column("actions").combine_chunks()
    parents = pc.list_parent_indices(actions).to_numpy()
    items = pc.list_flatten(actions)
    keep = items.field("enforced").to_numpy(zero_copy_only=False).astype(np.bool_)
    enforced = pa.table(
        {
            "rule": items.field("rule").dictionary_decode(),
            "action": items.field("action").dictionary_decode(),
        }
    ).filter(pa.array(keep))
    per_rule = {
        (str(row["rule"]), str(row["action"])): int(row["count_all"])
        for row in enforced.group_by(["rule", "action"]).aggregate([([], "count_all")]).to_pylist()
    }
    names = items.field("action").dictionary_decode().to_numpy(zero_copy_only=False)
    per_action: dict[str, np.ndarray] = {}
    for name in sorted({action for _, action in per_rule}):
        mask = np.zeros(n, np.bool_)
        mask[parents[keep & (names == name)]] = True
        per_action[name] = mask
    return _Enforced(n, per_action, per_rule)


def _ordered(rows: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Changed rows, the most serious first: worst new status, then the biggest step up."""
    if rows.size == 0:
        return rows
    key = np.lexsort((rows, -(after[rows].astype(np.int16) - before[rows]), -after[rows]))
    return rows[key]


def _changed_table(
    before: pa.Table,
    after: pa.Table,
    rows: np.ndarray,
    status_before: np.ndarray,
    status_after: np.ndarray,
) -> pa.Table:
    taken = pa.array(rows, pa.int64())
    labels = np.asarray(STATUS_LABELS, dtype=object)
    return pa.table(
        {
            "seller_id": after.column("seller_id").take(taken),
            "status_before": pa.array(labels[status_before[rows]].tolist(), pa.string()),
            "status_after": pa.array(labels[status_after[rows]].tolist(), pa.string()),
            "actions_before": _enforced_names(before, taken),
            "actions_after": _enforced_names(after, taken),
        }
    )


def _enforced_names(table: pa.Table, rows: pa.Array) -> pa.Array:
    """Each row's enforced action names, in the decision's order (most severe first)."""
    actions = table.column("actions").take(rows).combine_chunks()
    items = pc.list_flatten(actions)
    parents = pc.list_parent_indices(actions).to_numpy()
    keep = items.field("enforced").to_numpy(zero_copy_only=False).astype(np.bool_)
    names = items.field("action").dictionary_decode().filter(pa.array(keep))
    offsets = np.zeros(len(rows) + 1, np.int32)
    np.cumsum(np.bincount(parents[keep], minlength=len(rows)), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), names.cast(pa.string()))


def _rule_counts(
    baseline: CompiledPack, new: CompiledPack, before: pa.Table, after: pa.Table
) -> tuple[RuleCount, ...]:
    old_counts = _outcomes(baseline, before)
    new_counts = _outcomes(new, after)
    ids = [r.id for r in baseline.rules] + [r.id for r in new.rules if r.id not in old_counts]
    out = []
    for rule in ids:
        old, now = old_counts.get(rule), new_counts.get(rule)
        out.append(
            RuleCount(
                rule,
                None if old is None else old.get(Outcome.MATCHED.value, 0),
                None if now is None else now.get(Outcome.MATCHED.value, 0),
                None if old is None else old.get(Outcome.NOT_ASSESSED.value, 0),
                None if now is None else now.get(Outcome.NOT_ASSESSED.value, 0),
            )
        )
    return tuple(out)


def _outcomes(pack: CompiledPack, table: pa.Table) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for rule in pack.rules:
        counts: dict[str, int] = {}
        # Counted on the dictionary codes, chunk by chunk: nothing is decoded per row.
        for chunk in table.column(f"rule:{rule.id}.outcome").chunks:
            codes = chunk.indices.drop_null().to_numpy()
            names = chunk.dictionary.to_pylist()
            for name, count in zip(names, np.bincount(codes, minlength=len(names)), strict=True):
                if count:
                    counts[str(name)] = counts.get(str(name), 0) + int(count)
        out[rule.id] = counts
    return out


def _action_counts(before: _Enforced, after: _Enforced) -> tuple[ActionCount, ...]:
    pairs = sorted(set(before.per_rule) | set(after.per_rule), key=lambda p: (p[1], p[0]))
    out = [
        ActionCount(
            action,
            rule,
            before.per_rule.get((rule, action), 0),
            after.per_rule.get((rule, action), 0),
        )
        for rule, action in pairs
    ]
    for action in sorted(set(before.per_action) | set(after.per_action)):
        out.append(
            ActionCount(action, None, int(before.has(action).sum()), int(after.has(action).sum()))
        )
    return tuple(out)


# ---------------------------------------------------------------------------
# Explanations of the changed sellers


def _explain(
    new: CompiledPack,
    baseline: CompiledPack,
    before: pa.Table,
    after: pa.Table,
    rows: np.ndarray,
) -> tuple[ChangedSeller, ...]:
    if rows.size == 0:
        return ()
    taken = pa.array(rows, pa.int64())
    old = decisions_from_batch(before.take(taken), baseline)
    now = decisions_from_batch(after.take(taken), new)
    return tuple(
        ChangedSeller(a.seller_id, _side(b, baseline), _side(a, new))
        for b, a in zip(old, now, strict=True)
    )


def _side(decision: Decision, pack: CompiledPack) -> Side:
    actions: tuple[dict[str, object], ...] = tuple(
        {"action": item.action, "rule": item.rule, "explanation": item.explanation}
        for item in decision.enforced_actions
    )
    reasons: list[dict[str, object]] = []
    for result in decision.rules:
        if result.outcome is not Outcome.MATCHED:
            continue
        distance = None
        if result.distance is not None:
            use = pack.metric(result.metric) if result.metric else None
            unit = "message" if use and use.metric == "message_response_rate" else "order"
            distance = describe_distance(result.distance, unit=unit)
        reasons.append(
            {"rule": result.rule, "explanation": result.explanation, "distance": distance}
        )
    return Side(decision.status.label, actions, tuple(reasons))


# ---------------------------------------------------------------------------
# Thresholds the new pack moves


def moved_thresholds(
    baseline: CompiledPack, new: CompiledPack
) -> Iterator[tuple[str, Compare, Compare]]:
    """(rule id, old leaf, new leaf) for every comparison whose threshold alone moved.

    Leaves are paired in order within a rule present in both packs, when
    they compare the same metric field the same way.
    """
    old_rules = {r.id: r for r in baseline.rules}
    for rule in new.rules:
        was = old_rules.get(rule.id)
        if was is None:
            continue
        for old_leaf, new_leaf in zip(leaves(was.when), leaves(rule.when), strict=False):
            same = (old_leaf.metric, old_leaf.field, old_leaf.op) == (
                new_leaf.metric,
                new_leaf.field,
                new_leaf.op,
            )
            if same and old_leaf.threshold != new_leaf.threshold:
                yield rule.id, old_leaf, new_leaf


def _thresholds(
    baseline: CompiledPack, new: CompiledPack, facts: pa.Table
) -> tuple[ThresholdChange, ...]:
    out = []
    for rule, old_leaf, new_leaf in moved_thresholds(baseline, new):
        fact = new_leaf.metric if new_leaf.field is Field.VALUE else f"{new_leaf.metric}__num"
        if fact in facts.column_names:
            column = facts.column(fact).cast(pa.float64())
            values = column.to_numpy()  # nulls become NaN
        else:
            values = np.zeros(0, np.float64)
        finite = values[np.isfinite(values)]
        use = new.metric(new_leaf.metric)
        percent = new_leaf.field is Field.VALUE and use.kind in _PERCENT_KINDS
        low, high = sorted((old_leaf.threshold, new_leaf.threshold))
        between = int(((finite >= low) & (finite <= high)).sum())
        edges, counts = _histogram(finite, low, high)
        out.append(
            ThresholdChange(
                rule=rule,
                metric=new_leaf.metric,
                fact=fact,
                op=new_leaf.op.value,
                old=old_leaf.threshold,
                new=new_leaf.threshold,
                percent=percent,
                measured=int(finite.size),
                between=between,
                edges=edges,
                counts=counts,
            )
        )
    return tuple(out)


def _histogram(
    values: np.ndarray, low: float, high: float
) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """40 bins over the values around the two thresholds ``low`` <= ``high``.

    The range runs from the smallest value (or ``low``) to twice ``high`` or
    the 90th percentile, whichever is larger, but no further than the 99.5th
    percentile and never short of ``high``: the bins stay fine where the
    thresholds are, and the long tail of a rate is gathered in the last bin.
    """
    if values.size == 0:
        return (), ()
    start = min(float(values.min()), low)
    tail = float(np.quantile(values, 0.995))
    stop = max(min(max(2 * high, float(np.quantile(values, 0.9))), tail), high)
    if stop <= start:
        stop = start + (abs(start) or 1.0) * 0.1
    stop += (stop - start) / _BINS  # the thresholds never sit on the last edge
    counts, edges = np.histogram(np.clip(values, start, stop), bins=_BINS, range=(start, stop))
    return tuple(float(e) for e in edges), tuple(int(c) for c in counts)
