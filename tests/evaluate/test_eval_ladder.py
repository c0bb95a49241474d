"""Escalation ladders: streaks from history, lapse, and the step a firing reaches."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from evalkit import AS_OF, amazon_like, day, facts, healthy_values, rate

from sellerpolicy.engine.evaluation.decision import Outcome
from sellerpolicy.engine.evaluation.evaluate import (
    Firing,
    HistoryFromRecords,
    evaluate_one,
    ladder_actions,
    streak_length,
)
from sellerpolicy.rules.model import Ladder, Status

LATE = {**healthy_values(), **rate("late_shipment_rate_10d", 20, 400)}


def earlier(*days_before: int, rule: str = "late", seller: str = "S1") -> list[Firing]:
    """Firings of a rule the given numbers of days before ``AS_OF``."""
    return [Firing(seller, rule, AS_OF.date() - timedelta(days=n)) for n in days_before]


@pytest.mark.parametrize(
    ("history", "streak", "actions", "status"),
    [
        ((), 0, ["warn"], Status.HEALTHY),
        ((30,), 1, ["restrict_listings"], Status.AT_RISK),
        ((30, 60), 2, ["restrict_listings"], Status.AT_RISK),
        ((30, 60, 90), 3, ["suspend"], Status.CRITICAL),
        ((30, 60, 90, 120, 150), 5, ["suspend"], Status.CRITICAL),
    ],
)
def test_ladder_escalates_with_consecutive_firings(
    history: tuple[int, ...], streak: int, actions: list[str], status: Status
) -> None:
    """The n-th consecutive firing takes the actions of the highest step reached."""
    pack = amazon_like()
    lookup = HistoryFromRecords(earlier(*history), pack)
    decision = evaluate_one(pack, facts(**LATE), history=lookup)
    assert decision.rule("late").streak == streak
    assert [a.action for a in decision.actions] == actions
    assert decision.status is status


def test_lapsed_streak_starts_over() -> None:
    """A gap of 181 days ends a 180-day streak; exactly 180 days keeps it."""
    pack = amazon_like()
    kept = HistoryFromRecords(earlier(180), pack)
    lapsed = HistoryFromRecords(earlier(181), pack)
    assert evaluate_one(pack, facts(**LATE), history=kept).rule("late").streak == 1
    assert evaluate_one(pack, facts(**LATE), history=lapsed).rule("late").streak == 0


def test_history_of_other_sellers_and_rules_is_ignored() -> None:
    """Only the seller's own firings of the same rule count toward its streak."""
    pack = amazon_like()
    lookup = HistoryFromRecords(earlier(10, seller="S2") + earlier(20, rule="odr"), pack)
    assert evaluate_one(pack, facts(**LATE), history=lookup).rule("late").streak == 0


def test_rule_not_firing_takes_no_ladder_step() -> None:
    """A long history does not act on a seller whose rule does not fire now."""
    pack = amazon_like()
    lookup = HistoryFromRecords(earlier(1, 2, 3, 4), pack)
    decision = evaluate_one(pack, facts(**healthy_values()), history=lookup)
    assert decision.rule("late").outcome is Outcome.NOT_MATCHED
    assert decision.actions == ()


def test_streak_length_walks_back_until_a_gap_of_lapse() -> None:
    """Gaps up to the lapse chain firings; same-day and later firings are not earlier ones."""
    lapse = timedelta(days=10)
    as_of = day("2026-11-01")
    firings = [day(d) for d in ("2026-10-25", "2026-10-25", "2026-10-16", "2026-10-01")]
    assert streak_length(firings, as_of, lapse) == 2  # 10-25, 10-16; the 15-day gap ends it
    assert streak_length([as_of, day("2026-11-05")], as_of, lapse) == 0
    assert streak_length([day("2026-10-22")], as_of, lapse) == 1  # exactly the lapse
    assert streak_length([day("2026-10-21")], as_of, lapse) == 0


def test_ladder_below_first_step_uses_rule_actions() -> None:
    """A ladder whose first step starts later leaves earlier firings with the rule's actions."""
    pack = amazon_like()
    rule = pack.rule("late")
    assert rule.escalation is not None
    late_start = Ladder(rule.escalation.steps[1:], rule.escalation.lapse)
    shifted = replace(rule, escalation=late_start)
    assert ladder_actions(shifted, 1) == ("warn",)
    assert ladder_actions(shifted, 2) == ("restrict_listings",)
