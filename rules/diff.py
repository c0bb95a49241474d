"""What changed between two compiled packs, in words a compliance team would write.

A semantic diff: it compares the compiled form (:class:`CompiledPack`), never
the YAML text, so reformatting, reordering keys or reordering rules gives no
change. Each :class:`Change` names its section (metadata, metric uses, rules,
status map, scores), its subject (a rule id, a use name...), what happened
(added, removed, changed) and, for a change, the field with its old and new
value written for people (``order_defect_rate >= 1%``, ``60d``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from .catalog import CATALOG, Knob, MetricKind
from .durations import format_duration
from .model import (
    AllOf,
    AnyOf,
    Compare,
    CompiledPack,
    Condition,
    Field,
    MetricUse,
    NotOf,
    Rule,
    Score,
)
from .windows import window_text

__all__ = ["Change", "describe_condition", "describe_range", "diff_packs"]

_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=="}
_PERCENT_KINDS = (MetricKind.RATE, MetricKind.GROWTH)


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between the old and the new pack."""

    section: str  # metadata | metrics | rules | status | scores
    subject: str  # what is concerned: "version", a use name, a rule id, an action...
    kind: str  # added | removed | changed
    field: str | None = None
    old: str | None = None
    new: str | None = None

    def text(self) -> str:
        """One sentence a person would write in a change note."""
        what = {
            "metadata": "",
            "metrics": "metric use ",
            "rules": "rule ",
            "status": "action ",
            "scores": "score ",
        }[self.section]
        if self.section == "status":
            if self.kind == "added":
                return f"action {self.subject} now sets status {self.new}"
            if self.kind == "removed":
                return f"action {self.subject} no longer in the status map (was {self.old})"
        if self.kind == "added":
            return f"{what}{self.subject} added" + (f": {self.new}" if self.new else "")
        if self.kind == "removed":
            return f"{what}{self.subject} removed" + (f" (was {self.old})" if self.old else "")
        about = f"{what}{self.subject}" + (f" {self.field}" if self.field else "")
        return f"{about.strip()}: {self.old} -> {self.new}"

    def to_json(self) -> dict[str, str | None]:
        """The change as a JSON object."""
        return {
            "section": self.section,
            "subject": self.subject,
            "kind": self.kind,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "text": self.text(),
        }


def diff_packs(old: CompiledPack, new: CompiledPack) -> list[Change]:
    """Every difference from ``old`` to ``new``; empty when they mean the same."""
    changes = list(_metadata(old, new))
    changes += _keyed(
        "metrics",
        {u.name: _use_fields(u) for u in old.metrics if u.daily is None},
        {u.name: _use_fields(u) for u in new.metrics if u.daily is None},
    )
    changes += _keyed(
        "rules",
        {r.id: _rule_fields(r, old) for r in old.rules},
        {r.id: _rule_fields(r, new) for r in new.rules},
    )
    changes += _status(old.status_map, new.status_map)
    changes += _keyed(
        "scores",
        {s.id: _score_fields(s, old) for s in old.scores},
        {s.id: _score_fields(s, new) for s in new.scores},
    )
    return changes


def _metadata(old: CompiledPack, new: CompiledPack) -> Iterable[Change]:
    for name in ("id", "title", "marketplace", "version", "mode", "effective_from",
                 "effective_until"):  # fmt: skip
        before, after = _show(getattr(old, name)), _show(getattr(new, name))
        if before != after:
            yield Change("metadata", name, "changed", None, before, after)
    before_sources = {s.url: s for s in old.sources}
    after_sources = {s.url: s for s in new.sources}
    for url in sorted(before_sources.keys() - after_sources.keys()):
        yield Change("metadata", "source", "removed", old=url)
    for url in sorted(after_sources.keys() - before_sources.keys()):
        yield Change("metadata", "source", "added", new=url)
    for url in sorted(before_sources.keys() & after_sources.keys()):
        a, b = before_sources[url].checked, after_sources[url].checked
        if a != b:
            yield Change("metadata", f"source {url}", "changed", "checked", str(a), str(b))


def _keyed(
    section: str, before: Mapping[str, dict[str, str]], after: Mapping[str, dict[str, str]]
) -> list[Change]:
    """Added, removed and changed items of one section (described field by field), by key."""
    changes: list[Change] = []
    for key in sorted(before.keys() - after.keys()):
        changes.append(Change(section, key, "removed", old=_summary(before[key])))
    for key in sorted(after.keys() - before.keys()):
        changes.append(Change(section, key, "added", new=_summary(after[key])))
    for key in sorted(before.keys() & after.keys()):
        a, b = before[key], after[key]
        for name in dict.fromkeys([*a, *b]):
            if a.get(name) != b.get(name):
                changes.append(
                    Change(section, key, "changed", name, a.get(name, "-"), b.get(name, "-"))
                )
    return changes


#: Long texts named in a change of their own, left out of an added or removed item's summary.
_LONG = frozenset({"title", "explanation", "source"})


def _summary(described: Mapping[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in described.items() if v != "-" and k not in _LONG)


def _use_fields(use: MetricUse) -> dict[str, str]:
    shown = {
        "metric": use.metric,
        "window": window_text(use),
        "lag": format_duration(use.lag) if use.lag else "none",
    }
    spec = CATALOG.get(use.metric)
    for knob in sorted(spec.knobs if spec is not None else (), key=str):
        shown[str(Knob(knob))] = _show(getattr(use.knobs, str(knob)))
    return shown


def _rule_fields(rule: Rule, pack: CompiledPack) -> dict[str, str]:
    ladder = (
        "; ".join(f"after {s.after}: {', '.join(s.actions)}" for s in rule.escalation.steps)
        + f" (lapse {format_duration(rule.escalation.lapse)})"
        if rule.escalation
        else "-"
    )
    return {
        "condition": describe_condition(rule.when, pack),
        "min_orders": _show(rule.min_orders) if rule.min_orders is not None else "-",
        "actions": ", ".join(rule.actions) or "none",
        "ladder": ladder,
        "severity": rule.severity.name.lower(),
        "mode": _show(rule.mode),
        "title": rule.title,
        "explanation": rule.explanation,
        "source": rule.source.url if rule.source else "-",
    }


def _score_fields(score: Score, pack: CompiledPack) -> dict[str, str]:
    graded = "the score on the evaluation date"
    if score.average is not None:
        window = window_text(pack.metric(score.average))
        graded = f"the mean of the daily scores over {window} (facts: {score.average})"
    shown = {"title": score.title, "min_orders": _show(score.min_orders), "graded on": graded}
    for dim in score.dimensions:
        bands = "; ".join(f"{describe_range(b.lower, b.upper)}: {b.points:g}" for b in dim.bands)
        shown[f"dimension {dim.id}"] = f"{dim.metric}, weight {dim.weight:g}, bands {bands}"
    for grade in score.grades:
        actions = ", ".join(grade.actions) or "no action"
        shown[f"grade {grade.grade}"] = f"{describe_range(grade.min, grade.max)}: {actions}"
    return shown


def _status(before: Mapping[str, object], after: Mapping[str, object]) -> list[Change]:
    changes = []
    for action in sorted(before.keys() | after.keys()):
        a = _show(before[action]) if action in before else None
        b = _show(after[action]) if action in after else None
        if a != b:
            kind = "added" if a is None else "removed" if b is None else "changed"
            changes.append(Change("status", action, kind, "status", a, b))
    return changes


def describe_condition(cond: Condition, pack: CompiledPack) -> str:
    """A condition as a person writes it: ``order_defect_rate >= 1%``, ``(a and b)``."""
    if isinstance(cond, Compare):
        use = next((u for u in pack.metrics if u.name == cond.metric), None)
        # a rate's count (its numerator) is a number of orders, never a percentage
        percent = cond.field is Field.VALUE and use is not None and use.kind in _PERCENT_KINDS
        value = f"{cond.threshold * 100:.4g}%" if percent else f"{cond.threshold:g}"
        field = "" if cond.field.value == "value" else f".{cond.field.value}"
        return f"{cond.metric}{field} {_OPS[cond.op.value]} {value}"
    if isinstance(cond, AllOf | AnyOf):
        word = " and " if isinstance(cond, AllOf) else " or "
        parts = sorted(describe_condition(c, pack) for c in cond.children)
        return "(" + word.join(parts) + ")"
    assert isinstance(cond, NotOf)
    return f"not {describe_condition(cond.child, pack)}"


def describe_range(lower: float | None, upper: float | None) -> str:
    """A band's bounds: ``any``, ``>= 90``, ``< 70``, ``70..90`` (lower inclusive)."""
    if lower is None and upper is None:
        return "any"
    if upper is None:
        return f">= {lower:g}"
    if lower is None:
        return f"< {upper:g}"
    return f"{lower:g}..{upper:g}"


def _show(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, Enum):
        return str(value.value).lower() if isinstance(value.value, str) else value.name.lower()
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, frozenset | set | tuple | list):
        return ", ".join(sorted(_show(v) for v in value)) or "none"
    return str(value)
