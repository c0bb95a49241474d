"""The compiled intermediate form of a rule pack: small, immutable, typed.

Everything downstream (both evaluation back ends, decisions, explanations,
the store) reads a :class:`CompiledPack`; nothing reads the YAML again.
Thresholds are plain fractions (``1%`` in a pack is ``0.01`` here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import IntEnum, StrEnum

from .catalog import Knobs, MetricKind

API_VERSION = "sellerpolicy/v1"


class Op(StrEnum):
    """Comparison operators of a condition leaf."""

    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EQ = "eq"


class Field(StrEnum):
    """Which number of a metric a leaf compares."""

    VALUE = "value"  # the metric itself (rate, average, count, amount)
    COUNT = "count"  # the numerator behind a rate (``<name>__num``)


class Mode(StrEnum):
    """``enforce``: actions apply. ``shadow``: reported, never enforced."""

    ENFORCE = "enforce"
    SHADOW = "shadow"


class Severity(IntEnum):
    """Ordered severities; the most severe action comes first in a decision."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class Status(IntEnum):
    """Account status, ordered: the worst enforced action sets it."""

    HEALTHY = 0
    AT_RISK = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        """The status as written in packs and decisions (``at_risk``)."""
        return self.name.lower()


#: The fixed action vocabulary (docs/pack-format.md); packs may declare their own.
ACTIONS = (
    "warn",
    "restrict_listings",
    "restrict_category",
    "lose_buy_box",
    "suspend",
    "demote",
    "promote",
)


@dataclass(frozen=True, slots=True)
class Compare:
    """``metric.field <op> threshold``; false when the metric is null."""

    metric: str
    op: Op
    threshold: float
    field: Field = Field.VALUE


@dataclass(frozen=True, slots=True)
class AllOf:
    """True when every child is true."""

    children: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """True when at least one child is true."""

    children: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class NotOf:
    """True when the child is false (a null metric still makes the rule not assessed)."""

    child: Condition


Condition = Compare | AllOf | AnyOf | NotOf


@dataclass(frozen=True, slots=True)
class MetricUse:
    """One use of a catalog metric: its facts name, window, lag and knobs.

    ``months`` set: a calendar window of that many whole months ending at a month
    end (``rules.windows``); ``window`` is then its nominal length (30 days a month).
    """

    name: str
    metric: str
    kind: MetricKind
    window: timedelta
    lag: timedelta
    knobs: Knobs = field(default_factory=Knobs)
    months: int | None = None
    daily: DailyScore | None = None


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a rule or pack comes from, and when a person last checked it."""

    url: str
    checked: date
    title: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class LadderStep:
    """From the ``after``-th consecutive firing on, the rule takes these actions."""

    after: int
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ladder:
    """An escalation ladder; a streak lapses when the rule has not fired for ``lapse``."""

    steps: tuple[LadderStep, ...]
    lapse: timedelta


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a pack."""

    id: str
    title: str
    when: Condition
    actions: tuple[str, ...]
    severity: Severity
    explanation: str
    mode: Mode = Mode.ENFORCE
    min_orders: int | None = None
    remediation: str | None = None
    source: SourceRef | None = None
    escalation: Ladder | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class Band:
    """A metric band scoring ``points`` (0..1 of the dimension's weight).

    Bounds are ``lower <= value < upper``; ``None`` is open.
    """

    points: float
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True, slots=True)
class Dimension:
    """One weighted dimension of a score."""

    id: str
    metric: str
    weight: float
    bands: tuple[Band, ...]
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Grade:
    """A score band (``min <= score < max``) mapped to a grade and its actions."""

    grade: str
    min: float | None
    max: float | None
    actions: tuple[str, ...] = ()
    severity: Severity = Severity.LOW
    confirmed: bool = True
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Score:
    """A weighted score over dimensions, graded (the AliExpress service score).

    ``average`` set: the grade is set from the mean of the daily totals, the value
    of the metric use of that name (:class:`DailyScore`), not from the totals of
    the evaluation date's facts.
    """

    id: str
    title: str
    dimensions: tuple[Dimension, ...]
    grades: tuple[Grade, ...]
    min_orders: int | None = None
    source: SourceRef | None = None
    average: str | None = None


@dataclass(frozen=True, slots=True)
class DailyScore:
    """What a ``daily_score_average`` metric use averages: a score's daily totals.

    For each whole day (UTC) of the use's window, the score is computed as it
    stands at the end of that day from ``reads`` (the uses of its dimensions, and
    ``orders`` when it has ``min_orders``), each over its own window. The use's
    value is the mean of the totals of the days the score was assessed; a
    ``Score`` with ``average`` set is graded on that value.
    """

    score: Score
    reads: tuple[MetricUse, ...]


@dataclass(frozen=True, slots=True)
class CompiledPack:
    """A validated pack in its one intermediate form."""

    id: str
    title: str
    marketplace: str
    version: str
    digest: str  # "sha256:<hex>" of the canonical form of the pack document
    mode: Mode
    metrics: tuple[MetricUse, ...]
    rules: tuple[Rule, ...]
    status_map: Mapping[str, Status]
    scores: tuple[Score, ...] = ()
    effective_from: date | None = None
    effective_until: date | None = None
    sources: tuple[SourceRef, ...] = ()
    path: str | None = None

    def metric(self, name: str) -> MetricUse:
        """The metric use called ``name`` (KeyError when the pack has none)."""
        for use in self.metrics:
            if use.name == name:
                return use
        raise KeyError(name)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError when the pack has none)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


@dataclass(frozen=True, slots=True)
class Exemption:
    """A separate document: a seller is exempt from some rules until ``expires``."""

    id: str
    pack: str
    seller_id: str
    rules: tuple[str, ...]
    reason: str
    approver: str
    expires: date
    owner: str | None = None


def condition_metrics(cond: Condition) -> tuple[str, ...]:
    """The metric names a condition reads, in first-seen order."""
    seen: dict[str, None] = {}

    def walk(c: Condition) -> None:
        if isinstance(c, Compare):
            seen.setdefault(c.metric, None)
        elif isinstance(c, AllOf | AnyOf):
            for child in c.children:
                walk(child)
        else:
            walk(c.child)

    walk(cond)
    return tuple(seen)
