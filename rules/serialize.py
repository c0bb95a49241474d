"""The intermediate form as canonical JSON-ready data (for golden files and back ends).

Durations are written as packs write them (``60d``), sets as sorted lists,
only the knobs that apply to a use's metric are listed,
severities and statuses by name, dates in ISO form. The pack's file path is
left out: it says where the pack was read from, not what it means.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from .catalog import CATALOG
from .durations import format_duration
from .model import (
    AllOf,
    AnyOf,
    Compare,
    CompiledPack,
    Condition,
    Grade,
    MetricUse,
    Rule,
    Score,
    SourceRef,
)
from .windows import window_json


def condition_to_json(cond: Condition) -> dict[str, Any]:
    """``{"compare": {...}}``, ``{"all": [...]}``, ``{"any": [...]}`` or ``{"not": ...}``."""
    if isinstance(cond, Compare):
        return {
            "compare": {
                "metric": cond.metric,
                "field": cond.field.value,
                "op": cond.op.value,
                "threshold": cond.threshold,
            }
        }
    if isinstance(cond, AllOf):
        return {"all": [condition_to_json(child) for child in cond.children]}
    if isinstance(cond, AnyOf):
        return {"any": [condition_to_json(child) for child in cond.children]}
    return {"not": condition_to_json(cond.child)}


def _source(src: SourceRef | None) -> dict[str, Any] | None:
    if src is None:
        return None
    return {
        "url": src.url,
        "checked": src.checked.isoformat(),
        "title": src.title,
        "note": src.note,
    }


def _knob_json(value: object) -> object:
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


def _knobs(use: MetricUse) -> dict[str, Any]:
    """The knobs that apply to the use's metric (the others are ignored, so left out)."""
    listed = CATALOG[use.metric].knobs if use.metric in CATALOG else frozenset()
    return {
        knob.value: _knob_json(getattr(use.knobs, knob.value))
        for knob in sorted(listed, key=lambda k: k.value)
    }


def _metric(use: MetricUse) -> dict[str, Any]:
    return {
        "name": use.name,
        "metric": use.metric,
        "kind": use.kind.value,
        "window": window_json(use),
        "lag": format_duration(use.lag) if use.lag else "0d",
        "knobs": _knobs(use),
    }


def _rule(rule: Rule) -> dict[str, Any]:
    ladder = rule.escalation
    return {
        "id": rule.id,
        "title": rule.title,
        "when": condition_to_json(rule.when),
        "actions": list(rule.actions),
        "severity": rule.severity.name.lower(),
        "explanation": rule.explanation,
        "mode": rule.mode.value,
        "min_orders": rule.min_orders,
        "remediation": rule.remediation,
        "source": _source(rule.source),
        "escalation": None
        if ladder is None
        else {
            "lapse": format_duration(ladder.lapse),
            "steps": [{"after": s.after, "actions": list(s.actions)} for s in ladder.steps],
        },
        "line": rule.line,
    }


def _grade(grade: Grade) -> dict[str, Any]:
    return {
        "grade": grade.grade,
        "min": grade.min,
        "max": grade.max,
        "actions": list(grade.actions),
        "severity": grade.severity.name.lower(),
        "confirmed": grade.confirmed,
        "note": grade.note,
    }


def _score(score: Score) -> dict[str, Any]:
    return {
        "id": score.id,
        "title": score.title,
        "min_orders": score.min_orders,
        "source": _source(score.source),
        "dimensions": [
            {
                "id": dim.id,
                "title": dim.title,
                "metric": dim.metric,
                "weight": dim.weight,
                "bands": [
                    {"lower": b.lower, "upper": b.upper, "points": b.points} for b in dim.bands
                ],
            }
            for dim in score.dimensions
        ],
        "grades": [_grade(g) for g in score.grades],
    }


def pack_to_json(pack: CompiledPack) -> dict[str, Any]:
    """The whole compiled pack as plain JSON data (keys are stable)."""
    return {
        "id": pack.id,
        "title": pack.title,
        "marketplace": pack.marketplace,
        "version": pack.version,
        "digest": pack.digest,
        "mode": pack.mode.value,
        "effective_from": pack.effective_from.isoformat() if pack.effective_from else None,
        "effective_until": pack.effective_until.isoformat() if pack.effective_until else None,
        "sources": [_source(src) for src in pack.sources],
        "metrics": [_metric(use) for use in pack.metrics],
        "rules": [_rule(rule) for rule in pack.rules],
        "status": {action: status.label for action, status in sorted(pack.status_map.items())},
        "scores": [_score(score) for score in pack.scores],
    }
