"""Decisions: what one evaluation of one seller against one pack concluded.

Plain frozen values, built by :mod:`sellerpolicy.engine.evaluation.evaluate` and read by
every sink (files, the decision store, the HTTP reply). :meth:`Decision.to_json`
is the data-contract shape of a decision record plus three extra keys:
``decision_id``, ``rules`` and ``scores``; ``schemas/decision.schema.json``
says the same in machine form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sellerpolicy.engine.metrics.facts import Number
from sellerpolicy.rules.model import Mode, Op, Severity, Status


class Outcome(StrEnum):
    """What a rule concluded for one seller."""

    MATCHED = "matched"
    NOT_MATCHED = "not_matched"
    NOT_ASSESSED = "not_assessed"


@dataclass(frozen=True, slots=True)
class Distance:
    """How far a rate rule is from changing its outcome, in orders.

    For a passing rule ``headroom`` is how many more bad orders the current
    window can absorb before the rule fires (``None``: no number of bad
    orders makes it fire). For a firing rule ``excess`` is how many bad
    orders must leave the window, and ``good_needed`` how many good orders
    must be added at the current counts (``None``: that alone cannot clear
    it); ``clears_on`` is the first evaluation date on which enough bad
    orders have aged out, when the caller supplied their dates.

    A *bad* order is one that counts against the seller: a numerator order
    when the rule fires on a high rate (defects), an order outside the
    numerator when it fires on a low rate (``valid_tracking_rate``).
    """

    headroom: int | None = None
    excess: int | None = None
    good_needed: int | None = None
    clears_on: date | None = None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping with stable keys."""
        return {
            "headroom": self.headroom,
            "excess": self.excess,
            "good_needed": self.good_needed,
            "clears_on": self.clears_on.isoformat() if self.clears_on else None,
        }


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's outcome for one seller, with the numbers of its first leaf."""

    rule: str
    outcome: Outcome
    mode: Mode
    reason: str | None = None  # why the rule was not assessed
    metric: str | None = None
    op: Op | None = None
    value: Number | None = None
    threshold: float | None = None
    num: Number | None = None
    den: Number | None = None
    window_start: date | None = None
    window_end: date | None = None
    explanation: str | None = None
    distance: Distance | None = None
    streak: int = 0  # consecutive earlier firings (escalation ladders)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping with stable keys."""
        return {
            "rule": self.rule,
            "outcome": self.outcome.value,
            "mode": self.mode.value,
            "reason": self.reason,
            "metric": self.metric,
            "op": self.op.value if self.op else None,
            "value": self.value,
            "threshold": self.threshold,
            "num": self.num,
            "den": self.den,
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "explanation": self.explanation,
            "distance": self.distance.to_json() if self.distance else None,
            "streak": self.streak,
        }


@dataclass(frozen=True, slots=True)
class ActionItem:
    """One action a decision carries, the rule (or score) behind it and why.

    ``enforced`` is false for actions of shadow rules and for exempted ones
    (then ``exemption`` names the exemption document).
    """

    action: str
    rule: str
    severity: Severity
    status: Status
    metric: str | None
    value: Number | None
    threshold: float | None
    explanation: str | None
    enforced: bool
    exemption: str | None = None

    @property
    def severity_label(self) -> str:
        """The severity as packs write it (``high``)."""
        return self.severity.name.lower()

    def to_json(self) -> dict[str, object]:
        """The data-contract action object plus ``enforced`` and ``exemption``."""
        return {
            "action": self.action,
            "rule": self.rule,
            "severity": self.severity_label,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "explanation": self.explanation,
            "enforced": self.enforced,
            "exemption": self.exemption,
        }


@dataclass(frozen=True, slots=True)
class DimensionResult:
    """One dimension of a score: the metric value and the points it earned."""

    dimension: str
    metric: str
    weight: float
    value: Number | None
    points: float | None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping with stable keys."""
        return {
            "dimension": self.dimension,
            "metric": self.metric,
            "weight": self.weight,
            "value": self.value,
            "points": self.points,
        }


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A weighted score: total points and grade, or why it was not assessed."""

    score: str
    total: float | None
    grade: str | None
    dimensions: tuple[DimensionResult, ...]
    reason: str | None = None
    explanation: str | None = None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping with stable keys."""
        return {
            "score": self.score,
            "total": self.total,
            "grade": self.grade,
            "dimensions": [d.to_json() for d in self.dimensions],
            "reason": self.reason,
            "explanation": self.explanation,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything one evaluation concluded about one seller.

    ``actions`` lists enforced actions first (most severe first), then the
    reported-only ones (shadow rules, exempted actions), flagged as such.
    """

    decision_id: str
    seller_id: str
    as_of: str
    pack: str
    pack_version: str
    pack_digest: str
    status: Status
    actions: tuple[ActionItem, ...]
    rules: tuple[RuleResult, ...]
    scores: tuple[ScoreResult, ...]
    facts: Mapping[str, Number | None]

    @property
    def enforced_actions(self) -> tuple[ActionItem, ...]:
        """The actions that apply (neither shadow nor exempted)."""
        return tuple(a for a in self.actions if a.enforced)

    def rule(self, rule_id: str) -> RuleResult:
        """The result of one rule (KeyError when the pack has no such rule)."""
        for result in self.rules:
            if result.rule == rule_id:
                return result
        raise KeyError(rule_id)

    def score(self, score_id: str) -> ScoreResult:
        """The result of one score (KeyError when the pack has no such score)."""
        for result in self.scores:
            if result.score == score_id:
                return result
        raise KeyError(score_id)

    def to_json(self) -> dict[str, object]:
        """The data-contract decision record plus ``decision_id``, ``rules``, ``scores``."""
        return {
            "decision_id": self.decision_id,
            "seller_id": self.seller_id,
            "as_of": self.as_of,
            "pack": self.pack,
            "pack_version": self.pack_version,
            "pack_digest": self.pack_digest,
            "status": self.status.label,
            "actions": [a.to_json() for a in self.actions],
            "facts": dict(self.facts),
            "rules": [r.to_json() for r in self.rules],
            "scores": [s.to_json() for s in self.scores],
        }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
