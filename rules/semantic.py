"""Stage 3, check: what the schema cannot say about a pack.

Runs on whatever parts of a pack are well-formed: a metric use, an action, a
rule's condition, actions, explanation and ladder steps, a score's dimension
or grade is checked when its own schema subtree is valid (no schema finding
at or under its path), so that one run reports the schema's findings and the
semantic ones together. A part the schema refused is skipped, but the names
it declares (a metric use's name, an action's id) and the metric uses it
reads still count, so that one mistake is not reported again as others.
Every check reports with its own code (``unknown_metric``,
``duplicate_rule_id``, ``impossible_condition``...); all findings are
collected and returned sorted. Score and grade checks live in
:mod:`.semantic_scores`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .catalog import CATALOG, MetricKind
from .dates import parse_date
from .diagnostics import Diagnostic, Level
from .durations import parse_duration
from .intervals import Interval, compare_interval, domain
from .jsonpath import child_path
from .loader import LoadedDocument
from .model import ACTIONS, Field, Op
from .suggest import did_you_mean
from .template import FIELDS, Template, parse_template
from .thresholds import is_percent, to_fraction
from .windows import parse_window

#: Fields an explanation template may name (docs/pack-format.md).
TEMPLATE_FIELDS = tuple(FIELDS)
_OPS = tuple(op.value for op in Op)
#: Metric kinds whose values are fractions, so may be compared with ``'1%'``.
PERCENT_KINDS = frozenset({MetricKind.RATE, MetricKind.GROWTH})


def _under(path: str, parent: str) -> bool:
    """Whether ``path`` is ``parent`` or lies below it."""
    return path == parent or path.startswith((f"{parent}.", f"{parent}["))


@dataclass(slots=True)
class Checker:
    """Shared state of one pack's checks: what is declared, what was found.

    ``refused`` holds the JSON paths of the schema's findings; the parts
    under them are not checked (:meth:`valid`).
    """

    document: LoadedDocument
    refused: frozenset[str] = frozenset()
    uses: dict[str, MetricKind | None] = field(default_factory=dict)
    referenced: set[str] = field(default_factory=set)
    vocabulary: set[str] = field(default_factory=set)
    status: Mapping[str, Any] = field(default_factory=dict)
    status_known: bool = True
    found: list[Diagnostic] = field(default_factory=list)

    @property
    def spec(self) -> Mapping[str, Any]:
        """The pack's ``spec`` mapping (empty when it is none)."""
        spec = self.document.data.get("spec")
        return spec if isinstance(spec, Mapping) else {}

    def valid(self, path: str) -> bool:
        """Whether the schema found nothing at or under ``path``."""
        return not any(_under(refused, path) for refused in self.refused)

    def items(self, key: str) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
        """``(index, path, item)`` of every mapping in the list ``spec[key]``."""
        items = self.spec.get(key)
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, Mapping):
                    yield i, f"$.spec.{key}[{i}]", item

    def valid_items(self, key: str) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
        """The items of ``spec[key]`` whose whole subtree passed the schema."""
        return ((i, path, item) for i, path, item in self.items(key) if self.valid(path))

    def part(self, item: Mapping[str, Any], path: str, key: str) -> Any:
        """``item[key]`` when it is written and the schema found nothing at or under it.

        Such a part has the shape its schema gives it; else None.
        """
        return item[key] if key in item and self.valid(f"{path}.{key}") else None

    def elements(self, item: Mapping[str, Any], path: str, key: str) -> Iterator[tuple[str, Any]]:
        """``(path, element)`` of each element of the list ``item[key]`` the schema accepted."""
        values = item.get(key)
        for j, value in enumerate(values if isinstance(values, list) else ()):
            where = f"{path}.{key}[{j}]"
            if self.valid(where):
                yield where, value

    def refer(self, condition: Any) -> None:
        """Count the metric uses a condition the schema refused reads as read."""
        if isinstance(condition, Mapping):
            for key in ("metric", "count"):
                if isinstance(condition.get(key), str):
                    self.referenced.add(condition[key])
            for key in ("all", "any"):
                children = condition.get(key)
                for child in children if isinstance(children, list) else ():
                    self.refer(child)
            self.refer(condition.get("not"))

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
        if name == "orders":  # implicit: the compiler adds it (docs/metrics.md, orders)
            return MetricKind.COUNT
        hint = did_you_mean(name, sorted(self.uses))
        if hint is None and name in CATALOG:
            hint = f"declare it under spec.metrics: {{metric: {name}, window: 30d}}"
        self.report(path, "unknown_metric", f"{name!r} is not a metric use of this pack", hint)
        return None

    def check_action(self, name: str, path: str) -> None:
        """An action must be known and mapped to a status (when the status map is usable)."""
        if name not in self.vocabulary:
            hint = did_you_mean(name, sorted(self.vocabulary))
            self.report(path, "unknown_action", f"{name!r} is not an action", hint)
        elif self.status_known and name not in self.status:
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


def _duplicates(items: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """The ``(index, value)`` pairs whose value an earlier pair already had."""
    seen: set[str] = set()
    for i, item in items:
        if item in seen:
            yield i, item
        seen.add(item)


def valid_strings(
    checker: Checker, items: Iterable[tuple[int, str, Mapping[str, Any]]], key: str
) -> Iterator[tuple[int, str]]:
    """``(index, item[key])`` of the items whose ``key`` is a string the schema accepted."""
    for i, path, item in items:
        value = item.get(key)
        if isinstance(value, str) and checker.valid(f"{path}.{key}"):
            yield i, value


def check_metric_uses(checker: Checker) -> None:
    """Catalog metrics, unique names, positive windows, applicable knobs."""
    for _, path, use in checker.items("metrics"):
        if not checker.valid(path):  # declared all the same: rules reading it stay quiet
            name = use.get("name", use.get("metric"))
            if isinstance(name, str):
                checker.uses.setdefault(name, None)
            continue
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
        if parse_window(use["window"])[0].total_seconds() <= 0:
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
    declared = {use["metric"] for _, _, use in checker.valid_items("metrics")}
    knobs = checker.spec.get("knobs")
    if not isinstance(knobs, Mapping) or not checker.valid("$.spec.knobs"):
        return
    for knob in knobs:
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
    for i, action_id in valid_strings(checker, checker.items("actions"), "id"):
        if action_id in checker.vocabulary:
            checker.report(
                f"$.spec.actions[{i}].id",
                "duplicate_action",
                f"action {action_id!r} is already defined",
            )
        checker.vocabulary.add(action_id)
    status = checker.spec.get("status")
    checker.status_known = isinstance(status, Mapping)
    checker.status = status if isinstance(status, Mapping) else {}
    for name in checker.status:
        if not checker.valid(child_path("$.spec.status", name)):
            continue
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
    for i, rule_id in _duplicates(valid_strings(checker, checker.items("rules"), "id")):
        checker.report(
            f"$.spec.rules[{i}].id", "duplicate_rule_id", f"rule id {rule_id!r} is used twice"
        )
    for _, path, rule in checker.items("rules"):
        when = checker.part(rule, path, "when")
        if when is None:
            checker.refer(rule.get("when"))
        else:
            _analyze(checker, when, f"{path}.when")
        for where, action in checker.elements(rule, path, "actions"):
            checker.check_action(action, where)
        explanation = checker.part(rule, path, "explanation")
        if explanation is not None:
            check_template(checker, explanation, f"{path}.explanation")
        if "escalation" in rule and isinstance(rule["escalation"], Mapping):
            _check_ladder(checker, rule["escalation"], f"{path}.escalation")


def _check_ladder(checker: Checker, ladder: Mapping[str, Any], path: str) -> None:
    """A positive lapse; steps whose ``after`` grows; known, mapped actions."""
    lapse = checker.part(ladder, path, "lapse")
    if lapse is not None and parse_duration(lapse).total_seconds() <= 0:
        checker.report(f"{path}.lapse", "non_positive_window", "a lapse must be longer than 0")
    previous = 0
    for step_path, step in checker.elements(ladder, path, "steps"):
        if step["after"] <= previous:
            checker.report(
                f"{step_path}.after",
                "unreachable_ladder_step",
                f"step after {step['after']} firings never applies: "
                f"'after' must grow from step to step (previous: {previous})",
            )
        previous = max(previous, step["after"])
        for where, action in checker.elements(step, step_path, "actions"):
            checker.check_action(action, where)


def check_dates(checker: Checker) -> None:
    """A pack stops being effective after it starts (calendar checks: :mod:`.dates`)."""
    meta = checker.document.data.get("metadata")
    dates = [
        parse_date(meta[key])
        if isinstance(meta, Mapping)
        and isinstance(meta.get(key), str)
        and checker.valid(f"$.metadata.{key}")
        else None
        for key in ("effective_from", "effective_until")
    ]
    start, until = dates
    if start is not None and until is not None and until <= start:
        checker.report(
            "$.metadata.effective_until",
            "effective_dates",
            f"effective_until {until} is not after effective_from {start}",
        )


def check_unused(checker: Checker) -> None:
    """Warn about metric uses that no rule or score reads."""
    for _, path, use in checker.valid_items("metrics"):
        name = use.get("name", use["metric"])
        if name not in checker.referenced and name != "orders":  # facts always carry orders
            checker.report(
                path,
                "unused_metric",
                f"metric use {name!r} is read by no rule or score",
                level=Level.WARNING,
            )
    if not checker.spec.get("rules") and not checker.spec.get("scores"):
        checker.report("$.spec", "empty_pack", "the pack has no rules and no scores")
