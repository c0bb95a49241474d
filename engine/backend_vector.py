"""The vectorized back end: rule conditions as NumPy column expressions.

Every condition of a :class:`~sellerpolicy.rules.model.CompiledPack` is
compiled into boolean array expressions evaluated over all sellers of a
batch at once: a leaf reads its fact (``<name>`` for ``value`` leaves,
``<name>__num`` for ``count`` leaves) as a float64 column plus a validity
mask; ``all`` / ``any`` / ``not`` are element-wise ``&`` / ``|`` / ``~``.

Nulls, exactly as the shared evaluation sees them: a leaf on a null or absent
fact is false, and a rule reading a null fact never matches, whatever its
``not`` nodes say (the durable back end behaves the same; the plain-Python
one may answer either way because :func:`~sellerpolicy.engine.evaluate.evaluate`
masks such rules as not assessed). Comparisons are IEEE-754 double
comparisons, as in Python: an integer fact is compared as a double (exact
below 2**53, the limit the durable back end enforces too).

:class:`VectorBackend` keeps the :class:`~sellerpolicy.engine.backend.Backend`
protocol (sellers as :class:`SellerFacts`). The bulk columnar path that skips
per-seller objects entirely is :mod:`sellerpolicy.engine.vector_decisions`;
this module gives it the per-rule and per-score columns of a batch
(:func:`rule_block`, :func:`score_block`): outcomes, not-assessed reasons,
streaks, explanations (rendered for firing rows only, with the shared
functions of :mod:`~sellerpolicy.engine.explain` or a field-by-field
equivalent checked by the differential test) and distances to compliance.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sellerpolicy.rules.model import (
    AllOf,
    AnyOf,
    Compare,
    CompiledPack,
    Condition,
    Mode,
    Op,
    Score,
)

from .backend_python import fact_name
from .decision import DimensionResult, Outcome, RuleResult, ScoreResult
from .evaluate import ExplainLevel, HistoryLookup, RulePlan, ladder_actions
from .explain import (
    describe,
    distance,
    explain_score,
    format_count,
    format_number,
    render_template,
    template_fields,
    window_dates,
    window_days,
)
from .facts import Number, SellerFacts, as_of_label

Dates = tuple[date, date]
_OUTCOMES = tuple(o.value for o in Outcome)

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

_OPS: dict[Op, Callable[[Floats, float], Mask]] = {
    Op.GT: np.greater,
    Op.GTE: np.greater_equal,
    Op.LT: np.less,
    Op.LTE: np.less_equal,
    Op.EQ: np.equal,
}


class Columns:
    """Numeric fact columns of one batch, read once each: values and validity.

    Built from an Arrow table / record batch (:meth:`from_arrow`) or from
    :class:`SellerFacts` (:meth:`from_facts`). An absent column is all null.
    Values are never modified; nulls read as 0 under a false validity mask.
    """

    def __init__(
        self, length: int, reader: Callable[[str], tuple[np.ndarray, Mask] | None]
    ) -> None:
        self.length = length
        self._reader = reader
        self._cache: dict[str, tuple[np.ndarray, Mask]] = {}

    @classmethod
    def from_arrow(cls, data: pa.RecordBatch | pa.Table) -> Columns:
        """Columns over an Arrow table or record batch (zero-copy where Arrow allows)."""
        names = set(data.schema.names)

        def read(name: str) -> tuple[np.ndarray, Mask] | None:
            if name not in names:
                return None
            column = data.column(name)
            array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
            return arrow_numbers(array, name)

        return cls(data.num_rows, read)

    @classmethod
    def from_facts(cls, facts: Sequence[SellerFacts]) -> Columns:
        """Columns over per-seller facts (one pass over the sellers per fact read)."""

        def read(name: str) -> tuple[np.ndarray, Mask] | None:
            raw = [f.values.get(name) for f in facts]
            present = np.fromiter((v is not None for v in raw), dtype=np.bool_, count=len(raw))
            values = np.fromiter(
                (0.0 if v is None else float(v) for v in raw), dtype=np.float64, count=len(raw)
            )
            return values, present

        return cls(len(facts), read)

    def raw(self, name: str) -> tuple[np.ndarray, Mask]:
        """The column in its own dtype (int64 or float64) and its validity mask."""
        found = self._cache.get(name)
        if found is None:
            read = self._reader(name)
            if read is None:
                read = (np.zeros(self.length, dtype=np.float64), np.zeros(self.length, np.bool_))
            found = self._cache[name] = read
        return found

    def floats(self, name: str) -> tuple[Floats, Mask]:
        """The column as float64 (what comparisons use) and its validity mask."""
        values, present = self.raw(name)
        return values.astype(np.float64, copy=False), present

    def present(self, name: str) -> Mask:
        """Where the fact is not null."""
        return self.raw(name)[1]


def arrow_numbers(array: pa.Array, name: str) -> tuple[np.ndarray, Mask]:
    """An Arrow numeric column as (int64 or float64 values, validity); ValueError otherwise."""
    kind = array.type
    if pa.types.is_null(kind):
        return np.zeros(len(array), np.float64), np.zeros(len(array), np.bool_)
    if pa.types.is_integer(kind):
        dtype: type = np.int64
    elif pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        dtype = np.float64
    else:
        raise ValueError(f"fact {name!r} is of type {kind}, not a number")
    present = (
        np.ones(len(array), np.bool_)
        if array.null_count == 0
        else np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    )
    filled = array.fill_null(0) if array.null_count else array
    values = np.asarray(filled.cast(pa.from_numpy_dtype(dtype)).to_numpy(zero_copy_only=False))
    return values, present


def condition_mask(cond: Condition, columns: Columns) -> Mask:
    """Where a condition holds; a leaf on a null fact is false, ``not`` negates."""
    if isinstance(cond, Compare):
        values, present = columns.floats(fact_name(cond))
        return present & _OPS[cond.op](values, cond.threshold)
    if isinstance(cond, AllOf):
        result = np.ones(columns.length, np.bool_)
        for child in cond.children:
            result &= condition_mask(child, columns)
        return result
    if isinstance(cond, AnyOf):
        result = np.zeros(columns.length, np.bool_)
        for child in cond.children:
            result |= condition_mask(child, columns)
        return result
    return ~condition_mask(cond.child, columns)


def reads_present(cond: Condition, columns: Columns) -> Mask:
    """Where every fact the condition reads is non-null."""
    result = np.ones(columns.length, np.bool_)
    for name in _reads(cond):
        result &= columns.present(name)
    return result


def rule_masks(pack: CompiledPack, columns: Columns) -> npt.NDArray[np.bool_]:
    """A (sellers x rules) matrix: the rule's condition holds on non-null facts."""
    out = np.zeros((columns.length, len(pack.rules)), np.bool_)
    for j, rule in enumerate(pack.rules):
        out[:, j] = condition_mask(rule.when, columns) & reads_present(rule.when, columns)
    return out


def _reads(cond: Condition) -> tuple[str, ...]:
    if isinstance(cond, Compare):
        return (fact_name(cond),)
    if isinstance(cond, AllOf | AnyOf):
        return tuple(dict.fromkeys(n for c in cond.children for n in _reads(c)))
    return _reads(cond.child)


class VectorBackend:
    """Evaluate every rule condition over all sellers of a batch as array expressions."""

    name = "vector"

    def match(self, pack: CompiledPack, facts: Sequence[SellerFacts]) -> list[frozenset[str]]:
        """For each seller, in order, the ids of rules whose condition is true."""
        if not facts:
            return []
        matrix = rule_masks(pack, Columns.from_facts(facts))
        ids = [rule.id for rule in pack.rules]
        empty: frozenset[str] = frozenset()
        out = [empty] * len(facts)
        rows, cols = np.nonzero(matrix)
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            out[row] = out[row] | {ids[col]}
        return out


# ---------------------------------------------------------------------------
# Per-rule and per-score columns of the bulk path (engine/vector_decisions.py)


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


def _sparse_text(n: int, texts: Mapping[int, str]) -> pa.DictionaryArray:
    """A dictionary-encoded string column, null except at ``texts``' rows."""
    indices = np.full(n, -1, np.int32)
    rows = np.fromiter(texts.keys(), dtype=np.int64, count=len(texts))
    indices[rows] = np.arange(rows.size, dtype=np.int32)
    return _coded_text(indices, list(texts.values()))


def masked(values: npt.NDArray[Any], valid: Mask, kind: pa.DataType) -> pa.Array:
    """A fixed-width Arrow array from NumPy values and a validity mask, without copies per value.

    (``pa.array(values, mask=...)`` converts element by element: ~100x slower.)
    """
    data = np.ascontiguousarray(values, dtype=kind.to_pandas_dtype())
    bits = np.packbits(valid, bitorder="little")
    nulls = int(valid.size - np.count_nonzero(valid))
    return pa.Array.from_buffers(
        kind, data.size, [pa.py_buffer(bits), pa.py_buffer(data)], null_count=nulls
    )


def _coded_text(indices: npt.NDArray[np.int32], values: list[str]) -> pa.DictionaryArray:
    mask = indices < 0
    return pa.DictionaryArray.from_arrays(
        masked(indices, ~mask, pa.int32()),
        pa.array(values, pa.string()),
    )


#: The distance fields of a rule: whether there is one, then its numbers
#: (``clears_on`` needs order dates, which the bulk path does not look up).
_DISTANCE = (
    ("distance", pa.bool_()),
    ("headroom", pa.int64()),
    ("excess", pa.int64()),
    ("good_needed", pa.int64()),
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
    def arrow_type(text: pa.DataType) -> pa.DataType:
        """The struct type of a ``rule:<id>`` column."""
        return pa.struct(
            [
                ("outcome", pa.dictionary(pa.int8(), pa.string())),
                ("reason", text),
                ("streak", pa.int32()),
                ("explanation", text),
                *_DISTANCE,
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
    """Outcome, reason, streak, explanation and distance of one rule for every row."""
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
    distance: list[pa.Array] | None = None
    if level is not ExplainLevel.NONE:
        texts = render_fired(plan, fired_rows, columns, sellers, as_of)
        if level is ExplainLevel.FULL:
            quiet = np.flatnonzero(assessed & ~fired)
            texts.update(
                zip(quiet.tolist(), describe_rows(plan, quiet, columns, as_of), strict=True)
            )
        if plan.single and plan.rate_value:
            distance = rule_distances(plan, columns, assessed, fired)
    outcome = np.where(assessed, np.where(fired, 0, 1), 2).astype(np.int8)
    array = pa.StructArray.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array(outcome), pa.array(list(_OUTCOMES))),
            _coded_text(code, reasons),
            pa.array(streak),
            _sparse_text(n, dict(sorted(texts.items()))),
            *(distance or _no_distance(n)),
        ],
        fields=list(RuleBlock.arrow_type(pa.dictionary(pa.int32(), pa.string()))),
    )
    values = columns.floats(plan.value_fact)[0]
    return RuleBlock(plan, array, tuple(chosen.items()), values, texts)


def _not_assessed(plan: RulePlan, columns: Columns) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Per row, the index of the not-assessed reason (-1: assessable) and the reasons."""
    code = np.full(columns.length, -1, np.int32)
    reasons: list[str] = []
    pending = np.ones(columns.length, np.bool_)

    def mark(where: Mask, text: str) -> None:
        nonlocal pending
        if where.any():
            code[where] = len(reasons)
            reasons.append(text)
            pending &= ~where

    for name in plan.reads:
        mark(pending & ~columns.present(name), f"metric {name} is null: not enough data")
    minimum = plan.rule.min_orders
    if minimum is None:
        return code, reasons
    for name, unit in plan.volumes:
        volume, ok = columns.raw(name)
        mark(pending & ~ok, f"metric {name} is null: cannot check min_orders {minimum:,}")
        low = pending & ok & (volume < minimum)
        if low.any():
            found = volume[low]
            if found.dtype.kind == "i" and found.min() >= 0:  # counting, not sorting
                distinct = np.flatnonzero(np.bincount(found, minlength=minimum))
                lookup = np.zeros(minimum, np.int32)
                lookup[distinct] = np.arange(distinct.size, dtype=np.int32)
                inverse = lookup[found]
            else:
                distinct, inverse = np.unique(found, return_inverse=True)
            code[low] = len(reasons) + inverse.astype(np.int32)
            reasons += [
                f"only {format_count(v)} {unit}, rule needs {minimum:,}" for v in distinct.tolist()
            ]
            pending &= ~low
    return code, reasons


def _row_result(
    plan: RulePlan, row: int, columns: Columns, fired: bool, window: Dates
) -> RuleResult:
    """The shared :class:`RuleResult` of one row (the exact, slow path)."""

    def get(name: str | None) -> Number | None:
        if name is None:
            return None
        values, present = columns.raw(name)
        return values[row].item() if present[row] else None

    counts = plan.count_facts
    return RuleResult(
        rule=plan.rule.id,
        outcome=Outcome.MATCHED if fired else Outcome.NOT_MATCHED,
        mode=plan.mode,
        metric=plan.leaf.metric,
        op=plan.leaf.op,
        value=get(plan.value_fact),
        threshold=plan.leaf.threshold,
        num=get(counts[0] if counts else None),
        den=get(counts[1] if counts else None),
        window_start=window[0],
        window_end=window[1],
    )


def _column(columns: Columns, name: str | None, rows: npt.NDArray[np.int64]) -> list[Number | None]:
    if name is None:
        return [None] * rows.size
    values, present = columns.raw(name)
    picked: list[Number | None] = values[rows].tolist()
    if not present[rows].all():
        picked = [v if ok else None for v, ok in zip(picked, present[rows].tolist(), strict=True)]
    return picked


def render_fired(
    plan: RulePlan,
    rows: npt.NDArray[np.int64],
    columns: Columns,
    sellers: pa.Array,
    as_of: datetime,
) -> dict[int, str]:
    """The explanation of each firing row: the rule's template, else the plain sentence.

    Field by field over all rows at once when the template is plain
    (``{name}`` / ``{name:spec}``); any other template, or a field that
    cannot take its spec, goes row by row through the shared functions.
    """
    if rows.size == 0:
        return {}
    window = window_dates(plan.use, as_of)
    counts = plan.count_facts or (None, None)
    size = rows.size
    human: dict[str, tuple[Sequence[Number | None], bool]] = {
        "value": (_column(columns, plan.value_fact, rows), plan.rate_value),
        "num": (_column(columns, counts[0], rows), False),
        "den": (_column(columns, counts[1], rows), False),
        "orders": (_column(columns, "orders", rows), False),
    }
    constant: dict[str, tuple[Number | None, bool]] = {
        "threshold": (plan.leaf.threshold, plan.rate_value),
        "window_days": (window_days(plan.use), False),
    }
    text: dict[str, Sequence[str]] = {
        "metric": [plan.leaf.metric] * size,
        "window_start": [window[0].isoformat()] * size,
        "window_end": [window[1].isoformat()] * size,
        "rule": [plan.rule.id] * size,
        "title": [plan.rule.title] * size,
        "seller_id": sellers.take(pa.array(rows)).to_pylist(),
        "as_of": [as_of_label(as_of)] * size,
    }
    try:
        parts: list[Sequence[str]] = []
        for literal, name, spec, conversion in string.Formatter().parse(plan.rule.explanation):
            parts.append([literal] * size)
            if name is None:
                continue
            if conversion is not None or "{" in (spec or ""):
                raise LookupError(name)
            if name in constant:
                number, rate = constant[name]
                one = format(_must(number), spec) if spec else format_number(number, rate=rate)
                parts.append([one] * size)
            elif name in human:
                numbers, rate = human[name]
                parts.append(
                    [format(_must(v), spec) for v in numbers]
                    if spec
                    else _human_strings(numbers, rate=rate)
                )
            else:
                parts.append([format(v, spec or "") for v in text[name]])
        rendered = ["".join(p) for p in zip(*parts, strict=True)]
        return dict(zip(rows.tolist(), rendered, strict=True))
    except (LookupError, ValueError, TypeError):
        pass
    out: dict[int, str] = {}
    for row, seller in zip(rows.tolist(), text["seller_id"], strict=True):
        result = _row_result(plan, row, columns, True, window)
        fields = template_fields(
            result,
            title=plan.rule.title,
            seller_id=seller,
            as_of=as_of,
            orders=result_orders(columns, row),
            use=plan.use,
            rate=plan.rate_value,
        )
        rendered_row = render_template(plan.rule.explanation, fields)
        out[row] = (
            rendered_row if rendered_row is not None else describe(result, rate=plan.rate_value)
        )
    return out


def _human_strings(numbers: Sequence[Number | None], *, rate: bool) -> list[str]:
    """``format_number`` of each value; whole ``int`` values take a direct path with equal text."""
    if not rate and all(type(v) is int for v in numbers):
        return [f"{v:,}" for v in numbers]
    return [format_number(v, rate=rate) for v in numbers]


def _must(value: Number | None) -> Number:
    if value is None:
        raise TypeError("a null number cannot take a format spec")
    return value


def result_orders(columns: Columns, row: int) -> Number | None:
    """The ``orders`` fact of one row."""
    values, present = columns.raw("orders")
    return values[row].item() if present[row] else None


def describe_rows(
    plan: RulePlan, rows: npt.NDArray[np.int64], columns: Columns, as_of: datetime
) -> list[str]:
    """The plain sentence of each (assessed, not firing) row, for ``explain=full``."""
    window = window_dates(plan.use, as_of)
    return [
        describe(_row_result(plan, row, columns, False, window), rate=plan.rate_value)
        for row in rows.tolist()
    ]


def _no_distance(n: int) -> list[pa.Array]:
    nothing = np.zeros(n, np.bool_)
    return [pa.array(nothing)] + [masked(np.zeros(n, np.int64), nothing, pa.int64())] * 3


def rule_distances(plan: RulePlan, columns: Columns, assessed: Mask, fired: Mask) -> list[pa.Array]:
    """:func:`~sellerpolicy.engine.explain.distance` of a single-leaf rate rule, per row.

    int64 arithmetic, exact as long as no intermediate product can exceed
    2**62; otherwise each row goes through the shared Python function.
    """
    n, leaf = columns.length, plan.leaf
    if leaf.op is Op.EQ or plan.count_facts is None:
        return _no_distance(n)
    rows = assessed.copy()
    counts = []
    for name in plan.count_facts:
        values, present = columns.raw(name)
        rows &= present
        if values.dtype.kind == "f":
            rows &= np.isfinite(values) & (np.floor(values) == values)
        counts.append(values)
    rows &= counts[1] > 0
    threshold = Fraction(repr(leaf.threshold))
    p, q = threshold.numerator, threshold.denominator
    limit = max(max(float(c.max(initial=0)), -float(c.min(initial=0))) for c in counts)
    if limit * q * 4 >= 2.0**62:
        limit = max(float(np.abs(c[rows]).max(initial=0)) for c in counts)
    if limit * q * 4 >= 2.0**62:
        return _python_distances(plan, columns, rows, fired)
    quiet, loud = rows & ~fired, np.flatnonzero(rows & fired)
    num, den = counts[0].astype(np.int64), counts[1].astype(np.int64)
    if leaf.op in (Op.GT, Op.GTE):
        bad, strict = num, leaf.op is Op.GT
    else:
        bad, p, strict = den - num, q - p, leaf.op is Op.LT
    # Passing rows (most of them): whole columns, no gathering; masked afterwards.
    head, head_ok = np.zeros(n, np.int64), np.zeros(n, np.bool_)
    if p < q:
        a, b = p * den - q * bad, q - p
        head = a // b if strict else -(-a // b) - 1
        head_ok = quiet
    # Firing rows (few): gathered.
    excess, excess_ok = np.zeros(n, np.int64), np.zeros(n, np.bool_)
    good, good_ok = np.zeros(n, np.int64), np.zeros(n, np.bool_)
    a = q * bad[loud] - p * den[loud]
    if p < q and (p != 0 or strict):
        excess[loud] = -(-a // (q - p)) if strict else a // (q - p) + 1
        excess_ok[loud] = bad[loud] < den[loud]
    if p != 0:
        good[loud] = -(-a // p) if strict else a // p + 1
        good_ok[loud] = True
    return [
        pa.array(quiet | excess_ok | good_ok),
        masked(head, head_ok, pa.int64()),
        masked(excess, excess_ok, pa.int64()),
        masked(good, good_ok, pa.int64()),
    ]


def _python_distances(plan: RulePlan, columns: Columns, rows: Mask, fired: Mask) -> list[pa.Array]:
    counts = plan.count_facts
    assert counts is not None  # checked by the caller
    num, den = columns.raw(counts[0])[0], columns.raw(counts[1])[0]
    found: list[list[object]] = [[False] * columns.length]
    found += [[None] * columns.length for _ in range(3)]
    for row in np.flatnonzero(rows).tolist():
        d = distance(
            plan.leaf.op, plan.leaf.threshold, int(num[row]), int(den[row]), fired=bool(fired[row])
        )
        if d is not None:
            found[0][row] = True
            found[1][row], found[2][row], found[3][row] = d.headroom, d.excess, d.good_needed
    return [pa.array(values, kind) for values, (_, kind) in zip(found, _DISTANCE, strict=True)]


@dataclass(frozen=True, slots=True)
class ScoreBlock:
    """The columns of one score over a batch and what its grade actions need."""

    score: Score
    array: pa.StructArray
    grade: npt.NDArray[np.int32]  # index into score.grades, -1 for none
    totals: Floats
    texts: Mapping[int, str]  # first explanation line, rows whose grade has actions

    @staticmethod
    def arrow_type(score: Score) -> pa.DataType:
        """The struct type of a ``score:<id>`` column."""
        text = pa.dictionary(pa.int32(), pa.string())
        points = pa.struct([(d.id, pa.float64()) for d in score.dimensions])
        return pa.struct(
            [
                ("total", pa.float64()),
                ("grade", text),
                ("reason", text),
                ("explanation", text),
                ("points", points),
            ]
        )

    def slots(self, pack: CompiledPack, order: int) -> list[Slot]:
        """One slot per action of each grade."""
        return [
            Slot(
                owner=self.score.id,
                order=order,
                action=action,
                severity=int(grade.severity),
                status=int(pack.status_map[action]),
                metric=self.score.id,
                threshold=grade.min,
                enforced=pack.mode is Mode.ENFORCE,
                present=self.grade == g,
                values=self.totals,
                texts=self.texts,
            )
            for g, grade in enumerate(self.score.grades)
            for action in grade.actions
        ]


def score_block(
    score: Score, pack: CompiledPack, columns: Columns, rates: frozenset[str], level: ExplainLevel
) -> ScoreBlock:
    """Points, total, grade, reason and explanation of one score for every row."""
    n = columns.length
    bands = np.full((len(score.dimensions), n), -1, np.int32)
    for k, dim in enumerate(score.dimensions):
        values, present = columns.raw(dim.metric)
        for b, band in enumerate(dim.bands):
            inside = present & (bands[k] < 0)
            if band.lower is not None:
                inside &= values >= band.lower
            if band.upper is not None:
                inside &= values < band.upper
            bands[k][inside] = b
    blocked: Mask = np.asarray((bands < 0).any(axis=0), dtype=np.bool_)
    orders, orders_ok = columns.raw("orders")
    if score.min_orders is not None:
        blocked |= ~orders_ok | (orders < score.min_orders)
    totals = np.zeros(n, np.float64)
    grade = np.full(n, -1, np.int32)
    graded = np.flatnonzero(~blocked)
    if graded.size:
        sizes = [len(d.bands) for d in score.dimensions]
        code = np.zeros(graded.size, np.int64)
        for k, size in enumerate(sizes):
            code = code * size + bands[k][graded]
        distinct, inverse = np.unique(code, return_inverse=True)
        combo_total, combo_grade = [], []
        for combo in distinct.tolist():
            picks, rest = [], combo
            for size in reversed(sizes):
                rest, b = divmod(rest, size)
                picks.append(b)
            picks.reverse()
            points = [
                d.bands[b].points * d.weight for d, b in zip(score.dimensions, picks, strict=True)
            ]
            total = round(math.fsum(points), 9)
            combo_total.append(total)
            combo_grade.append(
                next(
                    (g for g, gr in enumerate(score.grades) if _in_band(total, gr.min, gr.max)), -1
                )
            )
        totals[graded] = np.asarray(combo_total)[inverse]
        grade[graded] = np.asarray(combo_grade, np.int32)[inverse]
    reasons: dict[int, str] = {}
    texts: dict[int, str] = {}
    first_lines: dict[int, str] = {}
    rows = (
        range(n)
        if level is not ExplainLevel.NONE
        else np.flatnonzero(blocked | (grade < 0)).tolist()
    )
    with_actions = {g for g, gr in enumerate(score.grades) if gr.actions}
    for row in rows:
        result = _score_row(
            score, row, columns, bands=bands, totals=totals, grade=grade, blocked=bool(blocked[row])
        )
        if level is not ExplainLevel.NONE:
            texts[row] = explain_score(score, result, rates)
            if grade[row] in with_actions:
                first_lines[row] = texts[row].splitlines()[0]
        if result.reason is not None:
            reasons[row] = result.reason
    points = [
        masked(
            np.asarray([b.points * d.weight for b in d.bands] + [0.0])[bands[k]],
            bands[k] >= 0,
            pa.float64(),
        )
        for k, d in enumerate(score.dimensions)
    ]
    kinds = list(ScoreBlock.arrow_type(score))
    array = pa.StructArray.from_arrays(
        [
            masked(totals, ~blocked, pa.float64()),
            _coded_text(grade, [g.grade for g in score.grades]),
            _sparse_text(n, reasons),
            _sparse_text(n, texts),
            pa.StructArray.from_arrays(points, fields=list(kinds[4].type))
            if points
            else pa.array([{}] * n, kinds[4].type),
        ],
        fields=kinds,
    )
    return ScoreBlock(score, array, grade, totals, first_lines)


def _score_row(
    score: Score,
    row: int,
    columns: Columns,
    *,
    bands: npt.NDArray[np.int32],
    totals: Floats,
    grade: npt.NDArray[np.int32],
    blocked: bool,
) -> ScoreResult:
    """One row's :class:`ScoreResult`, its reasons worded as the shared evaluation words them."""
    reasons: list[str] = []
    if score.min_orders is not None:
        orders = result_orders(columns, row)
        if orders is None:
            reasons.append("metric orders is null: not enough data")
        elif orders < score.min_orders:
            reasons.append(f"only {format_count(orders)} orders, score needs {score.min_orders:,}")
    dims = []
    for k, dim in enumerate(score.dimensions):
        values, present = columns.raw(dim.metric)
        value: Number | None = values[row].item() if present[row] else None
        band = int(bands[k][row])
        if value is None:
            reasons.append(f"dimension {dim.id}: metric {dim.metric} is null: not enough data")
        elif band < 0:
            reasons.append(f"dimension {dim.id}: {dim.metric} {value} is in no band")
        points = dim.bands[band].points * dim.weight if band >= 0 else None
        dims.append(DimensionResult(dim.id, dim.metric, dim.weight, value, points))
    if blocked:
        return ScoreResult(score.id, None, None, tuple(dims), reason="; ".join(reasons))
    total = float(totals[row])
    g = int(grade[row])
    if g < 0:
        return ScoreResult(
            score.id, total, None, tuple(dims), reason=f"total {total:g} is in no grade"
        )
    return ScoreResult(score.id, total, score.grades[g].grade, tuple(dims))


def _in_band(value: float, lower: float | None, upper: float | None) -> bool:
    return (lower is None or value >= lower) and (upper is None or value < upper)
