"""Per-score columns of the bulk decision path: points, total, grade, reason, explanation."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sellerpolicy.engine.evaluation.daily_scores import averaged_result, daily_mean, in_band
from sellerpolicy.engine.evaluation.decision import DimensionResult, ScoreResult
from sellerpolicy.engine.evaluation.explain import explain_score, format_count
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.facts import Number
from sellerpolicy.rules.model import CompiledPack, Mode, Score

from .columns import Slot, coded_text, sparse_text
from .kernels import Columns, Floats, Mask, masked
from .texts import result_orders


@dataclass(frozen=True, slots=True)
class ScoreBlock:
    """The columns of one score over a batch and what its grade actions need."""

    score: Score
    array: pa.StructArray
    grade: npt.NDArray[np.int32]  # index into score.grades, -1 for none

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
            )
            for g, grade in enumerate(self.score.grades)
            for action in grade.actions
        ]


def score_block(  # noqa: PLR0917 - the batch's parts, each needed
    score: Score,
    pack: CompiledPack,
    columns: Columns,
    rates: frozenset[str],
    level: ExplainLevel,
    as_of: datetime,
) -> ScoreBlock:
    """Points, total, grade, reason and explanation of one score for every row."""
    n = columns.length
    bands = _bands(score, columns)
    if score.average is not None:
        return _averaged_block(score, pack, columns, rates, level, as_of, bands)
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
                next((g for g, gr in enumerate(score.grades) if in_band(total, gr.min, gr.max)), -1)
            )
        totals[graded] = np.asarray(combo_total)[inverse]
        grade[graded] = np.asarray(combo_grade, np.int32)[inverse]
    reasons: dict[int, str] = {}
    texts: dict[int, str] = {}
    rows = (
        range(n)
        if level is not ExplainLevel.NONE
        else np.flatnonzero(blocked | (grade < 0)).tolist()
    )
    for row in rows:
        result = _score_row(
            score, row, columns, bands=bands, totals=totals, grade=grade, blocked=bool(blocked[row])
        )
        if level is not ExplainLevel.NONE:
            texts[row] = explain_score(score, result, rates)
        if result.reason is not None:
            reasons[row] = result.reason
    return _block(score, bands, totals, ~blocked, grade, reasons, texts)


def _bands(score: Score, columns: Columns) -> npt.NDArray[np.int32]:
    """By dimension and row, the index of the first band the value falls in (-1: none)."""
    bands = np.full((len(score.dimensions), columns.length), -1, np.int32)
    for k, dim in enumerate(score.dimensions):
        values, present = columns.raw(dim.metric)
        for b, band in enumerate(dim.bands):
            inside = present & (bands[k] < 0)
            if band.lower is not None:
                inside &= values >= band.lower
            if band.upper is not None:
                inside &= values < band.upper
            bands[k][inside] = b
    return bands


def _block(  # noqa: PLR0917 - one block's columns
    score: Score,
    bands: npt.NDArray[np.int32],
    totals: Floats,
    graded: Mask,
    grade: npt.NDArray[np.int32],
    reasons: dict[int, str],
    texts: dict[int, str],
) -> ScoreBlock:
    """The block's struct column."""
    n = len(totals)
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
            masked(totals, graded, pa.float64()),
            coded_text(grade, [g.grade for g in score.grades]),
            sparse_text(n, reasons),
            sparse_text(n, texts),
            pa.StructArray.from_arrays(points, fields=list(kinds[4].type))
            if points
            else pa.array([{}] * n, kinds[4].type),
        ],
        fields=kinds,
    )
    return ScoreBlock(score, array, grade)


def _averaged_block(  # noqa: PLR0917 - score_block's arguments
    score: Score,
    pack: CompiledPack,
    columns: Columns,
    rates: frozenset[str],
    level: ExplainLevel,
    as_of: datetime,
    bands: npt.NDArray[np.int32],
) -> ScoreBlock:
    """A score graded on the mean of its daily totals (``evaluation.daily_scores``)."""
    assert score.average is not None
    n = columns.length
    raw, present = columns.raw(score.average)
    totals = np.where(present, raw, 0.0).astype(np.float64)
    grade = np.full(n, -1, np.int32)
    for g, gr in reversed(list(enumerate(score.grades))):  # the first grade that fits wins
        inside = present.copy()
        if gr.min is not None:
            inside &= totals >= gr.min
        if gr.max is not None:
            inside &= totals < gr.max
        grade[inside] = g
    reasons: dict[int, str] = {}
    texts: dict[int, str] = {}
    rows = range(n) if level is not ExplainLevel.NONE else np.flatnonzero(grade < 0).tolist()
    days, days_present = columns.raw(f"{score.average}__den")
    window = daily_mean(pack, score, as_of, None)
    for row in rows:
        mean = replace(window, assessed=int(days[row]) if days_present[row] else None)
        value = raw[row].item() if present[row] else None
        result = averaged_result(score, mean, value, _dimensions(score, columns, bands, row))
        if level is not ExplainLevel.NONE:
            texts[row] = explain_score(score, result, rates, mean)
        if result.reason is not None:
            reasons[row] = result.reason
    return _block(score, bands, totals, present, grade, reasons, texts)


def _dimensions(
    score: Score, columns: Columns, bands: npt.NDArray[np.int32], row: int
) -> list[DimensionResult]:
    """Row ``row``'s dimensions: value and the points of its band (None: none)."""
    dims = []
    for k, dim in enumerate(score.dimensions):
        values, present = columns.raw(dim.metric)
        value: Number | None = values[row].item() if present[row] else None
        band = int(bands[k][row])
        points = dim.bands[band].points * dim.weight if band >= 0 else None
        dims.append(DimensionResult(dim.id, dim.metric, dim.weight, value, points))
    return dims


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
    dims = _dimensions(score, columns, bands, row)
    for dim, found in zip(score.dimensions, dims, strict=True):
        if found.value is None:
            reasons.append(f"dimension {dim.id}: metric {dim.metric} is null: not enough data")
        elif found.points is None:
            reasons.append(f"dimension {dim.id}: {dim.metric} {found.value} is in no band")
    if blocked:
        return ScoreResult(score.id, None, None, tuple(dims), reason="; ".join(reasons))
    total = float(totals[row])
    g = int(grade[row])
    if g < 0:
        return ScoreResult(
            score.id, total, None, tuple(dims), reason=f"total {total:g} is in no grade"
        )
    return ScoreResult(score.id, total, score.grades[g].grade, tuple(dims))
