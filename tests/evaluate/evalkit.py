"""Compiled packs built directly (no YAML) for the evaluation tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from textwrap import dedent

from sellerpolicy.engine.metrics.facts import Number, SellerFacts
from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import (
    AllOf,
    Band,
    Compare,
    CompiledPack,
    Dimension,
    Field,
    Grade,
    Ladder,
    LadderStep,
    MetricUse,
    Mode,
    Op,
    Rule,
    Score,
    Severity,
    Status,
)

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def use(name: str, kind: MetricKind = MetricKind.RATE, window: int = 30, lag: int = 0) -> MetricUse:
    """A metric use named after its catalog metric."""
    metric = name.removesuffix("_10d").removesuffix("_30d")
    return MetricUse(name, metric, kind, timedelta(days=window), timedelta(days=lag))


def rule(
    rule_id: str,
    metric: str,
    op: Op,
    threshold: float,
    *,
    actions: tuple[str, ...] = ("warn",),
    severity: Severity = Severity.MEDIUM,
    min_orders: int | None = None,
    mode: Mode = Mode.ENFORCE,
    ladder: Ladder | None = None,
    explanation: str = "{metric} {value} ({num} of {den} orders, {window_start} to {window_end})",
) -> Rule:
    """A one-leaf rule."""
    return Rule(
        id=rule_id,
        title=f"{metric} {op.value} {threshold}",
        when=Compare(metric, op, threshold),
        actions=actions,
        severity=severity,
        explanation=explanation,
        mode=mode,
        min_orders=min_orders,
        escalation=ladder,
    )


STATUS = {
    "warn": Status.HEALTHY,
    "restrict_listings": Status.AT_RISK,
    "lose_buy_box": Status.AT_RISK,
    "suspend": Status.CRITICAL,
    "promote": Status.HEALTHY,
    "demote": Status.AT_RISK,
}

LADDER = Ladder(
    steps=(
        LadderStep(1, ("warn",)),
        LadderStep(2, ("restrict_listings",)),
        LadderStep(4, ("suspend",)),
    ),
    lapse=timedelta(days=180),
)


def amazon_like(mode: Mode = Mode.ENFORCE) -> CompiledPack:
    """A small pack shaped like the Amazon one: ODR, late shipment, tracking, a ladder."""
    return CompiledPack(
        id="test-pack",
        title="Test pack",
        marketplace="test",
        version="1.0",
        digest="sha256:" + "0" * 64,
        mode=mode,
        metrics=(
            use("orders", MetricKind.COUNT, window=60),
            use("order_defect_rate", window=60),
            use("late_shipment_rate_10d", window=10),
            use("valid_tracking_rate"),
            use("on_time_delivery_rate", window=14, lag=7),
        ),
        rules=(
            rule(
                "odr",
                "order_defect_rate",
                Op.GTE,
                0.01,
                actions=("lose_buy_box",),
                severity=Severity.HIGH,
                min_orders=100,
                explanation=(
                    "Order defect rate {value} ({num} of {den} orders placed {window_start} "
                    "to {window_end}) is above the {threshold} target"
                ),
            ),
            rule("late", "late_shipment_rate_10d", Op.GTE, 0.04, ladder=LADDER),
            rule(
                "tracking",
                "valid_tracking_rate",
                Op.LT,
                0.95,
                actions=("restrict_listings",),
                severity=Severity.MEDIUM,
            ),
            Rule(
                id="ontime-and-volume",
                title="On-time delivery under 90% over at least 5 on-time orders",
                when=AllOf(
                    (
                        Compare("on_time_delivery_rate", Op.LT, 0.9),
                        Compare("on_time_delivery_rate", Op.GTE, 5, Field.COUNT),
                    )
                ),
                actions=("warn",),
                severity=Severity.LOW,
                explanation="On-time {value}",
            ),
        ),
        status_map=STATUS,
    )


def scored_pack() -> CompiledPack:
    """A pack with one AliExpress-like score and no rules."""
    bands_bad = (Band(1.0, upper=0.01), Band(0.5, lower=0.01, upper=0.03), Band(0.0, lower=0.03))
    bands_dsr = (Band(1.0, lower=4.7), Band(0.5, lower=4.5, upper=4.7), Band(0.0, upper=4.5))
    return CompiledPack(
        id="score-pack",
        title="Score pack",
        marketplace="test",
        version="1.0",
        digest="sha256:" + "1" * 64,
        mode=Mode.ENFORCE,
        metrics=(
            use("orders", MetricKind.COUNT),
            use("dispute_rate"),
            use("dsr_item_as_described", MetricKind.AVERAGE),
        ),
        rules=(),
        status_map=STATUS,
        scores=(
            Score(
                id="service-score",
                title="Service score",
                min_orders=30,
                dimensions=(
                    Dimension("disputes", "dispute_rate", 40, bands_bad),
                    Dimension("described", "dsr_item_as_described", 60, bands_dsr),
                ),
                grades=(
                    Grade("excellent", 90, None, ("promote",)),
                    Grade("good", 80, 90),
                    Grade("pass", 60, 80),
                    Grade("fail", None, 60, ("demote",), Severity.HIGH, confirmed=False),
                ),
            ),
        ),
    )


def facts(seller: str = "S1", as_of: datetime = AS_OF, **values: Number | None) -> SellerFacts:
    """Seller facts from keyword values."""
    return SellerFacts(seller, as_of, dict(values))


def rate(name: str, num: int, den: int) -> Mapping[str, Number | None]:
    """A rate with its counts, as metric facts carry it."""
    return {name: num / den if den else None, f"{name}__num": num, f"{name}__den": den}


def healthy_values() -> dict[str, Number | None]:
    """Facts on which no rule of :func:`amazon_like` fires."""
    return {
        "orders": 2000,
        **rate("order_defect_rate", 5, 2000),
        **rate("late_shipment_rate_10d", 10, 400),
        **rate("valid_tracking_rate", 390, 400),
        **rate("on_time_delivery_rate", 300, 320),
    }


def day(text: str) -> date:
    """A date from ISO text."""
    return date.fromisoformat(text)


# A tiny pack as YAML, with fixtures, for the pack-test runner and the CLI.

PACK = """\
apiVersion: sellerpolicy/v1
kind: PolicyPack
metadata:
  id: tiny-pack
  title: Tiny pack
  marketplace: test
  version: "1.0"
  effective_from: 2026-01-01
  sources:
    - {url: https://example.com/policy, checked: 2026-11-01}
spec:
  metrics:
    - metric: orders
      window: 60d
    - metric: order_defect_rate
      window: 60d
    - metric: valid_tracking_rate
      window: 30d
  rules:
    - id: odr-over-target
      title: ODR at or above 1%
      when: {metric: order_defect_rate, gte: 1%}
      min_orders: 100
      actions: [lose_buy_box]
      severity: high
      explanation: "ODR {value} ({num} of {den})"
      escalation:
        lapse: 180d
        steps:
          - {after: 1, actions: [lose_buy_box]}
          - {after: 2, actions: [suspend]}
    - id: tracking-under-target
      title: Valid tracking under 95%
      when: {metric: valid_tracking_rate, lt: 95%}
      actions: [warn]
      severity: low
      explanation: "Tracking {value}"
  status: {warn: healthy, lose_buy_box: at_risk, suspend: critical}
"""

CASES = """\
apiVersion: sellerpolicy/v1
kind: PackTest
metadata: {pack: tiny-pack}
cases:
  - name: ODR exactly at 1% fires
    facts: {orders: 1000, order_defect_rate: 0.01, order_defect_rate__num: 10,
            order_defect_rate__den: 1000}
    expect:
      status: at_risk
      actions: [lose_buy_box]
      rules: {odr-over-target: matched, tracking-under-target: not_assessed}
  - name: second firing escalates
    facts: {orders: 1000, order_defect_rate: 0.02, order_defect_rate__num: 20,
            order_defect_rate__den: 1000}
    history: [{rule: odr-over-target, as_of: 2026-10-01}]
    expect: {status: critical, actions: [suspend]}
  - name: exempted
    facts: {orders: 1000, order_defect_rate: 0.02, order_defect_rate__num: 20,
            order_defect_rate__den: 1000}
    exemptions: [{rules: [odr-over-target], expires: 2026-12-31}]
    expect: {status: healthy, actions: []}
"""

FAILING = """\
apiVersion: sellerpolicy/v1
kind: PackTest
metadata: {pack: tiny-pack}
cases:
  - name: wrong expectations
    facts: {orders: 1000, order_defect_rate: 0.01, order_defect_rate__num: 10,
            order_defect_rate__den: 1000, order_defect_rat: 0.5}
    expect:
      status: healthy
      actions: [warn]
      rules: {odr-over-target: not_matched, no-such-rule: matched}
"""


def write_pack(root: Path, *fixtures: tuple[str, str], name: str = "tiny") -> Path:
    """A pack folder with fixture files; returns its pack.yaml."""
    folder = root / name
    (folder / "tests").mkdir(parents=True)
    (folder / "pack.yaml").write_text(PACK)
    for file_name, text in fixtures:
        (folder / "tests" / file_name).write_text(dedent(text))
    return folder / "pack.yaml"
