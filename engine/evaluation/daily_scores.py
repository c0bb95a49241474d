"""Scores graded on the mean of their daily totals (``daily_average``), for every backend.

Such a score is graded on one fact, the mean its ``daily_score_average`` use
carries (``engine.metrics.daily``), not on the totals of the evaluation date.
Its dimensions are still shown, as they stand on the evaluation date, so a
seller sees where today's score comes from; they neither block nor change the
grade. The record and the bulk paths both word results here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sellerpolicy.engine.metrics.facts import Number
from sellerpolicy.rules.model import CompiledPack, Score
from sellerpolicy.rules.windows import daily_instants

from .decision import DimensionResult, ScoreResult

__all__ = ["DailyMean", "averaged_result", "daily_mean", "in_band"]


@dataclass(frozen=True, slots=True)
class DailyMean:
    """The days a score's mean covers, and on how many of them it was assessed."""

    name: str  # the facts name of the mean
    first: date | None  # None: the window holds no whole day
    last: date | None
    days: int
    assessed: int | None  # the facts' ``__den``; None when the facts do not say
    on: date  # the evaluation date, whose dimension values are shown

    def line(self) -> str:
        """The explanation's line about the mean."""
        return (
            f"  mean of the daily scores {self.span()}: assessed on "
            f"{self.assessed if self.assessed is not None else 'n/a'} of {self.days} days"
        )

    def span(self) -> str:
        """``from 2026-11-01 to 2026-11-30``."""
        if self.first is None:
            return "of a window without a whole day"
        return f"from {self.first.isoformat()} to {self.last.isoformat() if self.last else ''}"

    def null_reason(self) -> str:
        """Why the mean is null."""
        if self.assessed == 0 or self.first is None:
            return f"daily average {self.name}: the score was assessed on no day {self.span()}"
        return f"metric {self.name} is null: not enough data"


def daily_mean(
    pack: CompiledPack, score: Score, as_of: datetime, assessed: Number | None
) -> DailyMean:
    """The :class:`DailyMean` of ``score`` (which has ``average``) at ``as_of``."""
    if score.average is None:
        raise ValueError(f"score {score.id!r} is not graded on a daily average")
    use = pack.metric(score.average)
    naive = as_of.astimezone(UTC).replace(tzinfo=None)
    instants = daily_instants(use, naive)
    first = (instants[0] - timedelta(days=1)).date() if instants else None
    last = (instants[-1] - timedelta(days=1)).date() if instants else None
    count = None if assessed is None else int(assessed)
    return DailyMean(score.average, first, last, len(instants), count, as_of.date())


def averaged_result(
    score: Score, mean: DailyMean, value: Number | None, dims: Sequence[DimensionResult]
) -> ScoreResult:
    """The result of a score graded on its daily mean ``value`` (explanation not set)."""
    if value is None:
        return ScoreResult(score.id, None, None, tuple(dims), reason=mean.null_reason())
    total = float(value)
    grade = next((g for g in score.grades if in_band(total, g.min, g.max)), None)
    if grade is None:
        return ScoreResult(
            score.id, total, None, tuple(dims), reason=f"total {total:g} is in no grade"
        )
    return ScoreResult(score.id, total, grade.grade, tuple(dims))


def in_band(value: Number, lower: float | None, upper: float | None) -> bool:
    """Whether ``lower <= value < upper`` (an open bound: ``None``)."""
    return (lower is None or value >= lower) and (upper is None or value < upper)
