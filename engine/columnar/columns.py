"""Per-rule and per-action columns of the bulk decision path.

:func:`rule_block` gives, for one rule over a batch, the outcome, the
not-assessed check that failed and the escalation streak, as small integer
codes with static dictionaries (the same in every batch of a run; texts are
rendered on read, :mod:`.vector_read`); :class:`Slot` is one (rule or
grade, action) pair a decision can carry, which
:mod:`sellerpolicy.engine.columnar.decisions` combines into action lists.
Scores are :mod:`.vector_scores`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sellerpolicy.engine.evaluation.decision import Outcome
from sellerpolicy.engine.evaluation.evaluate import HistoryLookup, ladder_actions
from sellerpolicy.engine.evaluation.plans import RulePlan
from sellerpolicy.rules.model import CompiledPack, Mode, Rule

from .kernels import Columns, Mask, condition_mask, masked

_OUTCOME_LABELS = pa.array([o.value for o in Outcome], pa.string())


@dataclass(frozen=True, slots=True)
class Slot:
    """One (rule or grade, action) pair a decision can carry, and where it does."""

    owner: str
    order: int  # the owner's position in the pack (rules, then scores)
    action: str
    severity: int
    status: int
    metric: str
    threshold: float | None
    enforced: bool  # before exemptions: false for shadow rules and shadow packs
    present: Mask


def sparse_text(n: int, texts: Mapping[int, str]) -> pa.DictionaryArray:
    """A dictionary-encoded string column, null except at ``texts``' rows."""
    indices = np.full(n, -1, np.int32)
    rows = np.fromiter(texts.keys(), dtype=np.int64, count=len(texts))
    indices[rows] = np.arange(rows.size, dtype=np.int32)
    return coded_text(indices, list(texts.values()))


def coded_text(indices: npt.NDArray[np.int32], values: list[str]) -> pa.DictionaryArray:
    """A dictionary-encoded string column: ``values[i]`` at each row, null where ``i < 0``.

    Null rows hold index 0, not -1 (valid Arrow either way, but Polars refuses
    a negative index even under a null).
    """
    mask = indices < 0
    return pa.DictionaryArray.from_arrays(
        masked(np.maximum(indices, 0), ~mask, pa.int32()),
        pa.array(values, pa.string()),
        safe=False,
    )


@dataclass(frozen=True, slots=True)
class RuleBlock:
    """The columns of one rule over a batch and what the actions need from it."""

    plan: RulePlan
    array: pa.StructArray
    chosen: tuple[tuple[tuple[str, ...], Mask], ...]  # actions taken, and where

    @staticmethod
    def arrow_type(rule: Rule) -> pa.StructType:
        """The struct type of a ``rule:<id>`` column (``streak`` only for a laddered rule)."""
        code = pa.dictionary(pa.int8(), pa.string())
        laddered = rule.escalation is not None
        streak = [pa.field("streak", pa.int32(), nullable=False)] if laddered else []
        return pa.struct(
            [
                pa.field("outcome", code, nullable=False),
                pa.field("reason", code),
                *streak,
            ]
        )

    def slots(self, pack: CompiledPack) -> list[Slot]:
        """One slot per action this rule takes somewhere in the batch."""
        rule, n = self.plan.rule, len(self.array)
        present: dict[str, Mask] = {}
        for actions, where in self.chosen:
            for action in actions:
                present[action] = present.get(action, np.zeros(n, np.bool_)) | where
        return [
            Slot(
                owner=rule.id,
                order=pack.rules.index(rule),
                action=action,
                severity=int(rule.severity),
                status=int(pack.status_map[action]),
                metric=self.plan.leaf.metric,
                threshold=self.plan.leaf.threshold,
                enforced=self.plan.mode is Mode.ENFORCE,
                present=mask,
            )
            for action, mask in present.items()
        ]


def reason_labels(plan: RulePlan) -> list[str]:
    """The checks that can leave a rule not assessed, in the order they run.

    They are the static dictionary of a ``rule:<id>.reason`` column; the
    exact reason (with the seller's volume) is worded on read by
    :func:`~sellerpolicy.engine.evaluation.plans.not_assessed_reason`.
    """
    labels = [f"metric {name} is null: not enough data" for name in plan.reads]
    minimum = plan.rule.min_orders
    if minimum is not None:
        for name, unit in plan.volumes:
            labels.append(f"metric {name} is null: cannot check min_orders {minimum:,}")
            labels.append(f"{unit} ({name}) under min_orders {minimum:,}")
    return labels


def rule_block(
    plan: RulePlan,
    columns: Columns,
    *,
    sellers: pa.Array,
    as_of: datetime,
    history: HistoryLookup | None,
) -> RuleBlock:
    """Outcome, not-assessed reason and streak of one rule for every row.

    Texts are not columns: the explanation, the reason's wording and the
    distance to compliance are functions of the facts and the pack, rendered
    on read (:mod:`.vector_read`) at the explain level the batch records.
    """
    n, rule = columns.length, plan.rule
    code = _not_assessed(plan, columns)
    assessed = code < 0
    fired = assessed & condition_mask(rule.when, columns)
    streak = np.zeros(n, np.int32)
    fired_rows = np.flatnonzero(fired)
    if fired_rows.size and rule.escalation is not None and history is not None:
        ids = sellers.take(pa.array(fired_rows)).to_pylist()
        streak[fired_rows] = [history.streak(s, rule.id, as_of.date()) for s in ids]
    chosen: dict[tuple[str, ...], Mask] = {}
    for value in np.unique(streak[fired_rows]).tolist():
        actions = ladder_actions(rule, value + 1)
        where = fired & (streak == value)
        chosen[actions] = chosen[actions] | where if actions in chosen else where
    # 0 matched, 1 not matched, 2 not assessed (the order of _OUTCOMES); fired implies assessed
    outcome = (~assessed).view(np.int8) + np.int8(1) - fired.view(np.int8)
    array = pa.StructArray.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array(outcome), _OUTCOME_LABELS, safe=False),
            pa.DictionaryArray.from_arrays(
                masked(np.maximum(code, 0), ~assessed, pa.int8()),  # 0, not -1, under nulls
                pa.array(reason_labels(plan), pa.string()),
                safe=False,
            ),
            *([pa.array(streak)] if rule.escalation is not None else []),
        ],
        fields=list(RuleBlock.arrow_type(rule)),
    )
    return RuleBlock(plan, array, tuple(chosen.items()))


def _not_assessed(plan: RulePlan, columns: Columns) -> npt.NDArray[np.int8]:
    """Per row, the index of the first failing check of :func:`reason_labels`; -1: assessable.

    Checks are applied last to first, each as ``code += (k - code) * failed``
    (int8 arithmetic over whole columns, ~30x faster than masked writes; a
    null check on a column without nulls is skipped), so the first failing
    check wins, as in :func:`~sellerpolicy.engine.evaluation.plans.not_assessed_reason`.
    """
    checks: list[Mask | None] = [
        None if columns.complete(name) else ~columns.present(name) for name in plan.reads
    ]
    minimum = plan.rule.min_orders
    if minimum is not None:
        for name, _ in plan.volumes:
            volume, ok = columns.raw(name)
            complete = columns.complete(name)
            checks.append(None if complete else ~ok)
            low = volume < minimum
            checks.append(low if complete else ok & low)
    code = np.full(columns.length, -1, np.int8)
    step = np.empty_like(code)
    for k in range(len(checks) - 1, -1, -1):
        failed = checks[k]
        if failed is not None:
            np.subtract(np.int8(k), code, out=step)
            step *= failed.view(np.int8)
            code += step
    return code
