"""Hand-computed fixtures for every metric and every edge rule of docs/metrics.md."""

from __future__ import annotations

from datetime import timedelta

import pytest
from metrics_kit import AS_OF, at, counts, facts, order, source, use

from sellerpolicy.engine.metrics.compute import compute_metrics

S1 = "S1"


def fb(order_id: str, event: str, when: object, rating: int | None = None) -> dict[str, object]:
    """A feedback event row of seller S1."""
    row: dict[str, object] = {"order_id": order_id, "seller_id": S1, "event": event, "at": when}
    if rating is not None:
        row["rating"] = rating
    if event == "removed":
        row["removed_by"] = "buyer"
    return row


def claim(claim_id: str, order_id: str, status: str, filed: object = None) -> dict[str, object]:
    """A claim row of seller S1 filed 2 days before as_of unless told."""
    return {
        "claim_id": claim_id,
        "order_id": order_id,
        "seller_id": S1,
        "filed_at": filed or at(2),
        "status": status,
    }


def test_odr_counts_an_order_once_with_several_defects() -> None:
    """An order with a claim and negative feedback is one defect; den is all orders."""
    con = source(
        orders=[order("o1"), order("o2"), order("o3")],
        feedback=[fb("o1", "left", at(3), 1)],
        claims=[claim("c1", "o1", "granted")],
        chargebacks=[
            {
                "chargeback_id": "b1",
                "order_id": "o2",
                "seller_id": S1,
                "filed_at": at(1),
                "kind": "service",
            }
        ],
    )
    assert counts(con, use("order_defect_rate", days=60)) == (2 / 3, 2, 3)


def test_claim_statuses_knob() -> None:
    """Withdrawn and denied claims count with all statuses, not with granted/refunded."""
    rows = [
        claim("c1", "o1", "withdrawn"),
        claim("c2", "o2", "denied"),
        claim("c3", "o3", "refunded"),
    ]
    con = source(orders=[order(f"o{i}") for i in range(1, 5)], claims=rows)
    assert counts(con, use("claim_rate")) == (3 / 4, 3, 4)
    current = use("claim_rate", claim_statuses=frozenset({"granted", "refunded"}))
    assert counts(con, current) == (1 / 4, 1, 4)


def test_fraud_chargebacks_are_excluded_by_default() -> None:
    """Only service chargebacks count unless the knob adds fraud."""
    rows = [
        {"chargeback_id": "b1", "order_id": "o1", "seller_id": S1, "filed_at": at(1), "kind": k}
        for k in ("fraud",)
    ]
    con = source(orders=[order("o1"), order("o2")], chargebacks=rows)
    assert counts(con, use("chargeback_rate")) == (0.0, 0, 2)
    both = use("chargeback_rate", chargeback_kinds=frozenset({"fraud", "service"}))
    assert counts(con, both) == (0.5, 1, 2)


@pytest.mark.parametrize(
    ("removed_hours_before", "negative"),
    [(47, 1), (48, 0), (49, 0)],
)
def test_feedback_removal_counts_once_48h_old(removed_hours_before: int, negative: int) -> None:
    """A removal reaches the metrics only when at least 48 hours old at as_of."""
    removed = at(0, hours=-removed_hours_before)
    con = source(
        orders=[order("o1")], feedback=[fb("o1", "left", at(4), 1), fb("o1", "removed", removed)]
    )
    assert counts(con, use("negative_feedback_rate"))[1] == negative


def test_feedback_update_takes_effect_at_its_own_time() -> None:
    """An update replaces the rating only once it happened before as_of."""
    con = source(
        orders=[order("o1"), order("o2")],
        feedback=[
            fb("o1", "left", at(4), 1),
            fb("o1", "updated", at(1), 5),
            fb("o2", "left", at(4), 5),
            fb("o2", "updated", at(0, hours=1), 1),
        ],
    )
    assert counts(con, use("negative_feedback_rate")) == (0.0, 0, 2)
    assert counts(con, use("positive_feedback_rate")) == (1.0, 2, 2)


def test_feedback_left_after_as_of_is_ignored() -> None:
    """Feedback left at or after as_of does not exist yet; positive den excludes it."""
    con = source(orders=[order("o1")], feedback=[fb("o1", "left", at(0), 1)])
    assert counts(con, use("negative_feedback_rate")) == (0.0, 0, 1)
    assert counts(con, use("positive_feedback_rate")) == (None, 0, 0)


def test_negative_max_rating_knob() -> None:
    """A 3-star rating is negative only when negative_max_rating is 3."""
    con = source(orders=[order("o1")], feedback=[fb("o1", "left", at(3), 3)])
    assert counts(con, use("negative_feedback_rate"))[1] == 0
    assert counts(con, use("negative_feedback_rate", negative_max_rating=3))[1] == 1


def test_pre_fulfillment_cancel_initiators_and_buyer_in_denominator() -> None:
    """Buyer cancels never count but stay in the denominator; marketplace by knob."""
    con = source(
        orders=[
            order("o1", cancelled_at=at(4), cancelled_by="seller"),
            order("o2", cancelled_at=at(4), cancelled_by="buyer"),
            order("o3", cancelled_at=at(4), cancelled_by="marketplace"),
            order("o4"),
        ]
    )
    assert counts(con, use("pre_fulfillment_cancel_rate")) == (0.25, 1, 4)
    both = use(
        "pre_fulfillment_cancel_rate", cancel_initiators=frozenset({"seller", "marketplace"})
    )
    assert counts(con, both) == (0.5, 2, 4)


def test_cancel_after_shipment_or_at_same_instant_is_not_pre_fulfillment() -> None:
    """Equal ship and cancel instants: not pre-fulfillment; shipped after cancel: it is."""
    con = source(
        orders=[
            order("o1", shipped_at=at(4), cancelled_at=at(4), cancelled_by="seller"),
            order("o2", shipped_at=at(5), cancelled_at=at(4), cancelled_by="seller"),
            order("o3", shipped_at=at(3), cancelled_at=at(4), cancelled_by="seller"),
            order("o4", cancelled_at=at(0), cancelled_by="seller"),
        ]
    )
    # o1 equal instants and o2 shipped before the cancel: no; o3 shipped after the
    # cancel: yes; o4 cancelled at as_of: not yet.
    assert counts(con, use("pre_fulfillment_cancel_rate")) == (0.25, 1, 4)


def test_late_at_exactly_72h_under_hours_after_order() -> None:
    """Under hours_after_order, shipping exactly 72 h after the order is late."""
    ordered = at(10)
    con = source(
        orders=[
            order("o1", ordered=ordered, shipped_at=ordered + timedelta(hours=72)),
            order("o2", ordered=ordered, shipped_at=ordered + timedelta(hours=71, minutes=59)),
        ]
    )
    rule = use("late_shipment_rate", late_basis="hours_after_order", late_after=timedelta(hours=72))
    assert counts(con, rule) == (0.5, 1, 2)


def test_late_ship_by_basis_with_fallback_unshipped_and_cancelled() -> None:
    """ship_by: strictly after; fallback ordered+48h; unshipped past due late; cancelled never."""
    ordered = at(10)
    con = source(
        orders=[
            order("o1", ordered=ordered, ship_by=at(8), shipped_at=at(8)),
            order("o2", ordered=ordered, ship_by=at(8), shipped_at=at(7)),
            order("o3", ordered=ordered, shipped_at=ordered + timedelta(hours=49)),
            order("o4", ordered=ordered),
            order("o5", ordered=ordered, cancelled_at=at(1), cancelled_by="buyer"),
            order("o6", ordered=at(1)),
        ]
    )
    # late: o2 (after ship_by), o3 (after fallback), o4 (unshipped, past due)
    assert counts(con, use("late_shipment_rate")) == (0.5, 3, 6)


def test_shipment_after_as_of_counts_as_unshipped() -> None:
    """A shipment at or after as_of is unknown: the order is unshipped (and late if due)."""
    con = source(orders=[order("o1", ordered=at(5), ship_by=at(4), shipped_at=at(0))])
    assert counts(con, use("late_shipment_rate")) == (1.0, 1, 1)
    assert counts(con, use("valid_tracking_rate")) == (None, 0, 0)


def test_window_start_inclusive_end_exclusive() -> None:
    """An order at the window start counts, one at the end (as_of - lag) does not."""
    con = source(
        orders=[
            order("o1", ordered=at(37)),
            order("o2", ordered=at(7)),
            order("o3", ordered=at(37, hours=-1)),
        ]
    )
    row = facts(con, use("refund_rate", days=30, lag_days=7))[S1]
    assert row["refund_rate__den"] == 1


def test_events_after_as_of_are_ignored() -> None:
    """Claims, chargebacks, refunds, disputes filed at or after as_of do not count."""
    con = source(
        orders=[order("o1", refunded_at=at(0))],
        claims=[claim("c1", "o1", "granted", at(0))],
        disputes=[
            {
                "dispute_id": "d1",
                "order_id": "o1",
                "seller_id": S1,
                "opened_at": at(0),
                "kind": "other",
                "escalated": True,
                "seller_responsible": True,
            }
        ],
    )
    row = facts(con, use("refund_rate"), use("claim_rate"), use("dispute_rate"))[S1]
    assert (row["refund_rate__num"], row["claim_rate__num"], row["dispute_rate__num"]) == (0, 0, 0)


def test_empty_denominators_are_null_not_zero() -> None:
    """A seller with only messages has null rates and 0 counts; orders is 0."""
    con = source(messages=[{"message_id": "m1", "seller_id": "S9", "received_at": at(40)}])
    row = facts(con, use("order_defect_rate", days=60), use("dsr_communication"))["S9"]
    assert row["orders"] == 0
    assert row["order_defect_rate"] is None
    assert row["order_defect_rate__den"] == 0
    assert row["dsr_communication"] is None


def test_valid_tracking_among_shipped() -> None:
    """Missing tracking_valid is not valid; unshipped orders leave the denominator."""
    con = source(
        orders=[
            order("o1", shipped_at=at(3), tracking_valid=True),
            order("o2", shipped_at=at(3)),
            order("o3", shipped_at=at(3), tracking_valid=False),
            order("o4"),
        ]
    )
    assert counts(con, use("valid_tracking_rate")) == (1 / 3, 1, 3)


def test_on_time_delivery_denominator() -> None:
    """Delivered or past promise; no deliver_by out; cancelled before delivery out."""
    con = source(
        orders=[
            order("o1", deliver_by=at(2), delivered_at=at(2)),
            order("o2", deliver_by=at(3), delivered_at=at(1)),
            order("o3", deliver_by=at(1)),
            order("o4", deliver_by=at(-1)),
            order("o5"),
            order("o6", deliver_by=at(3), cancelled_at=at(2), cancelled_by="buyer"),
            order(
                "o7", deliver_by=at(2), delivered_at=at(3), cancelled_at=at(2), cancelled_by="buyer"
            ),
        ]
    )
    # den: o1 (on time, equal), o2 (late), o3 (past promise), o7 (delivered before cancel)
    assert counts(con, use("on_time_delivery_rate")) == (0.5, 2, 4)


def test_refunds_include_cancelled_orders_and_not_refunded_claims() -> None:
    """refunded_at before as_of counts even when cancelled; a 'refunded' claim does not."""
    con = source(
        orders=[
            order("o1", refunded_at=at(1), cancelled_at=at(2), cancelled_by="buyer"),
            order("o2"),
        ],
        claims=[claim("c1", "o2", "refunded")],
    )
    assert counts(con, use("refund_rate")) == (0.5, 1, 2)


def test_perfect_orders() -> None:
    """Each defect kind makes an order imperfect; fraud chargebacks do not."""
    shipped = {"ship_by": at(3), "shipped_at": at(4)}
    con = source(
        orders=[
            order("ok", **shipped),
            order("claim", **shipped),
            order("cancel", cancelled_at=at(4), cancelled_by="buyer"),
            order("late", ship_by=at(4), shipped_at=at(3)),
            order("msg", **shipped),
            order("neg", **shipped),
            order("refund", refunded_at=at(1), **shipped),
            order("fraud", **shipped),
        ],
        claims=[claim("c1", "claim", "denied")],
        messages=[{"message_id": "m", "seller_id": S1, "order_id": "msg", "received_at": at(2)}],
        feedback=[fb("neg", "left", at(2), 2)],
        chargebacks=[
            {
                "chargeback_id": "b",
                "order_id": "fraud",
                "seller_id": S1,
                "filed_at": at(1),
                "kind": "fraud",
            }
        ],
    )
    assert counts(con, use("perfect_order_rate")) == (2 / 8, 2, 8)


def test_message_response_due_and_limit_inclusive() -> None:
    """Answered exactly at the limit is within; unanswered younger than the limit not due."""
    limit = timedelta(hours=24)
    con = source(
        messages=[
            {
                "message_id": "m1",
                "seller_id": S1,
                "received_at": at(5),
                "responded_at": at(5) + limit,
            },
            {
                "message_id": "m2",
                "seller_id": S1,
                "received_at": at(5),
                "responded_at": at(5) + limit + timedelta(seconds=1),
            },
            {"message_id": "m3", "seller_id": S1, "received_at": at(0, hours=-23)},
            {"message_id": "m4", "seller_id": S1, "received_at": at(1)},
            {
                "message_id": "m5",
                "seller_id": S1,
                "received_at": at(0, hours=-2),
                "responded_at": at(0, hours=-1),
            },
            {"message_id": "m6", "seller_id": S1, "received_at": at(3), "responded_at": at(0)},
        ]
    )
    # due: m1 (in), m2 (late), m4 (exactly 24 h old, unanswered), m5 (answered), m6 (answered
    # at as_of: not yet, but 3 days old); m3 not due.
    assert counts(con, use("message_response_rate")) == (2 / 5, 2, 5)


def test_transaction_defects() -> None:
    """Seller cancels or granted claims, one per order; other claims per knob."""
    con = source(
        orders=[
            order("o1", cancelled_at=at(3), cancelled_by="seller"),
            order("o2"),
            order("o3"),
            order("o4"),
        ],
        claims=[
            claim("c1", "o1", "granted"),
            claim("c2", "o2", "granted"),
            claim("c3", "o3", "open"),
        ],
    )
    assert counts(con, use("transaction_defect_rate")) == (0.5, 2, 4)


def test_disputes_kinds_escalated_and_seller_fault() -> None:
    """Dispute kinds by knob; seller fault needs escalation too."""
    rows = [
        ("d1", "o1", "not_received", True, True),
        ("d2", "o2", "not_as_described", False, True),
        ("d3", "o3", "other", True, None),
    ]
    con = source(
        orders=[order(f"o{i}") for i in range(1, 5)],
        disputes=[
            {
                "dispute_id": d,
                "order_id": o,
                "seller_id": S1,
                "opened_at": at(2),
                "kind": k,
                "escalated": e,
                "seller_responsible": r,
            }
            for d, o, k, e, r in rows
        ],
    )
    inr = use("dispute_rate", name="inr_dispute_rate", dispute_kinds=frozenset({"not_received"}))
    row = facts(
        con,
        use("dispute_rate"),
        inr,
        use("escalated_dispute_rate"),
        use("seller_fault_dispute_rate"),
    )[S1]
    assert row["dispute_rate__num"] == 3
    assert row["inr_dispute_rate__num"] == 1
    assert row["escalated_dispute_rate__num"] == 2
    assert row["seller_fault_dispute_rate__num"] == 1


def test_dsr_averages_use_ratings_before_as_of() -> None:
    """Averages are sum/count of ratings made before as_of, of orders in the window."""
    con = source(
        orders=[order("o1"), order("o2"), order("o3", ordered=at(40))],
        ratings=[
            {
                "order_id": "o1",
                "seller_id": S1,
                "rated_at": at(1),
                "item_as_described": 5,
                "communication": 4,
                "shipping_speed": 2,
            },
            {
                "order_id": "o2",
                "seller_id": S1,
                "rated_at": at(1),
                "item_as_described": 2,
                "communication": None,
                "shipping_speed": 3,
            },
            {"order_id": "o3", "seller_id": S1, "rated_at": at(1), "item_as_described": 1},
        ],
    )
    row = facts(con, use("dsr_item_as_described"), use("dsr_communication"))[S1]
    assert (
        row["dsr_item_as_described"],
        row["dsr_item_as_described__num"],
        row["dsr_item_as_described__den"],
    ) == (3.5, 7, 2)
    assert (row["dsr_communication"], row["dsr_communication__den"]) == (4.0, 1)


def test_gross_sales_and_growth() -> None:
    """Non-cancelled sums; growth vs the previous window; null when previous is 0."""
    con = source(
        orders=[
            order("o1", amount=30.0, currency="USD"),
            order("o2", amount=10.0, currency="USD"),
            order("o3", amount=99.0, currency="USD", cancelled_at=at(1), cancelled_by="buyer"),
            order("o4", ordered=at(40), amount=20.0, currency="USD"),
            order("p1", seller="S2", amount=5.0, currency="USD"),
        ]
    )
    rows = facts(con, use("gross_sales"), use("sales_growth_rate"))
    assert rows[S1]["gross_sales"] == 40.0
    assert rows[S1]["sales_growth_rate"] == 1.0
    # like every rate: the value is __num / __den (current minus previous, over previous)
    assert (rows[S1]["sales_growth_rate__num"], rows[S1]["sales_growth_rate__den"]) == (20.0, 20.0)
    assert rows["S2"]["sales_growth_rate"] is None
    assert (rows["S2"]["sales_growth_rate__num"], rows["S2"]["sales_growth_rate__den"]) == (
        5.0,
        0.0,
    )


def test_an_order_without_amount_brings_no_currency() -> None:
    con = source(
        orders=[order("o1", amount=30.0, currency="USD"), order("o2", amount=None, currency="EUR")]
    )
    assert facts(con, use("gross_sales"))[S1]["gross_sales"] == 30.0


def test_growth_across_two_currencies_is_null_with_a_warning() -> None:
    """USD this window, EUR the window before: the growth is not a USD sum over a EUR sum."""
    con = source(
        orders=[
            order("o1", amount=30.0, currency="USD"),
            order("o2", ordered=at(40), amount=10.0, currency="EUR"),
        ]
    )
    result = compute_metrics(con, [use("sales_growth_rate")], AS_OF)
    assert result.table.column("sales_growth_rate").to_pylist() == [None]
    assert result.table.column("sales_growth_rate__num").to_pylist() == [None]
    assert {w.metric for w in result.warnings} == {"sales_growth_rate"}


def test_several_currencies_give_null_and_a_warning() -> None:
    """A seller with two currencies in the window gets null gross sales and a warning."""
    con = source(
        orders=[order("o1", amount=1.0, currency="USD"), order("o2", amount=1.0, currency="EUR")]
    )
    result = compute_metrics(con, [use("gross_sales")], AS_OF)
    assert result.table.column("gross_sales").to_pylist() == [None]
    assert [(w.seller_id, w.metric) for w in result.warnings] == [(S1, "gross_sales")]
    assert "EUR" in result.warnings[0].message
