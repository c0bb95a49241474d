"""``completed_dispute_rate`` (issue #17): AliExpress's dispute rate, counted by event.

Disputes opened in the window among the orders delivered (confirmed received)
or disputed in the window, whenever they were placed. The window here is the
30 days before 2026-11-01: [2026-10-02, 2026-11-01).
"""

from __future__ import annotations

from datetime import datetime

from metrics_kit import at, counts, order, source, use

US_BEFORE_START = datetime(2026, 10, 1, 23, 59, 59, 999999)
START = datetime(2026, 10, 2)
LAST = datetime(2026, 10, 31, 23, 59, 59, 999999)
END = datetime(2026, 11, 1)
RATE = use("completed_dispute_rate")


def _dispute(order_id: str, opened: datetime, kind: str = "not_received") -> dict[str, object]:
    return {"dispute_id": f"D-{order_id}", "order_id": order_id, "seller_id": "S1",
            "opened_at": opened, "kind": kind}  # fmt: skip


def test_an_order_placed_long_before_counts_when_delivered_in_the_window() -> None:
    """Placed 90 days before, delivered in the window: in the denominator."""
    con = source(
        orders=[
            order("old", ordered=at(90), delivered_at=at(10)),
            order("new", ordered=at(3)),  # placed in the window, not delivered: not counted
        ]
    )
    assert counts(con, RATE) == (0.0, 0, 1)


def test_the_window_edges_by_delivery() -> None:
    """Delivered at the first instant and the last instant count; a microsecond before the
    window and at its end (as_of) do not."""
    con = source(
        orders=[
            order("before", ordered=at(60), delivered_at=US_BEFORE_START),
            order("first", ordered=at(60), delivered_at=START),
            order("last", ordered=at(60), delivered_at=LAST),
            order("end", ordered=at(60), delivered_at=END),
        ]
    )
    assert counts(con, RATE) == (0.0, 0, 2)


def test_a_dispute_in_the_window_counts_on_an_undelivered_or_old_order() -> None:
    """An order disputed in the window is in both counts, delivered or not, placed in the
    window or long before; a dispute opened before the window does not count, though the
    order's delivery in the window keeps it in the denominator."""
    con = source(
        orders=[
            order("undelivered", ordered=at(20)),
            order("old", ordered=at(120), delivered_at=at(100)),
            order("early", ordered=at(50), delivered_at=at(5)),
            order("quiet", ordered=at(50), delivered_at=at(5)),
        ],
        disputes=[
            _dispute("undelivered", at(2)),
            _dispute("old", START),
            _dispute("early", US_BEFORE_START),
        ],
    )
    assert counts(con, RATE) == (2 / 4, 2, 4)


def test_only_the_counted_kinds() -> None:
    """An INR-only use: a not-as-described dispute neither counts nor brings its order in."""
    inr = use("completed_dispute_rate", name="inr", dispute_kinds=frozenset({"not_received"}))
    con = source(
        orders=[order("a", ordered=at(40)), order("b", ordered=at(40), delivered_at=at(9))],
        disputes=[_dispute("a", at(8), kind="not_as_described"), _dispute("b", at(4))],
    )
    assert counts(con, inr) == (1.0, 1, 1)


def test_against_dispute_rate_on_the_same_orders() -> None:
    """The order-date rate divides by every order placed; this one by completed ones."""
    con = source(
        orders=[
            order("a", ordered=at(10), delivered_at=at(4)),
            order("b", ordered=at(10)),
            order("c", ordered=at(10)),
            order("d", ordered=at(10)),
        ],
        disputes=[_dispute("a", at(2))],
    )
    assert counts(con, use("dispute_rate")) == (0.25, 1, 4)
    assert counts(con, RATE) == (1.0, 1, 1)
