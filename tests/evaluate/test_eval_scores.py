"""Scores: band points times weight, totals, grades and their actions, not assessed."""

from __future__ import annotations

from dataclasses import replace

from evalkit import day, facts, rate, scored_pack

from sellerpolicy.engine.evaluation.evaluate import evaluate_one
from sellerpolicy.rules.model import Exemption, Mode, Status


def seller(disputes: int, dsr: float | None, orders: int = 100) -> dict[str, float | int | None]:
    """Facts for the score pack."""
    return {
        "orders": orders,
        **rate("dispute_rate", disputes, orders),
        "dsr_item_as_described": dsr,
    }


def test_full_points_earn_excellent_and_its_action() -> None:
    """All best bands give 100 points, grade excellent and its ``promote`` action."""
    decision = evaluate_one(scored_pack(), facts(**seller(0, 4.8)))
    score = decision.score("service-score")
    assert (score.total, score.grade) == (100, "excellent")
    assert [d.points for d in score.dimensions] == [40, 60]
    assert [(a.action, a.rule, a.value) for a in decision.actions] == [
        ("promote", "service-score", 100)
    ]
    assert decision.status is Status.HEALTHY


def test_band_lower_bound_inclusive_upper_exclusive() -> None:
    """A value equal to a band's upper bound falls in the next band (1% is not ``lt 1%``)."""
    score = evaluate_one(scored_pack(), facts(**seller(1, 4.7))).score("service-score")
    assert [d.points for d in score.dimensions] == [20, 60]
    assert (score.total, score.grade) == (80, "good")


def test_fail_grade_sets_status_from_its_actions() -> None:
    """A failing total takes the fail grade, its actions and the status they map to."""
    decision = evaluate_one(scored_pack(), facts(**seller(5, 4.6)))
    score = decision.score("service-score")
    assert (score.total, score.grade) == (30, "fail")
    assert [a.action for a in decision.actions] == ["demote"]
    assert decision.status is Status.AT_RISK
    assert score.explanation is not None
    assert "grade cut-offs unconfirmed" in score.explanation


def test_score_explained_dimension_by_dimension() -> None:
    """The score explanation lists each dimension's value and the points it earned."""
    score = evaluate_one(scored_pack(), facts(**seller(2, 4.55))).score("service-score")
    assert score.explanation == (
        "Service score: 50 points, grade fail\n"
        "  disputes: dispute_rate 2% earns 20 of 40 points\n"
        "  described: dsr_item_as_described 4.55 earns 30 of 60 points\n"
        "  grade cut-offs unconfirmed"
    )


def test_below_min_orders_is_not_assessed() -> None:
    """Under the score's ``min_orders`` there is no total, no grade and no action."""
    decision = evaluate_one(scored_pack(), facts(**seller(0, 4.8, orders=29)))
    score = decision.score("service-score")
    assert (score.total, score.grade) == (None, None)
    assert score.reason == "only 29 orders, score needs 30"
    assert decision.actions == ()


def test_null_dimension_metric_is_named() -> None:
    """A dimension whose metric is null makes the score not assessed, naming it."""
    score = evaluate_one(scored_pack(), facts(**seller(0, None))).score("service-score")
    assert score.total is None
    assert score.reason == (
        "dimension described: metric dsr_item_as_described is null: not enough data"
    )
    assert [d.points for d in score.dimensions] == [40, None]


def test_grade_actions_can_be_exempted_and_shadowed() -> None:
    """Grade actions follow the pack mode and exemptions naming the score id."""
    fail = facts(**seller(5, 4.6))
    waiver = Exemption(
        "exm-3",
        "score-pack",
        "S1",
        ("service-score",),
        "audit",
        "jane@example.com",
        day("2026-11-30"),
    )
    exempt = evaluate_one(scored_pack(), fail, exemptions=[waiver])
    assert [(a.action, a.enforced, a.exemption) for a in exempt.actions] == [
        ("demote", False, "exm-3")
    ]
    assert exempt.status is Status.HEALTHY
    shadow = evaluate_one(replace(scored_pack(), mode=Mode.SHADOW), fail)
    assert [(a.action, a.enforced) for a in shadow.actions] == [("demote", False)]
    assert shadow.status is Status.HEALTHY
