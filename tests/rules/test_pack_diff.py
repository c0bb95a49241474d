"""``sellerpolicy diff``: a semantic diff of compiled packs, worded as a change note."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from rulekit import compile_text
from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import app
from sellerpolicy.rules import load_pack, resolve_pack
from sellerpolicy.rules.diff import describe_condition, diff_packs

AMAZON = resolve_pack("amazon")


def _texts(old: str, new: str) -> list[str]:
    return [c.text() for c in diff_packs(load_pack(old), load_pack(new))]


def test_amazon_2015_to_current_names_every_difference() -> None:
    texts = _texts("amazon-2015", "amazon")
    expected = [
        "metric use order_defect_rate lag: 30d -> none",  # the ODR lag
        "metric use order_defect_rate claim_statuses: denied, granted, open, refunded, withdrawn"
        " -> granted, refunded",  # which A-to-z claims count
        "rule late-shipment-over-target removed",  # confirmed 3 days after the order...
        "rule late-shipment-10d added",  # ...became two windows on the ship-by basis
        "rule late-shipment-30d added",
        "rule valid-tracking-below-target added",
        "rule on-time-delivery-below-target added",
        "rule response-time-below-target added",
        # Both packs now deactivate on ODR (issue 17: G200285170 names deactivation).
        "version: 2015.1.0 -> 2026.12.1",
    ]
    for text in expected:
        assert any(t.startswith(text) for t in texts), text
    added = next(t for t in texts if t.startswith("rule late-shipment-10d added"))
    assert "late_shipment_rate_10d >= 4%" in added
    basis = next(t for t in texts if t.startswith("metric use late_shipment_rate_10d added"))
    assert "late_basis ship_by" in basis
    assert "window 10d" in basis


def test_a_pack_against_itself_and_a_reformatted_copy_is_empty(tmp_path: Path) -> None:
    assert diff_packs(load_pack("amazon"), load_pack("amazon")) == []
    document = yaml.safe_load(AMAZON.read_text(encoding="utf-8"))
    document["spec"]["rules"].reverse()
    document["spec"]["metrics"].reverse()
    reformatted = yaml.safe_dump(document, sort_keys=True, default_flow_style=False, width=60)
    copy = compile_text(tmp_path, reformatted)
    assert diff_packs(load_pack("amazon"), copy) == []


def test_a_changed_threshold_reads_old_to_new(tmp_path: Path) -> None:
    text = AMAZON.read_text(encoding="utf-8")
    assert text.count("gte: 1%") == 1
    changed = compile_text(tmp_path, text.replace("gte: 1%", "gte: 1.5%"))
    assert [c.text() for c in diff_packs(load_pack("amazon"), changed)] == [
        "rule odr-over-target condition: order_defect_rate >= 1% -> order_defect_rate >= 1.5%"
    ]


def test_cli_formats_and_exit_code() -> None:
    runner = CliRunner()
    same = runner.invoke(app, ["diff", "amazon", "amazon", "--exit-code"])
    assert same.exit_code == 0
    assert "no changes" in same.output
    differ = runner.invoke(app, ["diff", "amazon-2015", "amazon", "--exit-code"])
    assert differ.exit_code == 1
    assert "Rules:" in differ.output
    as_json = json.loads(
        runner.invoke(app, ["diff", "amazon-2015", "amazon", "--format", "json"]).output
    )
    assert as_json["new"]["version"] == "2026.12.1"
    assert {c["section"] for c in as_json["changes"]} == {"metadata", "metrics", "rules", "status"}
    markdown = runner.invoke(app, ["diff", "amazon-2015", "amazon", "--format", "markdown"]).output
    assert markdown.startswith("# amazon-seller-performance-2015 2015.1.0 -> ")
    assert "## Rules" in markdown


def test_a_rate_count_reads_as_a_count_and_the_rate_as_a_percentage() -> None:
    """``.count`` compares a rate's numerator (orders): ``<= 3``, not ``<= 300%``."""
    pack = load_pack(resolve_pack("ebay"))
    top_rated = next(rule for rule in pack.rules if rule.id == "top-rated-12m")
    text = describe_condition(top_rated.when, pack)
    assert "transaction_defect_rate_12m.count <= 3)" in text
    assert "transaction_defect_rate_12m <= 0.5%" in text
    assert "count <= 300%" not in text
    assert "cases_closed_rate_12m.count <= 2 " in text
