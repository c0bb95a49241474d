"""Semantic checks of scores: unique ids, metric bands and grade bands.

Bands are ``lower <= value < upper``; a dimension's bands must cover every
value its metric can take, and a score's grades every score from 0 to the
sum of the weights, each exactly once. A dimension or grade the schema
refused is skipped (the metric use it reads still counts as read).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from .catalog import MetricKind
from .durations import parse_duration
from .intervals import Coverage, Interval, band_issues, domain
from .model import Field
from .semantic import PERCENT_KINDS, Checker, valid_strings, with_article
from .thresholds import is_percent, to_fraction


def _bound(band: Mapping[str, Any], key: str) -> float | None:
    return to_fraction(band[key]) if key in band else None


def _report_unique(
    checker: Checker, named: Iterable[tuple[int, str]], key: str, path: str, code: str
) -> None:
    """Report each ``(index, value)`` whose value an earlier one had."""
    seen: set[str] = set()
    for i, value in named:
        if value in seen:
            checker.report(f"{path}[{i}].{key}", code, f"{key} {value!r} is used twice in {path}")
        seen.add(value)


def _items(values: Any, path: str) -> list[tuple[int, str, Mapping[str, Any]]]:
    """``(index, path, item)`` of the mappings in the list ``values`` (at ``path``)."""
    listed = values if isinstance(values, list) else []
    return [(i, f"{path}[{i}]", v) for i, v in enumerate(listed) if isinstance(v, Mapping)]


def _report_coverage(
    checker: Checker,
    bounds: Sequence[tuple[float | None, float | None]],
    span: Interval,
    path: str,
    what: str,
) -> None:
    for issue in band_issues(bounds, span):
        code = {
            Coverage.OVERLAP: f"{what}_bands_overlap",
            Coverage.GAP: f"{what}_bands_gap",
            Coverage.EMPTY: "empty_band",
        }[issue.issue]
        checker.report(
            f"{path}[{issue.index}]", code, f"{what} band {issue.index + 1} {issue.message}"
        )


def _check_band_values(
    checker: Checker, band: Mapping[str, Any], path: str, kind: MetricKind, name: str
) -> bool:
    """Percent only on rates, bounds inside the metric's values; False when not."""
    span = domain(kind, Field.VALUE)
    ok = True
    for key in ("gte", "lt"):
        if key not in band:
            continue
        raw = band[key]
        if is_percent(raw) and kind not in PERCENT_KINDS:
            checker.report(
                f"{path}.{key}",
                "percent_not_rate",
                f"{raw!r} is a percent, but {name!r} is {with_article(kind)}",
            )
            ok = False
        elif (
            kind in (MetricKind.RATE, MetricKind.AVERAGE)
            and span.meet(Interval(to_fraction(raw), to_fraction(raw), True, True)).empty
        ):
            checker.report(
                f"{path}.{key}",
                "threshold_out_of_range",
                f"{raw!r} is outside {span.describe()}, the values of {kind.value} {name!r}",
            )
            ok = False
    return ok


def _check_dimensions(checker: Checker, score: Mapping[str, Any], path: str) -> None:
    dimensions = _items(score.get("dimensions"), f"{path}.dimensions")
    named = valid_strings(checker, dimensions, "id")
    _report_unique(checker, named, "id", f"{path}.dimensions", "duplicate_dimension_id")
    for _, dim_path, dim in dimensions:
        if not checker.valid(dim_path):
            checker.refer(dim)
            continue
        kind = checker.kind_of(dim["metric"], f"{dim_path}.metric")
        if kind is None:
            continue
        bands = dim["bands"]
        valid = [
            _check_band_values(checker, band, f"{dim_path}.bands[{j}]", kind, dim["metric"])
            for j, band in enumerate(bands)
        ]
        if all(valid):
            bounds = [(_bound(band, "gte"), _bound(band, "lt")) for band in bands]
            _report_coverage(
                checker, bounds, domain(kind, Field.VALUE), f"{dim_path}.bands", "score"
            )


def _check_grades(checker: Checker, score: Mapping[str, Any], path: str) -> None:
    """Grade names, actions and bounds; coverage of 0..total when every part is valid.

    The total (the sum of the weights) is known only when every dimension's
    weight passed the schema.
    """
    grades = _items(score.get("grades"), f"{path}.grades")
    named = valid_strings(checker, grades, "grade")
    _report_unique(checker, named, "grade", f"{path}.grades", "duplicate_grade")
    dimensions = _items(score.get("dimensions"), f"{path}.dimensions")
    weights = [checker.part(dim, dim_path, "weight") for _, dim_path, dim in dimensions]
    known = bool(weights) and None not in weights and checker.valid(f"{path}.dimensions")
    total = float(sum(weights)) if known else None
    for _, grade_path, grade in grades:
        if not checker.valid(grade_path):
            continue
        for where, action in checker.elements(grade, grade_path, "actions"):
            checker.check_action(action, where)
        low, high = grade.get("gte"), grade.get("lt")
        if total is not None and low is not None and low > total:
            checker.report(
                f"{grade_path}.gte",
                "threshold_out_of_range",
                f"no score reaches {low:g}: the weights add up to {total:g}",
            )
        if high is not None and high <= 0:
            checker.report(
                f"{grade_path}.lt",
                "threshold_out_of_range",
                f"no score is below {high:g}: scores start at 0",
            )
    if total is not None and checker.valid(f"{path}.grades"):
        bounds = [(grade.get("gte"), grade.get("lt")) for _, _, grade in grades]
        span = Interval(0.0, total, True, True)
        _report_coverage(checker, bounds, span, f"{path}.grades", "grade")


def check_scores(checker: Checker) -> None:
    """Every score's ids, dimensions, bands and grades (the parts the schema accepted)."""
    named = valid_strings(checker, checker.items("scores"), "id")
    _report_unique(checker, named, "id", "$.spec.scores", "duplicate_score_id")
    for _, path, score in checker.items("scores"):
        _check_dimensions(checker, score, path)
        _check_grades(checker, score, path)
        _check_daily_average(checker, score, path)


def _check_daily_average(checker: Checker, score: Mapping[str, Any], path: str) -> None:
    """A ``daily_average`` of whole days, whose facts name no metric use has."""
    where = f"{path}.daily_average"
    if "daily_average" not in score or not checker.valid(where) or not checker.valid(f"{path}.id"):
        return
    name = str(score["id"]).replace("-", "_")
    if name in checker.uses:
        checker.report(
            where,
            "score_average_name_taken",
            f"the daily average of score {score['id']!r} is named {name!r} in facts, "
            "which a metric use of this pack is already named",
            "rename the metric use or the score",
        )
    raw = score["daily_average"]
    if isinstance(raw, str):
        days = parse_duration(raw) / timedelta(days=1)
        if days != int(days):
            checker.report(
                where,
                "daily_average_days",
                f"daily_average {raw!r} is not a whole number of days: the scores averaged "
                "are those of whole days",
                "write it in days (30d)",
            )
