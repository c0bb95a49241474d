"""Stage 3, check: what the schema cannot say about a pack.

Runs on a document that passed the schema. Every check reports with its own
code (``unknown_metric``, ``duplicate_rule_id``, ``impossible_condition``...);
all findings are collected and returned sorted. Score and grade checks live
in :mod:`.semantic_scores`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .catalog import CATALOG, MetricKind
from .dates import parse_date
from .diagnostics import Diagnostic, Level
from .durations import parse_duration
from .intervals import Interval, compare_interval, domain
from .loader import LoadedDocument
from .model import ACTIONS, Field, Op
from .suggest import did_you_mean
from .template import FIELDS, Template, parse_template
from .thresholds import is_percent, to_fraction

#: Fields an explanation template may name (docs/pack-format.md).
TEMPLATE_FIELDS = tuple(FIELDS)
_OPS = tuple(op.value for op in Op)
#: Metric kinds whose values are fractions, so may be compared with ``'1%'``.
PERCENT_KINDS = frozenset({MetricKind.RATE, MetricKind.GROWTH})


@dataclass(slots=True)
class Checker:
    """Shared state of one pack's checks: what is declared, what was found."""

    document: LoadedDocument
    uses: dict[str, MetricKind | None] = field(default_factory=dict)
    referenced: set[str] = field(default_factory=set)
    vocabulary: set[str] = field(default_factory=set)
    status: Mapping[str, Any] = field(default_factory=dict)
    found: list[Diagnostic] = field(default_factory=list)

    @property
    def spec(self) -> Mapping[str, Any]:
        """The pack's ``spec`` mapping."""
        spec: Mapping[str, Any] = self.document.data["spec"]
        return spec

    def report(
        self,
        path: str,
        code: str,
        message: str,
        hint: str | None = None,
        *,
        level: Level = Level.ERROR,
        key: bool = False,
    ) -> None:
        """Record one finding at ``path``."""
        where = self.document.locate(path, key=key)
        self.found.append(
            Diagnostic(
                self.document.file, where.line, where.column, code, path, message, hint, level
            )
        )

    def kind_of(self, name: str, path: str) -> MetricKind | None:
        """The kind of metric use ``name``, reporting it when undeclared."""
        self.referenced.add(name)
        if name in self.uses:
            return self.uses[name]
        if name == "orders":  # implicit: the compiler adds it (domain.md windows)
            return MetricKind.COUNT
        hint = did_you_mean(name, sorted(self.uses))
        if hint is None and name in CATALOG:
            hint = f"declare it under spec.metrics: {{metric: {name}, window: 30d}}"
        self.report(path, "unknown_metric", f"{name!r} is not a metric use of this pack", hint)
        return None

    def check_action(self, name: str, path: str) -> None:
        """An action must be known and mapped to a status."""
        if name not in self.vocabulary:
            hint = did_you_mean(name, sorted(self.vocabulary))
            self.report(path, "unknown_action", f"{name!r} is not an action", hint)
        elif name not in self.status:
            self.report(
                path,
                "unmapped_action",
                f"action {name!r} has no account status",
                f"add it under spec.status, e.g. '{name}: at_risk'",
            )


def with_article(kind: MetricKind) -> str:
    """``a rate``, ``an average``."""
    article = "an" if kind.value[0] in "aeiou" else "a"
    return f"{article} {kind.value}"


def _duplicates(items: Sequence[str]) -> Iterator[tuple[int, str]]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item in seen:
            yield i, item
        seen.add(item)


def check_metric_uses(checker: Checker) -> None:
    """Catalog metrics, unique names, positive windows, applicable knobs."""
    for i, use in enumerate(checker.spec["metrics"]):
        path = f"$.spec.metrics[{i}]"
        metric = use["metric"]
        name = use.get("name", metric)
        spec = CATALOG.get(metric)
        if spec is None:
            hint = did_you_mean(metric, sorted(CATALOG))
            checker.report(
                f"{path}.metric", "unknown_metric", f"{metric!r} is not a catalog metric", hint
            )
        if name in checker.uses:
            where = f"{path}.name" if "name" in use else f"{path}.metric"
            checker.report(
                where,
                "duplicate_metric_name",
                f"metric use name {name!r} is already declared",
                "give each use of the same metric its own 'name'",
            )
            continue
        checker.uses[name] = spec.kind if spec else None
        if parse_duration(use["window"]).total_seconds() <= 0:
            checker.report(
                f"{path}.window", "non_positive_window", "a window must be longer than 0"
            )
        for knob in use.get("knobs", {}):
            if spec is not None and knob not in spec.knobs:
                listed = ", ".join(sorted(spec.knobs)) or "none"
                checker.report(
                    f"{path}.knobs.{knob}",
                    "knob_not_applicable",
                    f"knob {knob!r} does not apply to {metric!r} (its knobs: {listed})",
                    key=True,
                )
    declared = {use["metric"] for use in checker.spec["metrics"]}
    for knob in checker.spec.get("knobs", {}):
        if not any(knob in CATALOG[m].knobs for m in declared if m in CATALOG):
            checker.report(
                f"$.spec.knobs.{knob}",
                "unused_knob",
                f"knob {knob!r} applies to none of the pack's metrics",
                level=Level.WARNING,
                key=True,
            )


def check_actions(checker: Checker) -> None:
    """Pack-defined actions are new names; status keys are known actions."""
    checker.vocabulary = set(ACTIONS)
    for i, action in enumerate(checker.spec.get("actions", [])):
        if action["id"] in checker.vocabulary:
            checker.report(
                f"$.spec.actions[{i}].id",
                "duplicate_action",
                f"action {action['id']!r} is already defined",
            )
        checker.vocabulary.add(action["id"])
    checker.status = checker.spec["status"]
    for name in checker.status:
        if name not in checker.vocabulary:
            hint = did_you_mean(name, sorted(checker.vocabulary))
            checker.report(
                f"$.spec.status.{name}",
                "unknown_action",
                f"{name!r} is not an action",
                hint,
                key=True,
            )


def _leaves(cond: Mapping[str, Any], path: str) -> Iterator[tuple[Mapping[str, Any], str]]:
    for junction in ("all", "any"):
        for i, child in enumerate(cond.get(junction, [])):
            yield from _leaves(child, f"{path}.{junction}[{i}]")
    if "not" in cond:
        yield from _leaves(cond["not"], f"{path}.not")
    if "metric" in cond or "count" in cond:
        yield cond, path


def leaf_parts(leaf: Mapping[str, Any]) -> tuple[Field, str, Op, Any]:
    """``(field, metric use name, operator, threshold as written)`` of a leaf."""
    fld = Field.COUNT if "count" in leaf else Field.VALUE
    op = next(Op(key) for key in _OPS if key in leaf)
    return fld, leaf[fld.value if fld is Field.COUNT else "metric"], op, leaf[op.value]


def _check_leaf(checker: Checker, leaf: Mapping[str, Any], path: str) -> Interval | None:
    """Check one leaf; return its satisfiable values (None when unknown)."""
    fld, name, op, raw = leaf_parts(leaf)
    kind = checker.kind_of(name, f"{path}.{fld.value if fld is Field.COUNT else 'metric'}")
    if kind is None:
        return None
    if fld is Field.COUNT and kind is not MetricKind.RATE:
        checker.report(
            f"{path}.count",
            "count_on_non_rate",
            f"'count' reads the numerator of a rate, but {name!r} is {with_article(kind)}",
            f"use 'metric: {name}'",
        )
        return None
    threshold = to_fraction(raw)
    where = f"{path}.{op.value}"
    if is_percent(raw) and (fld is Field.COUNT or kind not in PERCENT_KINDS):
        what = "a count" if fld is Field.COUNT else with_article(kind)
        checker.report(where, "percent_not_rate", f"{raw!r} is a percent, but {name!r} is {what}")
        return None
    span = domain(kind, fld)
    bounded = fld is Field.VALUE and kind in (MetricKind.RATE, MetricKind.AVERAGE)
    if bounded and span.meet(Interval(threshold, threshold, True, True)).empty:
        checker.report(
            where,
            "threshold_out_of_range",
            f"{raw!r} is outside {span.describe()}, the values of {kind.value} {name!r}",
            "write rates as '1%' or 0.01" if kind is MetricKind.RATE else None,
        )
        return None
    kept = span.meet(compare_interval(op, threshold))
    if kept.empty:
        checker.report(
            path,
            "impossible_condition",
            f"'{fld.value} {name} {op.value} {raw}' can never be true: "
            f"{'its count' if fld is Field.COUNT else 'its value'} lies in {span.describe()}",
        )
    return kept


def _analyze(checker: Checker, cond: Mapping[str, Any], path: str) -> dict[str, Interval] | None:
    """Report impossible (sub)conditions; return kept values per metric, None if impossible."""
    if "metric" in cond or "count" in cond:
        fld, name, _, _ = leaf_parts(cond)
        kept = _check_leaf(checker, cond, path)
        if kept is None:
            return {}
        return None if kept.empty else {f"{fld.value}:{name}": kept}
    if "not" in cond:
        _analyze(checker, cond["not"], f"{path}.not")
        return {}
    if "any" in cond:
        results = [
            _analyze(checker, child, f"{path}.any[{i}]") for i, child in enumerate(cond["any"])
        ]
        return None if all(r is None for r in results) else {}
    merged: dict[str, Interval] = {}
    children = [_analyze(checker, child, f"{path}.all[{i}]") for i, child in enumerate(cond["all"])]
    for result in children:
        if result is None:
            return None
        for key, kept in result.items():
            merged[key] = merged[key].meet(kept) if key in merged else kept
    for key, kept in merged.items():
        if kept.empty:
            name = key.split(":", 1)[1]
            checker.report(
                path,
                "impossible_condition",
                f"no value of {name!r} satisfies every condition under 'all'",
            )
            return None
    return merged


def check_template(checker: Checker, text: str, path: str) -> None:
    """Template fields must be documented; format specs must apply (``rules.template``)."""
    parsed = parse_template(text)
    if isinstance(parsed, Template):
        return
    for problem in parsed:
        checker.report(path, problem.code, problem.message, problem.hint)


def check_rules(checker: Checker) -> None:
    """Ids, conditions, actions, templates and ladders of every rule."""
    ids = [rule["id"] for rule in checker.spec.get("rules", [])]
    for i, rule_id in _duplicates(ids):
        checker.report(
            f"$.spec.rules[{i}].id", "duplicate_rule_id", f"rule id {rule_id!r} is used twice"
        )
    for i, rule in enumerate(checker.spec.get("rules", [])):
        path = f"$.spec.rules[{i}]"
        _analyze(checker, rule["when"], f"{path}.when")
        for j, action in enumerate(rule["actions"]):
            checker.check_action(action, f"{path}.actions[{j}]")
        check_template(checker, rule["explanation"], f"{path}.explanation")
        ladder = rule.get("escalation")
        if ladder is None:
            continue
        if parse_duration(ladder["lapse"]).total_seconds() <= 0:
            checker.report(
                f"{path}.escalation.lapse", "non_positive_window", "a lapse must be longer than 0"
            )
        previous = 0
        for j, step in enumerate(ladder["steps"]):
            step_path = f"{path}.escalation.steps[{j}]"
            if step["after"] <= previous:
                checker.report(
                    f"{step_path}.after",
                    "unreachable_ladder_step",
                    f"step after {step['after']} firings never applies: "
                    f"'after' must grow from step to step (previous: {previous})",
                )
            previous = max(previous, step["after"])
            for k, action in enumerate(step["actions"]):
                checker.check_action(action, f"{step_path}.actions[{k}]")


def check_dates(checker: Checker) -> None:
    """A pack stops being effective after it starts (calendar checks: :mod:`.dates`)."""
    meta = checker.document.data["metadata"]
    start = parse_date(meta["effective_from"])
    until = parse_date(meta["effective_until"]) if "effective_until" in meta else None
    if start is not None and until is not None and until <= start:
        checker.report(
            "$.metadata.effective_until",
            "effective_dates",
            f"effective_until {until} is not after effective_from {start}",
        )


def check_unused(checker: Checker) -> None:
    """Warn about metric uses that no rule or score reads."""
    for i, use in enumerate(checker.spec["metrics"]):
        name = use.get("name", use["metric"])
        if name not in checker.referenced and name != "orders":  # facts always carry orders
            checker.report(
                f"$.spec.metrics[{i}]",
                "unused_metric",
                f"metric use {name!r} is read by no rule or score",
                level=Level.WARNING,
            )
    if not checker.spec.get("rules") and not checker.spec.get("scores"):
        checker.report("$.spec", "empty_pack", "the pack has no rules and no scores")
