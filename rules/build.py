"""Stage 4, compile: a checked document to the typed intermediate form.

Runs only on documents with no schema or semantic errors, so it reads the
data without re-checking it. Here knobs are resolved (use, then pack, then
catalog default), percents become fractions, grade ``gte``/``lt`` become
``min``/``max``, modes are inherited and every rule keeps its line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any

from .catalog import CATALOG, DAILY_SCORE, DEFAULT_WINDOW, Knob, Knobs, LateBasis, MetricKind
from .durations import parse_duration
from .loader import LoadedDocument
from .model import (
    AllOf,
    AnyOf,
    Band,
    Compare,
    CompiledPack,
    Condition,
    DailyScore,
    Dimension,
    Exemption,
    Field,
    Grade,
    Ladder,
    LadderStep,
    MetricUse,
    Mode,
    NotOf,
    Op,
    Rule,
    Score,
    Severity,
    SourceRef,
    Status,
    condition_metrics,
)
from .semantic import leaf_parts
from .thresholds import to_fraction
from .windows import parse_window

_DURATION_KNOBS = frozenset({Knob.LATE_AFTER, Knob.LATE_GRACE, Knob.RESPONSE_LIMIT})
_SET_KNOBS = frozenset(
    {
        Knob.CLAIM_STATUSES,
        Knob.CHARGEBACK_KINDS,
        Knob.CANCEL_INITIATORS,
        Knob.DISPUTE_KINDS,
        Knob.RETURN_REASONS,
    }
)


def _knob_value(knob: Knob, raw: Any) -> object:
    if knob in _DURATION_KNOBS:
        return parse_duration(raw)
    if knob in _SET_KNOBS:
        return frozenset(raw)
    if knob is Knob.LATE_BASIS:
        return LateBasis(raw)
    if knob is Knob.REQUIRE_VALID_TRACKING:
        return bool(raw)
    return int(raw)


def resolve_knobs(
    metric: str, use_knobs: Mapping[str, Any], pack_knobs: Mapping[str, Any]
) -> Knobs:
    """Knobs of one use: the use's value, else the pack's, else the catalog default.

    Only knobs the catalog lists for ``metric`` are resolved; the others keep
    the :class:`Knobs` defaults and are ignored by the metric.
    """
    spec = CATALOG[metric]
    values: dict[str, Any] = {}
    for knob in spec.knobs:
        if knob.value in use_knobs:
            values[knob.value] = _knob_value(knob, use_knobs[knob.value])
        elif knob.value in pack_knobs:
            values[knob.value] = _knob_value(knob, pack_knobs[knob.value])
        else:
            values[knob.value] = spec.defaults[knob]
    return dataclasses.replace(Knobs(), **values)


def _source(raw: Mapping[str, Any] | None) -> SourceRef | None:
    if raw is None:
        return None
    return SourceRef(
        url=raw["url"],
        checked=date.fromisoformat(raw["checked"]),
        title=raw.get("title"),
        note=raw.get("note"),
    )


def build_condition(raw: Mapping[str, Any]) -> Condition:
    """The typed condition of a ``when`` mapping (thresholds as fractions)."""
    if "all" in raw:
        return AllOf(tuple(build_condition(child) for child in raw["all"]))
    if "any" in raw:
        return AnyOf(tuple(build_condition(child) for child in raw["any"]))
    if "not" in raw:
        return NotOf(build_condition(raw["not"]))
    fld, name, op, threshold = leaf_parts(raw)
    return Compare(metric=name, op=Op(op), threshold=to_fraction(threshold), field=Field(fld))


def _metric_uses(spec: Mapping[str, Any], referenced: set[str]) -> tuple[MetricUse, ...]:
    pack_knobs: Mapping[str, Any] = spec.get("knobs", {})
    uses = [
        MetricUse(
            name=raw.get("name", raw["metric"]),
            metric=raw["metric"],
            kind=CATALOG[raw["metric"]].kind,
            window=parse_window(raw["window"])[0],
            lag=parse_duration(raw.get("lag", "0d")),
            knobs=resolve_knobs(raw["metric"], raw.get("knobs", {}), pack_knobs),
            months=parse_window(raw["window"])[1],
        )
        for raw in spec["metrics"]
    ]
    if "orders" in referenced and all(use.name != "orders" for use in uses):
        uses.append(_orders_use(uses))
    return tuple(uses)


def _orders_use(uses: Sequence[MetricUse]) -> MetricUse:
    """The ``orders`` use a pack reads without declaring it: over the ODR's window."""
    odr = next((use for use in uses if use.metric == "order_defect_rate"), None)
    return MetricUse(
        name="orders",
        metric="orders",
        kind=CATALOG["orders"].kind,
        window=odr.window if odr else DEFAULT_WINDOW,
        lag=odr.lag if odr else timedelta(0),
        months=odr.months if odr else None,
    )


def _rule(raw: Mapping[str, Any], line: int, pack_mode: Mode) -> Rule:
    ladder = raw.get("escalation")
    return Rule(
        id=raw["id"],
        title=raw["title"],
        when=build_condition(raw["when"]),
        actions=tuple(raw["actions"]),
        severity=Severity[raw["severity"].upper()],
        explanation=raw["explanation"],
        mode=Mode(raw.get("mode", pack_mode)),
        min_orders=raw.get("min_orders"),
        remediation=raw.get("remediation"),
        source=_source(raw.get("source")),
        escalation=None
        if ladder is None
        else Ladder(
            steps=tuple(LadderStep(s["after"], tuple(s["actions"])) for s in ladder["steps"]),
            lapse=parse_duration(ladder["lapse"]),
        ),
        line=line,
    )


def _bound(raw: Mapping[str, Any], key: str) -> float | None:
    return to_fraction(raw[key]) if key in raw else None


def score_average_name(score_id: str) -> str:
    """The facts name of a ``daily_average`` score's mean: its id in snake case."""
    return score_id.replace("-", "_")


def _score(raw: Mapping[str, Any]) -> Score:
    return Score(
        id=raw["id"],
        title=raw["title"],
        dimensions=tuple(
            Dimension(
                id=dim["id"],
                metric=dim["metric"],
                weight=float(dim["weight"]),
                bands=tuple(
                    Band(float(b["points"]), _bound(b, "gte"), _bound(b, "lt"))
                    for b in dim["bands"]
                ),
                title=dim.get("title"),
            )
            for dim in raw["dimensions"]
        ),
        grades=tuple(
            Grade(
                grade=g["grade"],
                min=_bound(g, "gte"),
                max=_bound(g, "lt"),
                actions=tuple(g.get("actions", ())),
                severity=Severity[g.get("severity", "low").upper()],
                confirmed=g.get("confirmed", True),
                note=g.get("note"),
            )
            for g in raw["grades"]
        ),
        min_orders=raw.get("min_orders"),
        source=_source(raw.get("source")),
        average=score_average_name(raw["id"]) if "daily_average" in raw else None,
    )


def _daily_uses(
    raws: Sequence[Mapping[str, Any]], scores: Sequence[Score], uses: Sequence[MetricUse]
) -> tuple[MetricUse, ...]:
    """The ``daily_score_average`` use of each score with ``daily_average``."""
    by_name = {use.name: use for use in uses}
    by_name.setdefault("orders", _orders_use(uses))
    made = []
    for raw, score in zip(raws, scores, strict=True):
        if score.average is None:
            continue
        names = [dim.metric for dim in score.dimensions]
        if score.min_orders is not None:
            names.append("orders")
        window, months = parse_window(raw["daily_average"])
        made.append(
            MetricUse(
                name=score.average,
                metric=DAILY_SCORE,
                kind=MetricKind.SCORE,
                window=window,
                lag=timedelta(0),
                months=months,
                daily=DailyScore(score, tuple(by_name[n] for n in dict.fromkeys(names))),
            )
        )
    return tuple(made)


def build_pack(document: LoadedDocument, digest: str) -> CompiledPack:
    """The :class:`CompiledPack` of a checked pack document."""
    data = document.data
    meta, spec = data["metadata"], data["spec"]
    mode = Mode(spec.get("mode", Mode.ENFORCE))
    rules = tuple(
        _rule(raw, document.locate(f"$.spec.rules[{i}]").line, mode)
        for i, raw in enumerate(spec.get("rules", []))
    )
    scores = tuple(_score(raw) for raw in spec.get("scores", []))
    referenced = {name for rule in rules for name in condition_metrics(rule.when)}
    referenced |= {dim.metric for score in scores for dim in score.dimensions}
    uses = _metric_uses(spec, referenced)
    until = meta.get("effective_until")
    return CompiledPack(
        id=meta["id"],
        title=meta["title"],
        marketplace=meta["marketplace"],
        version=meta["version"],
        digest=digest,
        mode=mode,
        metrics=uses + _daily_uses(spec.get("scores", []), scores, uses),
        rules=rules,
        status_map=MappingProxyType(
            {name: Status[s.upper()] for name, s in spec["status"].items()}
        ),
        scores=scores,
        effective_from=date.fromisoformat(meta["effective_from"]),
        effective_until=date.fromisoformat(until) if until else None,
        sources=tuple(src for src in map(_source, meta["sources"]) if src is not None),
        path=document.file,
    )


def build_exemption(document: LoadedDocument) -> Exemption:
    """The :class:`Exemption` of a schema-valid exemption document."""
    spec = document.data["spec"]
    return Exemption(
        id=document.data["metadata"]["id"],
        pack=spec["pack"],
        seller_id=spec["seller_id"],
        rules=tuple(spec["rules"]),
        reason=spec["reason"],
        approver=spec["approver"],
        expires=date.fromisoformat(spec["expires"]),
        owner=spec.get("owner"),
    )
