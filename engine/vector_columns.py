"""Per-rule and per-action columns of the bulk decision path.

:func:`rule_block` gives, for one rule over a batch, the outcome, the
not-assessed reason, the escalation streak and the explanation (rendered
for firing rows only, :mod:`.vector_texts`); :class:`Slot` is one (rule or
grade, action) pair a decision can carry, which
:mod:`sellerpolicy.engine.vector_decisions` combines into action lists.
Scores are :mod:`.vector_scores`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sellerpolicy.rules.model import CompiledPack, Mode, Rule

from .decision import Outcome
from .evaluate import ExplainLevel, HistoryLookup, RulePlan, ladder_actions
from .explain import format_count
from .vector_kernels import Columns, Floats, Mask, condition_mask, masked
from .vector_texts import describe_rows, render_fired

_OUTCOMES = tuple(o.value for o in Outcome)


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
    values: Floats
    texts: Mapping[int, str]  # the explanation an action item carries, by row


def sparse_text(n: int, texts: Mapping[int, str]) -> pa.DictionaryArray:
    """A dictionary-encoded string column, null except at ``texts``' rows."""
    indices = np.full(n, -1, np.int32)
    rows = np.fromiter(texts.keys(), dtype=np.int64, count=len(texts))
    indices[rows] = np.arange(rows.size, dtype=np.int32)
    return coded_text(indices, list(texts.values()))


def coded_text(indices: npt.NDArray[np.int32], values: list[str]) -> pa.DictionaryArray:
    """A dictionary-encoded string column: ``values[i]`` at each row, null where ``i < 0``."""
    mask = indices < 0
    return pa.DictionaryArray.from_arrays(
        masked(indices, ~mask, pa.int32()),
        pa.array(values, pa.string()),
    )


@dataclass(frozen=True, slots=True)
class RuleBlock:
    """The columns of one rule over a batch and what the actions need from it."""

    plan: RulePlan
    array: pa.StructArray
    chosen: tuple[tuple[tuple[str, ...], Mask], ...]  # actions taken, and where
    values: Floats
    texts: Mapping[int, str]

    @staticmethod
    def arrow_type(rule: Rule) -> pa.StructType:
        """The struct type of a ``rule:<id>`` column (``streak`` only for a laddered rule)."""
        text = pa.dictionary(pa.int32(), pa.string())
        laddered = rule.escalation is not None
        streak = [pa.field("streak", pa.int32(), nullable=False)] if laddered else []
        return pa.struct(
            [
                pa.field("outcome", pa.dictionary(pa.int8(), pa.string()), nullable=False),
                pa.field("reason", text),
                *streak,
                pa.field("explanation", text),
            ]
        )

    def slots(self, pack: CompiledPack) -> list[Slot]:
        """One slot per action this rule takes somewhere in the batch."""
        rule, n = self.plan.rule, len(self.values)
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
                values=self.values,
                texts=self.texts,
            )
            for action, mask in present.items()
        ]


def rule_block(
    plan: RulePlan,
    columns: Columns,
    *,
    sellers: pa.Array,
    as_of: datetime,
    history: HistoryLookup | None,
    level: ExplainLevel,
) -> RuleBlock:
    """Outcome, reason, streak and explanation of one rule for every row.

    The distance to compliance is not a column: it is a function of the
    counts in the facts (:mod:`.vector_read` derives it).
    """
    n, rule = columns.length, plan.rule
    code, reasons = _not_assessed(plan, columns)
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
    texts: dict[int, str] = {}
    if level is not ExplainLevel.NONE:
        texts = render_fired(plan, fired_rows, columns, sellers, as_of)
        if level is ExplainLevel.FULL:
            quiet = np.flatnonzero(assessed & ~fired)
            texts.update(
                zip(quiet.tolist(), describe_rows(plan, quiet, columns, as_of), strict=True)
            )
    # 0 matched, 1 not matched, 2 not assessed (the order of _OUTCOMES); fired implies assessed
    outcome = (~assessed).view(np.int8) + np.int8(1) - fired.view(np.int8)
    array = pa.StructArray.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array(outcome), pa.array(list(_OUTCOMES))),
            coded_text(code, reasons),
            *([pa.array(streak)] if rule.escalation is not None else []),
            sparse_text(n, dict(sorted(texts.items()))),
        ],
        fields=list(RuleBlock.arrow_type(rule)),
    )
    values = columns.floats(plan.value_fact)[0]
    return RuleBlock(plan, array, tuple(chosen.items()), values, texts)


def _not_assessed(plan: RulePlan, columns: Columns) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Per row, the index of the not-assessed reason (-1: assessable) and the reasons.

    Branch-free arithmetic on whole columns (a row still pending has code -1,
    so marking it adds ``k + 1``), no boolean gathers or masked writes: the
    rows not assessed are a large, scattered share of a batch (small sellers
    under ``min_orders``) and masked writes cost several times more.
    """
    code = np.full(columns.length, -1, np.int32)
    reasons: list[str] = []
    pending = np.ones(columns.length, np.bool_)

    def mark(where: Mask, text: str) -> None:
        if where.any():
            code[:] += np.multiply(where, len(reasons) + 1, dtype=np.int32)
            reasons.append(text)
            pending[:] &= ~where

    for name in plan.reads:
        if not columns.complete(name):
            mark(pending & ~columns.present(name), f"metric {name} is null: not enough data")
    minimum = plan.rule.min_orders
    if minimum is None:
        return code, reasons
    for name, unit in plan.volumes:
        volume, ok = columns.raw(name)
        if not columns.complete(name):
            mark(pending & ~ok, f"metric {name} is null: cannot check min_orders {minimum:,}")
        low = pending & ok & (volume < minimum)
        if not low.any():
            continue
        if volume.dtype.kind == "i" and volume.min() >= 0:  # counting, not sorting
            clipped = np.minimum(volume, minimum)
            # rows not low count under the value `minimum`, which no reason uses
            seen = np.bincount(minimum + low * (clipped - minimum), minlength=minimum + 1)
            distinct = np.flatnonzero(seen[:minimum])
            lookup = np.zeros(minimum + 1, np.int32)
            lookup[distinct] = np.arange(distinct.size, dtype=np.int32) + len(reasons) + 1
            code += np.multiply(low, lookup[clipped], dtype=np.int32)
        else:
            distinct, inverse = np.unique(volume[low], return_inverse=True)
            code[low] = len(reasons) + inverse.astype(np.int32)
        reasons += [
            f"only {format_count(v)} {unit}, rule needs {minimum:,}" for v in distinct.tolist()
        ]
        pending &= ~low
    return code, reasons
