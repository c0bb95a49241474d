"""A seller's stored decisions as the seller page shows them, pack by pack.

:func:`pack_histories` groups a seller's decisions (newest first, as
:meth:`~sellerpolicy.engine.store.browse.DecisionBrowser.seller_decisions`
reads them) by pack, keeps the last evaluation of each ``as_of`` day, and
writes out the current decision (every rule with its outcome, explanation,
distance to compliance and ladder step), the timeline and, per metric that a
rule compares to a threshold, the series its chart and table draw. Values
only: nothing here reads the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from typing import Any

from sellerpolicy.engine.evaluation.decision import Distance
from sellerpolicy.engine.evaluation.explain import describe_distance, format_number
from sellerpolicy.engine.store.records import StoredDecision
from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import CompiledPack

__all__ = [
    "ActionLine",
    "MetricSeries",
    "PackHistory",
    "RuleLine",
    "TimelineRow",
    "pack_histories",
    "percent_metrics",
]

OP_WORDS = {"gt": "above", "gte": "at or above", "lt": "below", "lte": "at or below", "eq": "at"}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def ladder_depth(pack: CompiledPack | None) -> int | None:
    """How many earlier firings the pack's escalation reads (its longest ladder): a
    stored streak stops there. None when the pack is not known."""
    if pack is None:
        return None
    return max(
        (step.after for r in pack.rules if r.escalation for step in r.escalation.steps),
        default=0,
    )


def firing(streak: int, depth: int | None) -> str:
    """``3rd firing in a row``; ``3rd or later`` when the streak reached the depth read."""
    n = streak + 1
    later = " or later" if depth is not None and streak >= depth else ""
    return f"{_ordinal(n)}{later} firing in a row"


@dataclass(frozen=True, slots=True)
class ActionLine:
    """An action of the current decision: what, why, and whether it is enforced."""

    action: str
    rule: str
    severity: str
    explanation: str
    state: str  # "enforced", "shadow (reported only)" or "exempt: <id>"


@dataclass(frozen=True, slots=True)
class RuleLine:
    """A rule of the current decision as a person reads it."""

    rule_id: str
    title: str
    outcome: str  # fired, not fired, not assessed
    measured: str  # "1.10% (2 of 181); fires at or above 1%"
    explanation: str
    distance: str
    ladder: str
    remediation: str


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One evaluation day of a pack: status, enforced actions, the rules that fired."""

    day: str
    version: str
    status: str
    actions: tuple[str, ...]
    fired: tuple[str, ...]  # "odr-over-target (3rd firing in a row)"


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """A metric over a seller's evaluation days, with the thresholds of its rules."""

    metric: str
    percent: bool
    rules: tuple[str, ...]
    days: tuple[str, ...]
    values: tuple[float | None, ...]
    thresholds: tuple[tuple[str, tuple[float | None, ...]], ...]  # (rule, per day)
    fired: tuple[bool, ...]  # a rule on the metric fired that day
    caption: str

    def text(self, value: float | None) -> str:
        """A value of the series as the page writes it (``1.1%``, ``n/a``)."""
        return format_number(value, rate=self.percent)

    def rows(self) -> list[tuple[str, str, str, bool]]:
        """(day, value, thresholds, fired) per day, newest first, for the table."""
        rows = []
        for k in range(len(self.days) - 1, -1, -1):
            limits = "; ".join(
                f"{rule} {self.text(line[k])}"
                for rule, line in self.thresholds
                if line[k] is not None
            )
            rows.append((self.days[k], self.text(self.values[k]), limits, self.fired[k]))
        return rows


@dataclass(frozen=True, slots=True)
class PackHistory:
    """Everything the seller page shows of one pack."""

    pack_id: str
    current: StoredDecision
    pack_known: bool  # the pack store has the current decision's version
    actions: tuple[ActionLine, ...]
    rules: tuple[RuleLine, ...]
    timeline: tuple[TimelineRow, ...]  # newest first
    series: tuple[MetricSeries, ...]

    @property
    def as_of(self) -> str:
        """The current decision's ``as_of`` day."""
        return self.current.as_of.date().isoformat()


def percent_metrics(pack: CompiledPack | None, facts: Mapping[str, Any]) -> frozenset[str]:
    """The metrics shown in %: rates and growths of the pack, else those with a denominator."""
    if pack is not None:
        kinds = (MetricKind.RATE, MetricKind.GROWTH)
        return frozenset(use.name for use in pack.metrics if use.kind in kinds)
    return frozenset(name[: -len("__den")] for name in facts if name.endswith("__den"))


def _rules_of(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rules = document.get("rules")
    return [r for r in rules if isinstance(r, Mapping)] if isinstance(rules, list) else []


def _facts_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    facts = document.get("facts")
    return facts if isinstance(facts, Mapping) else {}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _ladder(pack: CompiledPack | None, rule_id: str, streak: int, fired: bool) -> str:
    """Where a firing rule stands on its ladder: the n-th firing in a row and its step."""
    if not fired:
        return ""
    n = streak + 1
    text = firing(streak, ladder_depth(pack))
    try:
        ladder = pack.rule(rule_id).escalation if pack is not None else None
    except KeyError:
        ladder = None
    if ladder is None or not ladder.steps:
        return text
    reached = [k for k, step in enumerate(ladder.steps) if step.after <= n]
    if reached:
        k = reached[-1]
        text += f": step {k + 1} of {len(ladder.steps)} ({', '.join(ladder.steps[k].actions)})"
        if k + 1 < len(ladder.steps):
            after = ladder.steps[k + 1]
            text += f"; from the {_ordinal(after.after)} firing: {', '.join(after.actions)}"
    return text


def _distance(raw: object, metric: str | None, pack: CompiledPack | None) -> str:
    if not isinstance(raw, Mapping):
        return ""
    clears = raw.get("clears_on")
    distance = Distance(
        headroom=raw.get("headroom"),
        excess=raw.get("excess"),
        good_needed=raw.get("good_needed"),
        clears_on=date.fromisoformat(clears) if isinstance(clears, str) else None,
    )
    unit = "order"
    if metric is not None and pack is not None:
        with suppress(KeyError):
            unit = "message" if pack.metric(metric).metric == "message_response_rate" else "order"
    return describe_distance(distance, unit=unit)


def _measured(rule: Mapping[str, Any], percent: frozenset[str]) -> str:
    metric = rule.get("metric")
    if not isinstance(metric, str):
        return ""
    rate = metric in percent
    text = f"{metric} {format_number(_number(rule.get('value')), rate=rate)}"
    num, den = _number(rule.get("num")), _number(rule.get("den"))
    if num is not None and den is not None:
        text += f" ({num:,.0f} of {den:,.0f})"
    threshold, op = _number(rule.get("threshold")), rule.get("op")
    if threshold is not None and isinstance(op, str):
        text += f"; fires {OP_WORDS.get(op, op)} {format_number(threshold, rate=rate)}"
    return text


def _rule_lines(
    document: Mapping[str, Any], pack: CompiledPack | None, percent: frozenset[str]
) -> tuple[RuleLine, ...]:
    lines = []
    for rule in _rules_of(document):
        rule_id = str(rule.get("rule", ""))
        outcome = str(rule.get("outcome", ""))
        fired = outcome == "matched"
        compiled = None
        if pack is not None:
            try:
                compiled = pack.rule(rule_id)
            except KeyError:
                compiled = None
        words = {"matched": "fired", "not_matched": "not fired", "not_assessed": "not assessed"}
        lines.append(
            RuleLine(
                rule_id=rule_id,
                title=compiled.title if compiled is not None else "",
                outcome=words.get(outcome, outcome),
                measured=_measured(rule, percent),
                explanation=str(rule.get("explanation") or rule.get("reason") or ""),
                distance=_distance(rule.get("distance"), rule.get("metric"), pack),
                ladder=_ladder(pack, rule_id, int(rule.get("streak") or 0), fired),
                remediation=(compiled.remediation or "") if compiled and fired else "",
            )
        )
    lines.sort(key=lambda line: line.outcome != "fired")  # fired first, pack order kept
    return tuple(lines)


def _action_lines(document: Mapping[str, Any]) -> tuple[ActionLine, ...]:
    items = document.get("actions")
    lines = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping):
            continue
        if item.get("exemption"):
            state = f"exempt: {item['exemption']}"
        elif item.get("enforced", True):
            state = "enforced"
        else:
            state = "shadow (reported only)"
        lines.append(
            ActionLine(
                action=str(item.get("action", "")),
                rule=str(item.get("rule", "")),
                severity=str(item.get("severity", "")),
                explanation=str(item.get("explanation") or ""),
                state=state,
            )
        )
    return tuple(lines)


def _timeline_row(decision: StoredDecision, depth: int | None) -> TimelineRow:
    fired = []
    for rule in _rules_of(decision.document):
        if rule.get("outcome") == "matched":
            fired.append(f"{rule.get('rule')} ({firing(int(rule.get('streak') or 0), depth)})")
    actions = tuple(dict.fromkeys(a for r in decision.rules if r.fired for a in r.actions))
    return TimelineRow(
        day=decision.as_of.date().isoformat(),
        version=decision.pack_version,
        status=decision.status,
        actions=actions,
        fired=tuple(fired),
    )


def series(days: Sequence[StoredDecision], percent: frozenset[str]) -> list[MetricSeries]:
    """Per metric with a threshold (rules' first leaves, pack order), its values over
    ``days`` (one decision per day, oldest first)."""
    order: dict[str, dict[str, None]] = {}  # metric -> its rules, in pack order
    for decision in days:
        for rule in _rules_of(decision.document):
            metric = rule.get("metric")
            if isinstance(metric, str) and _number(rule.get("threshold")) is not None:
                order.setdefault(metric, {})[str(rule.get("rule"))] = None
    found = []
    for metric, rule_ids in order.items():
        values, fired = [], []
        lines: dict[str, list[float | None]] = {r: [] for r in rule_ids}
        for decision in days:
            by_rule = {str(r.get("rule")): r for r in _rules_of(decision.document)}
            values.append(_number(_facts_of(decision.document).get(metric)))
            fired.append(any(by_rule.get(r, {}).get("outcome") == "matched" for r in rule_ids))
            for rule_id in rule_ids:
                lines[rule_id].append(_number(by_rule.get(rule_id, {}).get("threshold")))
        rate = metric in percent
        limits = []
        for rule_id in rule_ids:
            current = next((v for v in reversed(lines[rule_id]) if v is not None), None)
            op = next(
                (
                    OP_WORDS.get(str(r.get("op")), "")
                    for d in reversed(days)
                    for r in _rules_of(d.document)
                    if r.get("rule") == rule_id
                ),
                "",
            )
            limits.append(f"{rule_id} fires {op} {format_number(current, rate=rate)}")
        found.append(
            MetricSeries(
                metric=metric,
                percent=rate,
                rules=tuple(rule_ids),
                days=tuple(d.as_of.date().isoformat() for d in days),
                values=tuple(values),
                thresholds=tuple((r, tuple(lines[r])) for r in rule_ids),
                fired=tuple(fired),
                caption="; ".join(limits),
            )
        )
    return found


def pack_histories(
    decisions: Sequence[StoredDecision],
    compiled: Callable[[StoredDecision], CompiledPack | None],
) -> list[PackHistory]:
    """The seller's history per pack (pack id order), from its decisions newest first.

    ``compiled`` gives the pack version that made a decision, or None when
    the pack store does not have it.
    """
    by_pack: dict[str, dict[date, StoredDecision]] = {}
    for decision in decisions:  # newest first: the first of each day is its last evaluation
        by_pack.setdefault(decision.pack_id, {}).setdefault(decision.as_of.date(), decision)
    histories = []
    for pack_id in sorted(by_pack):
        days = list(by_pack[pack_id].values())  # newest first
        current = days[0]
        pack = compiled(current)
        percent = percent_metrics(pack, _facts_of(current.document))
        histories.append(
            PackHistory(
                pack_id=pack_id,
                current=current,
                pack_known=pack is not None,
                actions=_action_lines(current.document),
                rules=_rule_lines(current.document, pack, percent),
                timeline=tuple(_timeline_row(d, ladder_depth(compiled(d))) for d in days),
                series=tuple(series(days[::-1], percent)),
            )
        )
    return histories
