"""``return_rate``, ``tracking_on_time_rate`` and ``account_age_days`` (issue #17):
hand-computed edges of docs/metrics.md."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from metrics_kit import AS_OF_NAIVE, at, counts, facts, order, source, use

from sellerpolicy.engine.metrics.compute import bad_order_dates
from sellerpolicy.rules.build import resolve_knobs
from sellerpolicy.rules.catalog import RETURN_REASONS

US = timedelta(microseconds=1)
D = timedelta(days=1)


def ret(return_id: str, order_id: str, reason: str = "damaged", when: object = None) -> dict:
    """A return of seller S1, requested 2 days before as_of unless told."""
    return {
        "return_id": return_id,
        "order_id": order_id,
        "seller_id": "S1",
        "requested_at": when or at(2),
        "reason": reason,
    }


def test_return_rate_counts_orders_once_and_only_returns_before_as_of() -> None:
    """Den: every order in the window; num: orders with a counted return before as_of."""
    con = source(
        orders=[order(f"o{i}") for i in range(1, 6)] + [order("old", ordered=at(40))],
        returns=[
            ret("r1", "o1"),
            ret("r2", "o1", "wrong_item"),  # a second return of o1: o1 counts once
            ret("r3", "o2", "changed_mind"),
            ret("r4", "o3", when=at(0)),  # at as_of: not yet requested
            ret("r5", "o4", when=at(0, hours=-1)),
            ret("r6", "old"),  # its order is outside the window
        ],
    )
    assert counts(con, use("return_rate")) == (3 / 5, 3, 5)
    seller_fault = frozenset({"not_as_described", "damaged", "wrong_item", "arrived_late"})
    assert counts(con, use("return_rate", return_reasons=seller_fault)) == (2 / 5, 2, 5)
    dates = bad_order_dates(con, use("return_rate"), at(0), "S1")
    assert len(dates) == 3


def test_return_reasons_knob_spelling() -> None:
    """Packs write a list of reasons; the default is every reason."""
    assert resolve_knobs("return_rate", {}, {}).return_reasons == frozenset(RETURN_REASONS)
    chosen = resolve_knobs("return_rate", {"return_reasons": ["damaged", "wrong_item"]}, {})
    assert chosen.return_reasons == frozenset({"damaged", "wrong_item"})


SHIP_BY = datetime(2026, 10, 20, 23, 59, 59, 999999)  # a date-only ship_by of 2026-10-20


@pytest.mark.parametrize(
    ("uploaded", "on_time"),
    [
        (SHIP_BY - US, 1),  # just before the deadline
        (SHIP_BY, 1),  # at it: within the handling time
        (SHIP_BY + US, 0),  # just after
        (None, 0),  # never uploaded
        (AS_OF_NAIVE, 0),  # uploaded at as_of: not yet
    ],
)
def test_tracking_on_time_boundary(uploaded: datetime | None, on_time: int) -> None:
    """On time when uploaded before as_of and at or before ship_by."""
    row = order("o1", ordered=at(14), ship_by=SHIP_BY, shipped_at=datetime(2026, 10, 20, 9))
    con = source(orders=[{**row, "tracking_uploaded_at": uploaded}])
    assert counts(con, use("tracking_on_time_rate")) == (float(on_time), on_time, 1)


def test_tracking_on_time_denominator() -> None:
    """Shipped before as_of with a ship_by: unshipped, shipped at as_of, no ship_by are out."""
    con = source(
        orders=[
            order("in", ship_by=at(3), shipped_at=at(4), tracking_uploaded_at=at(4)),
            order("late", ship_by=at(3), shipped_at=at(4), tracking_uploaded_at=at(2)),
            order("unshipped", ship_by=at(3)),
            order("at_as_of", ship_by=at(3), shipped_at=at(0), tracking_uploaded_at=at(4)),
            order("no_ship_by", shipped_at=at(4), tracking_uploaded_at=at(4)),
        ]
    )
    assert counts(con, use("tracking_on_time_rate")) == (0.5, 1, 2)
    assert len(bad_order_dates(con, use("tracking_on_time_rate"), at(0), "S1")) == 1


def test_require_valid_tracking() -> None:
    """With require_valid_tracking the upload must also be valid (eBay's "and validated")."""
    con = source(
        orders=[
            order("v", ship_by=at(3), shipped_at=at(4), tracking_uploaded_at=at(4),
                  tracking_valid=True),
            order("x", ship_by=at(3), shipped_at=at(4), tracking_uploaded_at=at(4),
                  tracking_valid=False),
            order("n", ship_by=at(3), shipped_at=at(4), tracking_uploaded_at=at(4)),
        ]
    )  # fmt: skip
    assert counts(con, use("tracking_on_time_rate")) == (1.0, 3, 3)
    strict = use("tracking_on_time_rate", require_valid_tracking=True)
    assert counts(con, strict) == (1 / 3, 1, 3)
    assert resolve_knobs("tracking_on_time_rate", {"require_valid_tracking": True}, {}) == (
        strict.knobs
    )


@pytest.mark.parametrize(
    ("opened", "age"),
    [
        (AS_OF_NAIVE - 90 * D, 90),
        (AS_OF_NAIVE - 90 * D + US, 89),  # not yet 90 whole days
        (AS_OF_NAIVE - 90 * D - US, 90),
        (AS_OF_NAIVE - US, 0),
        (AS_OF_NAIVE, None),  # opened at as_of: no account yet
        (AS_OF_NAIVE + D, None),
    ],
)
def test_account_age_days(opened: datetime, age: int | None) -> None:
    """Whole days from account_opened_at to as_of; null before the account exists."""
    con = source(
        orders=[order("o1")],
        sellers=[{"seller_id": "S1", "account_opened_at": opened, "marketplace": "US"}],
    )
    assert facts(con, use("account_age_days"))["S1"]["account_age_days"] == age


def test_account_age_ignores_window_and_has_no_counts() -> None:
    """A seller without a sellers row has no age; the window does not matter; no __num."""
    con = source(
        orders=[order("o1"), order("o2", seller="S2")],
        sellers=[{"seller_id": "S1", "account_opened_at": at(400)}],
    )
    rows = facts(con, use("account_age_days", days=7, lag_days=3))
    assert rows["S1"]["account_age_days"] == 400
    assert rows["S2"]["account_age_days"] is None
    assert "account_age_days__num" not in rows["S1"]
    with pytest.raises(ValueError, match="not a rate"):
        bad_order_dates(con, use("account_age_days"), at(0), "S1")
