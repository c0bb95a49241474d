"""Numbers for people, template fields and the full text report."""

from __future__ import annotations

from datetime import date

import pytest
from evalkit import amazon_like, facts, healthy_values, rate, scored_pack

from sellerpolicy.engine.evaluation.decision import Distance
from sellerpolicy.engine.evaluation.evaluate import evaluate_one
from sellerpolicy.engine.evaluation.explain import (
    Human,
    describe_distance,
    format_number,
    render_report,
    render_template,
)
from sellerpolicy.rules.model import Exemption


@pytest.mark.parametrize(
    ("value", "rate", "text"),
    [
        (0.0135, True, "1.35%"),
        (0.01, True, "1%"),
        (0.005, True, "0.5%"),
        (2000, False, "2,000"),
        (2000.0, False, "2,000"),
        (4.625, False, "4.62"),
        (None, True, "n/a"),
    ],
)
def test_format_number(value: float | None, rate: bool, text: str) -> None:
    """Rates read as percentages without trailing zeros, counts with separators."""
    assert format_number(value, rate=rate) == text


def test_template_spec_wins_over_people_formatting() -> None:
    """``{value}`` is formatted for people; ``{value:.3%}`` follows the spec."""
    fields = {"value": Human(0.0135, rate=True), "den": Human(2000)}
    assert render_template("{value} of {den}", fields) == "1.35% of 2,000"
    assert render_template("{value:.3%} of {den:d}", fields) == "1.350% of 2000"
    assert render_template("{unknown}", fields) is None


def test_full_report_lists_actions_rules_and_distances() -> None:
    """The text report shows status, flagged actions, every rule with its reason or fix."""
    values = {
        **healthy_values(),
        **rate("order_defect_rate", 27, 2000),
        "valid_tracking_rate": None,
    }
    waiver = Exemption("exm-9", "test-pack", "S1", ("odr",), "strike", "jane@example.com",
                       facts().as_of.date())  # fmt: skip
    pack = amazon_like()
    report = render_report(evaluate_one(pack, facts(**values), exemptions=[waiver]), pack)
    lines = report.splitlines()
    assert lines[0] == "Seller S1: healthy (test-pack 1.0, as of 2026-11-01)"
    assert "  lose_buy_box (high, odr) [exempt: exm-9]" in lines
    assert "    8 bad orders must leave the window or 701 good orders must be added" in lines
    assert "    metric valid_tracking_rate is null: not enough data" in lines
    assert "    the window can absorb 6 more bad orders" in lines


def test_full_report_explains_scores() -> None:
    """Scores appear dimension by dimension in the report."""
    pack = scored_pack()
    values = {"orders": 100, **rate("dispute_rate", 0, 100), "dsr_item_as_described": 4.8}
    report = render_report(evaluate_one(pack, facts(**values)), pack)
    assert "  Service score: 100 points, grade excellent" in report
    assert "    disputes: dispute_rate 0% earns 40 of 40 points" in report


def test_distance_wording_counts_singular_and_names_messages() -> None:
    """A distance of one reads 'bad order' (no plural s), and a message metric
    speaks of messages, not orders."""
    breach = Distance(excess=1, good_needed=59, clears_on=date(2026, 11, 9))
    assert describe_distance(breach) == (
        "1 bad order must leave the window (earliest 2026-11-09 if nothing new goes wrong)"
        " or 59 good orders must be added"
    )
    assert describe_distance(Distance(headroom=1), unit="message") == (
        "the window can absorb 1 more bad message"
    )
