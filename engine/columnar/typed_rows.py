"""Typed record batches to and from :class:`Decision` values, one row at a time.

The per-seller path (durable-rules, the plain Python back end, ``explain=full``)
holds :class:`~sellerpolicy.engine.evaluation.decision.Decision` values:
:func:`records_from_decisions` writes them in the typed record layout of
:mod:`.typed`, so that a ``.parquet`` output has one layout whatever the back
end. :func:`decisions_from_records` reads a record batch back into
decisions (for the decision store: a distributed run appends its parts'
decisions), through the JSON records of :mod:`.records`, which equal
``Decision.to_json`` byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from sellerpolicy.engine.evaluation.decision import (
    ActionItem,
    Decision,
    DimensionResult,
    Distance,
    Outcome,
    RuleResult,
    ScoreResult,
)
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.facts import as_of_instant
from sellerpolicy.rules.model import CompiledPack, Mode, Op, Severity, Status

from .records import json_lines
from .typed import record_schema

__all__ = ["decision_from_json", "decisions_from_records", "records_from_decisions"]


def _instant(label: str) -> datetime:
    return as_of_instant(datetime.fromisoformat(label.replace("Z", "+00:00")))


def records_from_decisions(
    decisions: Sequence[Decision],
    pack: CompiledPack,
    facts: pa.StructType,
    explain: ExplainLevel = ExplainLevel.SUMMARY,
) -> pa.RecordBatch:
    """Decisions of ``pack`` as a typed record batch whose ``facts`` are of type ``facts``."""
    schema = record_schema(pack, facts, explain)
    names = set(schema.names)
    rows = []
    for d in decisions:
        instant = _instant(d.as_of)
        row: dict[str, object] = {
            "decision_id": d.decision_id,
            "seller_id": d.seller_id,
            "as_of": instant.date(),
            "as_of_instant": instant,
            "pack": d.pack,
            "pack_version": d.pack_version,
            "pack_digest": d.pack_digest,
            "status": d.status.label,
            "actions": [
                {**a.to_json(), "value": None if a.value is None else float(a.value)}
                for a in d.actions
            ],
            "facts": {f.name: d.facts.get(f.name) for f in facts},
        }
        if "rules" in names:
            row["rules"] = {
                r.rule: {
                    "outcome": r.outcome.value,
                    "reason": r.reason,
                    "explanation": r.explanation,
                    "distance": None
                    if r.distance is None
                    else {
                        "headroom": r.distance.headroom,
                        "excess": r.distance.excess,
                        "good_needed": r.distance.good_needed,
                        "clears_on": r.distance.clears_on,
                    },
                    "streak": r.streak,
                }
                for r in d.rules
            }
        if "scores" in names:
            row["scores"] = {
                s.score: {
                    "total": s.total,
                    "grade": s.grade,
                    "reason": s.reason,
                    "explanation": s.explanation,
                    "points": {dim.dimension: dim.points for dim in s.dimensions},
                }
                for s in d.scores
            }
        rows.append(row)
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def decisions_from_records(
    records: pa.RecordBatch | pa.Table, pack: CompiledPack
) -> list[Decision]:
    """The decisions of a typed record batch of ``pack`` (ValueError for another pack)."""
    return [
        decision_from_json(json.loads(line), pack) for line in json_lines(records, pack).to_pylist()
    ]


def _date(text: object) -> date | None:
    return date.fromisoformat(text) if isinstance(text, str) else None


def decision_from_json(record: Mapping[str, Any], pack: CompiledPack) -> Decision:
    """The :class:`Decision` of ``pack`` whose ``to_json()`` is ``record``."""
    return Decision(
        decision_id=record["decision_id"],
        seller_id=record["seller_id"],
        as_of=record["as_of"],
        pack=record["pack"],
        pack_version=record["pack_version"],
        pack_digest=record["pack_digest"],
        status=next(s for s in Status if s.label == record["status"]),
        actions=tuple(
            ActionItem(
                action=a["action"],
                rule=a["rule"],
                severity=Severity[a["severity"].upper()],
                status=pack.status_map[a["action"]],
                metric=a["metric"],
                value=a["value"],
                threshold=a["threshold"],
                explanation=a["explanation"],
                enforced=a["enforced"],
                exemption=a["exemption"],
            )
            for a in record["actions"]
        ),
        rules=tuple(_rule(r) for r in record["rules"]),
        scores=tuple(
            ScoreResult(
                score=s["score"],
                total=s["total"],
                grade=s["grade"],
                dimensions=tuple(DimensionResult(**dim) for dim in s["dimensions"]),
                reason=s["reason"],
                explanation=s["explanation"],
            )
            for s in record["scores"]
        ),
        facts=MappingProxyType(dict(record["facts"])),
    )


def _rule(r: Mapping[str, Any]) -> RuleResult:
    distance = r["distance"]
    return RuleResult(
        rule=r["rule"],
        outcome=Outcome(r["outcome"]),
        mode=Mode(r["mode"]),
        reason=r["reason"],
        metric=r["metric"],
        op=Op(r["op"]) if r["op"] else None,
        value=r["value"],
        threshold=r["threshold"],
        num=r["num"],
        den=r["den"],
        window_start=_date(r["window_start"]),
        window_end=_date(r["window_end"]),
        explanation=r["explanation"],
        distance=None
        if distance is None
        else Distance(
            headroom=distance["headroom"],
            excess=distance["excess"],
            good_needed=distance["good_needed"],
            clears_on=_date(distance["clears_on"]),
        ),
        streak=r["streak"],
    )
