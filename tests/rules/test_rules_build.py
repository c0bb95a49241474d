"""Stage 4: compiling a checked pack into the typed intermediate form."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from rulekit import EXAMPLE, VALID, compile_text, variant, write

from sellerpolicy.rules import (
    AllOf,
    Compare,
    Field,
    Mode,
    NotOf,
    Op,
    PackError,
    Severity,
    Status,
    check_document,
    load_exemption,
    load_pack,
    load_packtest,
)
from sellerpolicy.rules.build import resolve_knobs
from sellerpolicy.rules.catalog import LateBasis
from sellerpolicy.rules.thresholds import to_fraction


@pytest.mark.parametrize(
    ("written", "fraction"),
    [("1%", 0.01), ("0.5%", 0.005), ("2.5%", 0.025), ("1.1%", 0.011), ("0.01", 0.01), ("0", 0.0)],
)
def test_percent_and_fraction_compile_to_the_same_threshold(
    tmp_path: Path, written: str, fraction: float
) -> None:
    """'1%' and 0.01 give the same float, exactly (no 0.011000000000000001)."""
    pack = compile_text(tmp_path, variant("gte: 1%}", f"gte: {written}}}"))
    leaf = pack.rules[0].when
    assert isinstance(leaf, Compare)
    assert leaf.threshold == fraction
    assert to_fraction(written if written.endswith("%") else float(written)) == fraction


def test_rule_fields_compile(tmp_path: Path) -> None:
    """Ids, severities, actions, lines and defaults land in the Rule."""
    pack = compile_text(tmp_path, VALID)
    odr = pack.rule("odr-over-target")
    assert odr.severity is Severity.HIGH
    assert odr.actions == ("lose_buy_box",)
    assert odr.mode is Mode.ENFORCE
    assert odr.line == 19
    assert odr.when == Compare("order_defect_rate", Op.GTE, 0.01, Field.VALUE)
    assert pack.status_map == {"lose_buy_box": Status.AT_RISK, "warn": Status.HEALTHY}
    assert pack.effective_from == date(2026, 1, 1)
    assert pack.digest.startswith("sha256:")
    assert pack.path == str(tmp_path / "pack.yaml")


def test_mode_is_inherited_and_overridden(tmp_path: Path) -> None:
    """spec.mode applies to every rule unless the rule sets its own."""
    text = variant("spec:\n", "spec:\n  mode: shadow\n")
    text = variant("      severity: low\n", "      severity: low\n      mode: enforce\n", text)
    pack = compile_text(tmp_path, text)
    assert pack.mode is Mode.SHADOW
    assert pack.rule("odr-over-target").mode is Mode.SHADOW
    assert pack.rule("late-shipments").mode is Mode.ENFORCE


def test_knob_resolution_order(tmp_path: Path) -> None:
    """A use's knob wins over the pack's, which wins over the catalog default."""
    text = variant(
        "spec:\n", "spec:\n  knobs: {claim_statuses: [granted], negative_max_rating: 1}\n"
    )
    text = variant(
        "      window: 60d\n", "      window: 60d\n      knobs: {negative_max_rating: 3}\n", text
    )
    pack = compile_text(tmp_path, text)
    knobs = pack.metric("order_defect_rate").knobs
    assert knobs.negative_max_rating == 3  # use
    assert knobs.claim_statuses == frozenset({"granted"})  # pack
    assert knobs.chargeback_kinds == frozenset({"service"})  # catalog


def test_catalog_default_differs_per_metric() -> None:
    """transaction_defect_rate's own default (granted) beats the Knobs default (all)."""
    knobs = resolve_knobs("transaction_defect_rate", {}, {})
    assert knobs.claim_statuses == frozenset({"granted"})
    late = resolve_knobs("late_shipment_rate", {"late_basis": "hours_after_order"}, {})
    assert late.late_basis is LateBasis.HOURS_AFTER_ORDER
    assert late.late_after == timedelta(hours=48)


def test_pack_knobs_do_not_touch_metrics_that_do_not_list_them(tmp_path: Path) -> None:
    """A pack-wide claim_statuses leaves late_shipment_rate's knobs at their defaults."""
    text = variant("spec:\n", "spec:\n  knobs: {claim_statuses: [granted], late_after: 72h}\n")
    pack = compile_text(tmp_path, text)
    late = pack.metric("late_shipment_rate_10d")
    assert late.knobs.late_after == timedelta(hours=72)
    assert late.knobs.claim_statuses == frozenset(
        {"open", "granted", "refunded", "denied", "withdrawn"}
    )


def test_implicit_orders_use_shares_the_odr_window(tmp_path: Path) -> None:
    """A rule reading 'orders' without declaring it gets the ODR window and lag."""
    text = variant("      window: 60d\n", "      window: 60d\n      lag: 30d\n")
    text = variant(
        "{metric: order_defect_rate, gte: 1%}",
        "{all: [{metric: order_defect_rate, gte: 1%}, {metric: orders, gte: 100}]}",
        text,
    )
    pack = compile_text(tmp_path, text)
    orders = pack.metric("orders")
    assert (orders.window, orders.lag) == (timedelta(days=60), timedelta(days=30))
    assert isinstance(pack.rules[0].when, AllOf)


def test_implicit_orders_without_odr_defaults_to_30_days(tmp_path: Path) -> None:
    """Without an ODR use, the implicit orders window is 30 days."""
    text = variant("    - metric: order_defect_rate\n", "    - metric: claim_rate\n")
    text = variant("{metric: order_defect_rate, gte: 1%}", "{not: {metric: orders, lt: 5}}", text)
    pack = compile_text(tmp_path, text)
    assert pack.metric("orders").window == timedelta(days=30)
    assert pack.metric("orders").lag == timedelta(0)
    assert isinstance(pack.rules[0].when, NotOf)


def test_ladder_compiles(tmp_path: Path) -> None:
    """Escalation steps and lapse become a Ladder."""
    text = variant(
        "      severity: high\n",
        "      severity: high\n      escalation:\n        lapse: 180d\n        steps:\n"
        "          - {after: 1, actions: [warn]}\n"
        "          - {after: 3, actions: [lose_buy_box]}\n",
    )
    ladder = compile_text(tmp_path, text).rules[0].escalation
    assert ladder is not None
    assert ladder.lapse == timedelta(days=180)
    assert [(s.after, s.actions) for s in ladder.steps] == [(1, ("warn",)), (3, ("lose_buy_box",))]


def test_grades_become_min_max_and_bands_fractions() -> None:
    """Grade gte/lt become min/max; band percents become fractions."""
    pack = load_pack(EXAMPLE)
    score = pack.scores[0]
    assert [(g.grade, g.min, g.max) for g in score.grades] == [
        ("excellent", 90.0, None),
        ("good", 60.0, 90.0),
        ("fail", None, 60.0),
    ]
    assert [(b.lower, b.upper, b.points) for b in score.dimensions[0].bands] == [
        (None, 0.01, 1.0),
        (0.01, 0.03, 0.5),
        (0.03, None, 0.0),
    ]
    assert score.grades[2].severity is Severity.HIGH
    assert score.grades[1].confirmed is True


def test_load_pack_raises_with_every_diagnostic(tmp_path: Path) -> None:
    """load_pack raises one PackError carrying all errors, sorted."""
    text = variant("[warn]", "[warm]")
    text = variant("gte: 1%}", "gte: 150%}", text)
    with pytest.raises(PackError) as raised:
        load_pack(write(tmp_path, text))
    assert [d.code for d in raised.value.diagnostics] == [
        "threshold_out_of_range",
        "unknown_action",
    ]
    assert "(and 1 more)" in str(raised.value)


EXEMPTION = """\
apiVersion: sellerpolicy/v1
kind: PolicyExemption
metadata: {id: exm-2026-0042}
spec:
  pack: small-pack
  seller_id: S000123
  rules: [late-shipments]
  reason: Carrier strike
  approver: jane.doe@example.com
  owner: compliance-eu
  expires: 2026-12-31
"""


def test_exemption_loads(tmp_path: Path) -> None:
    """An exemption document becomes an Exemption value."""
    exemption = load_exemption(write(tmp_path, EXEMPTION, "exm.yaml"))
    assert exemption.rules == ("late-shipments",)
    assert exemption.expires == date(2026, 12, 31)
    assert exemption.owner == "compliance-eu"


def test_exemption_errors_are_located(tmp_path: Path) -> None:
    """A bad exemption is rejected with located schema and calendar errors, together."""
    text = EXEMPTION.replace("expires: 2026-12-31", "expires: 2026-02-31").replace(
        "  approver: jane.doe@example.com\n", ""
    )
    with pytest.raises(PackError) as raised:
        load_exemption(write(tmp_path, text, "exm.yaml"))
    assert [(d.code, d.json_path) for d in raised.value.diagnostics] == [
        ("schema_required", "$.spec"),
        ("invalid_date", "$.spec.expires"),
    ]
    text = EXEMPTION.replace("expires: 2026-12-31", "expires: 2026-02-31")
    with pytest.raises(PackError) as raised:
        load_exemption(write(tmp_path, text, "exm.yaml"))
    assert [(d.code, d.line, d.column) for d in raised.value.diagnostics] == [
        ("invalid_date", 11, 12)
    ]


PACKTEST = """\
apiVersion: sellerpolicy/v1
kind: PackTest
metadata: {pack: small-pack}
cases:
  - name: ODR exactly at 1% fires
    facts:
      order_defect_rate: 0.01
      order_defect_rate__num: 10
      order_defect_rate__den: 1000
      late_shipment_rate_10d: null
    expect:
      status: at_risk
      actions: [lose_buy_box]
      rules: {odr-over-target: matched, late-shipments: not_assessed}
  - name: streak
    as_of: 2026-11-01
    seller_id: S1
    facts: {order_defect_rate: 0}
    history: [{rule: odr-over-target, as_of: 2026-10-01}]
    exemptions: [{rules: [late-shipments], expires: 2026-12-31}]
    expect:
      grade: {service-score: excellent}
"""


def test_packtest_document_loads_as_typed_cases(tmp_path: Path) -> None:
    """PackTest files become PackTestDoc/PackTestCase values with lines and expectations."""
    doc = load_packtest(write(tmp_path, PACKTEST, "cases.yaml"))
    assert doc.pack == "small-pack"
    first, second = doc.cases
    assert first.line == 5
    assert second.line == 15
    assert first.facts["order_defect_rate__den"] == 1000
    assert first.facts["late_shipment_rate_10d"] is None
    assert first.expect_status == "at_risk"
    assert first.expect_actions == ("lose_buy_box",)
    assert first.expect_rules == {"odr-over-target": "matched", "late-shipments": "not_assessed"}
    assert second.expect_actions is None
    assert second.expect_grades == {"service-score": "excellent"}
    assert [(h.rule, h.as_of) for h in second.history] == [("odr-over-target", date(2026, 10, 1))]
    assert second.exemptions[0].seller_id == "S1"
    assert second.exemptions[0].pack == "small-pack"
    assert second.as_of == date(2026, 11, 1)


def test_check_document_dispatches_on_kind(tmp_path: Path) -> None:
    """check_document picks the schema from 'kind' and falls back to the default."""
    exemption, found = check_document(write(tmp_path, EXEMPTION, "e.yaml"))
    assert found == []
    assert type(exemption).__name__ == "Exemption"
    fixture, _ = check_document(write(tmp_path, PACKTEST, "t.yaml"))
    assert type(fixture).__name__ == "PackTestDoc"
    _, found = check_document(write(tmp_path, "cases: []\n", "n.yaml"), "PackTest")
    assert {d.json_path for d in found} >= {"$.cases", "$"}
