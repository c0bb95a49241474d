"""Semantic checks of scores: unique ids, metric bands and grade bands.

Bands are ``lower <= value < upper``; a dimension's bands must cover every
value its metric can take, and a score's grades every score from 0 to the
sum of the weights, each exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .catalog import MetricKind
from .intervals import Coverage, Interval, band_issues, domain
from .model import Field
from .semantic import PERCENT_KINDS, Checker, with_article
from .thresholds import is_percent, to_fraction


def _bound(band: Mapping[str, Any], key: str) -> float | None:
    return to_fraction(band[key]) if key in band else None


def _report_unique(
    checker: Checker, items: Sequence[Mapping[str, Any]], key: str, path: str, code: str
) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item[key] in seen:
            checker.report(
                f"{path}[{i}].{key}", code, f"{key} {item[key]!r} is used twice in {path}"
            )
        seen.add(item[key])


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
    _report_unique(
        checker, score["dimensions"], "id", f"{path}.dimensions", "duplicate_dimension_id"
    )
    for i, dim in enumerate(score["dimensions"]):
        dim_path = f"{path}.dimensions[{i}]"
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
    grades = score["grades"]
    _report_unique(checker, grades, "grade", f"{path}.grades", "duplicate_grade")
    total = float(sum(dim["weight"] for dim in score["dimensions"]))
    for i, grade in enumerate(grades):
        for j, action in enumerate(grade.get("actions", [])):
            checker.check_action(action, f"{path}.grades[{i}].actions[{j}]")
        low, high = grade.get("gte"), grade.get("lt")
        if low is not None and low > total:
            checker.report(
                f"{path}.grades[{i}].gte",
                "threshold_out_of_range",
                f"no score reaches {low:g}: the weights add up to {total:g}",
            )
        if high is not None and high <= 0:
            checker.report(
                f"{path}.grades[{i}].lt",
                "threshold_out_of_range",
                f"no score is below {high:g}: scores start at 0",
            )
    bounds = [(grade.get("gte"), grade.get("lt")) for grade in grades]
    _report_coverage(checker, bounds, Interval(0.0, total, True, True), f"{path}.grades", "grade")


def check_scores(checker: Checker) -> None:
    """Every score's ids, dimensions, bands and grades."""
    scores = checker.spec.get("scores", [])
    _report_unique(checker, scores, "id", "$.spec.scores", "duplicate_score_id")
    for i, score in enumerate(scores):
        path = f"$.spec.scores[{i}]"
        _check_dimensions(checker, score, path)
        _check_grades(checker, score, path)
