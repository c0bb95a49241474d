"""Distance to compliance: exact integer arithmetic at the edges, and ``clears_on``."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest
from evalkit import amazon_like, day, facts, healthy_values, rate, use
from hypothesis import given
from hypothesis import strategies as st

from sellerpolicy.engine.evaluation.backends.python import compare
from sellerpolicy.engine.evaluation.decision import Distance
from sellerpolicy.engine.evaluation.evaluate import evaluate_one
from sellerpolicy.engine.evaluation.explain import clears_on, distance
from sellerpolicy.rules.model import Op

HIGH_BAD = (Op.GT, Op.GTE)


def fires(op: Op, t: float, num: int, den: int) -> bool:
    """Whether ``num/den <op> t`` holds as the back ends compare it (floats)."""
    return compare(num / den, op, t)


def add_bad(op: Op, num: int, den: int, k: int) -> tuple[int, int]:
    """Add ``k`` orders that count against the seller."""
    return (num + k, den + k) if op in HIGH_BAD else (num, den + k)


def remove_bad(op: Op, num: int, den: int, k: int) -> tuple[int, int]:
    """Remove ``k`` orders that count against the seller."""
    return (num - k, den - k) if op in HIGH_BAD else (num, den - k)


def add_good(op: Op, num: int, den: int, k: int) -> tuple[int, int]:
    """Add ``k`` orders that do not count against the seller."""
    return (num, den + k) if op in HIGH_BAD else (num + k, den + k)


thresholds = st.integers(min_value=0, max_value=10_000).map(lambda i: round(i / 10_000, 4))
ops = st.sampled_from([Op.GT, Op.GTE, Op.LT, Op.LTE])


@st.composite
def counts(draw: st.DrawFn) -> tuple[int, int]:
    """A numerator and a positive denominator."""
    den = draw(st.integers(min_value=1, max_value=5_000))
    return draw(st.integers(min_value=0, max_value=den)), den


@st.composite
def edge_cases(draw: st.DrawFn) -> tuple[float, tuple[int, int]]:
    """A threshold and counts exactly at it, or one order off."""
    t = draw(thresholds)
    exact = Fraction(repr(t))
    m = draw(st.integers(min_value=1, max_value=50))
    den = m * exact.denominator
    num = m * exact.numerator + draw(st.sampled_from([-1, 0, 1]))
    return t, (min(max(num, 0), den), den)


@given(op=ops, case=edge_cases())
def test_distance_exact_at_the_threshold(op: Op, case: tuple[float, tuple[int, int]]) -> None:
    """Counts exactly at the threshold (or one off) get exact headroom and excess."""
    t, (num, den) = case
    check_headroom(op, t, num, den)
    check_excess_and_good_needed(op, t, num, den)


@given(op=ops, t=thresholds, nd=counts())
def test_headroom_is_exact(op: Op, t: float, nd: tuple[int, int]) -> None:
    """For a passing rule, ``headroom`` bad orders keep it passing and one more fires it."""
    check_headroom(op, t, *nd)


@given(op=ops, t=thresholds, nd=counts())
def test_excess_and_good_needed_are_exact(op: Op, t: float, nd: tuple[int, int]) -> None:
    """A firing rule clears with ``excess`` removals or ``good_needed`` additions, not one less."""
    check_excess_and_good_needed(op, t, *nd)


def check_headroom(op: Op, t: float, num: int, den: int) -> None:
    """Headroom keeps a passing rule passing; one more bad order fires it."""
    if fires(op, t, num, den):
        return
    d = distance(op, t, num, den, fired=False)
    assert d is not None
    if d.headroom is None:  # unbounded: even many bad orders never fire it
        assert not fires(op, t, *add_bad(op, num, den, 10 * den + 10_000))
        return
    assert not fires(op, t, *add_bad(op, num, den, d.headroom))
    assert fires(op, t, *add_bad(op, num, den, d.headroom + 1))


def check_excess_and_good_needed(op: Op, t: float, num: int, den: int) -> None:
    """Excess removals or good additions clear a firing rule; one less does not."""
    if not fires(op, t, num, den):
        return
    d = distance(op, t, num, den, fired=True) or Distance()
    bad = num if op in HIGH_BAD else den - num
    if d.excess is None:
        assert all(fires(op, t, *remove_bad(op, num, den, k)) for k in range(min(bad, den - 1) + 1))
    else:
        assert 0 < d.excess <= bad
        assert not fires(op, t, *remove_bad(op, num, den, d.excess))
        assert fires(op, t, *remove_bad(op, num, den, d.excess - 1))
    if d.good_needed is None:
        assert fires(op, t, *add_good(op, num, den, 10 * den + 10_000))
    else:
        assert not fires(op, t, *add_good(op, num, den, d.good_needed))
        assert fires(op, t, *add_good(op, num, den, d.good_needed - 1))


@pytest.mark.parametrize(
    ("op", "t", "num", "den", "expected"),
    [
        (Op.GTE, 0.01, 9, 1000, Distance(headroom=1)),  # 10/1001 < 1% <= 11/1002
        (Op.GTE, 0.01, 5, 1000, Distance(headroom=5)),
        (Op.GT, 0.01, 10, 1000, Distance(headroom=0)),
        (Op.GTE, 0.01, 10, 1000, Distance(excess=1, good_needed=1)),
        (Op.GTE, 0.01, 27, 2000, Distance(excess=8, good_needed=701)),
        (Op.LT, 0.95, 360, 400, Distance(excess=22, good_needed=400)),
        (Op.LT, 0.95, 390, 400, Distance(headroom=10)),
        (Op.EQ, 0.5, 1, 2, None),
    ],
)
def test_distance_examples(op: Op, t: float, num: int, den: int, expected: Distance | None) -> None:
    """Worked examples of headroom, excess and good orders needed."""
    fired = compare(num / den, op, t)
    assert distance(op, t, num, den, fired=fired) == expected


def test_clears_on_counts_window_and_lag() -> None:
    """A bad order of day D leaves a 10-day window lagged 2 days from D+13 on."""
    metric_use = use("late_shipment_rate_10d", window=10, lag=2)
    dates = [day("2026-10-25"), day("2026-10-20"), day("2026-10-28")]
    assert clears_on(dates, 2, metric_use) == day("2026-11-07")  # 10-25 + 1 + 10 + 2
    assert clears_on(dates, 4, metric_use) is None


def test_clears_on_rounds_hour_windows_up_to_midnight() -> None:
    """With a 36-hour window an order of day D is gone from midnight D+3 on."""
    metric_use = use("late_shipment_rate_10d")
    hours = type(metric_use)(
        metric_use.name, metric_use.metric, metric_use.kind, timedelta(hours=36), timedelta(0)
    )
    assert clears_on([day("2026-10-30")], 1, hours) == day("2026-11-02")


class Evidence:
    """Bad-order dates for one metric."""

    def bad_order_dates(self, seller_id: str, metric_name: str) -> list[date]:
        assert (seller_id, metric_name) == ("S1", "late_shipment_rate_10d")
        return [day(f"2026-10-{d:02d}") for d in range(22, 32)] * 2


def test_decision_carries_distance_and_clears_on() -> None:
    """A firing rate rule reports excess, good orders needed and when it clears."""
    values = {**healthy_values(), **rate("late_shipment_rate_10d", 20, 400)}
    result = evaluate_one(amazon_like(), facts(**values), evidence=Evidence()).rule("late")
    assert result.distance == Distance(excess=5, good_needed=101, clears_on=day("2026-11-04"))
    passing = evaluate_one(amazon_like(), facts(**healthy_values())).rule("late")
    assert passing.distance == Distance(headroom=6)


def test_compound_rule_has_no_distance() -> None:
    """Only a single rate leaf gets a distance; compound conditions get none."""
    decision = evaluate_one(amazon_like(), facts(**healthy_values()))
    assert decision.rule("ontime-and-volume").distance is None
