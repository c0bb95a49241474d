"""Property test: the metric SQL agrees with the plain-Python reference on random sources.

Sources are small (three sellers, a dozen orders) and edge-heavy: every
timestamp is an anchor (as_of, window bounds) plus or minus an edge offset
(0, 1 s, 1 h, 24 h, 48 h, 72 h, ...), so ties with as_of, window bounds,
deadlines and limits come up in almost every example.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from metrics_kit import AS_OF, AS_OF_NAIVE, source, use
from reference import reference_metrics

from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.metrics.sql import orders_use
from sellerpolicy.rules.model import MetricUse

H = timedelta(hours=1)
D = timedelta(days=1)
S = timedelta(seconds=1)
# 31, 61, 92 and 123 days before as_of (2026-11-01) are month starts (calendar windows)
ANCHORS = [AS_OF_NAIVE - d * D for d in (0, 1, 3, 7, 10, 14, 21, 30, 31, 37, 60, 61, 90, 92, 123)]
OFFSETS = [timedelta(0), S, -S, H, -H, 24 * H, -24 * H, 48 * H, -48 * H, 72 * H, -72 * H]
AFTER = [timedelta(0), S, H, 24 * H, 47 * H, 48 * H, 49 * H, 72 * H, 5 * D, 20 * D]
SELLERS = ["S1", "S2", "S3"]
GRANTED_REFUNDED = frozenset({"granted", "refunded"})

USES: tuple[MetricUse, ...] = (
    use("order_defect_rate", days=60),
    use("order_defect_rate", name="odr_2015", days=60, lag_days=30, negative_max_rating=3),
    use("negative_feedback_rate", days=60),
    use("negative_feedback_rate", name="neg3", days=30, negative_max_rating=3),
    use("claim_rate", days=60),
    use("claim_rate", name="claim_gr", claim_statuses=GRANTED_REFUNDED),
    use("chargeback_rate"),
    use("chargeback_rate", name="cb_all", chargeback_kinds=frozenset({"service", "fraud"})),
    use("pre_fulfillment_cancel_rate", days=7),
    use(
        "pre_fulfillment_cancel_rate",
        name="cancel_sm",
        cancel_initiators=frozenset({"seller", "marketplace"}),
    ),
    use("late_shipment_rate", name="late_10d", days=10),
    use(
        "late_shipment_rate",
        name="late_2015",
        late_basis="hours_after_order",
        late_after=timedelta(hours=72),
    ),
    use("late_shipment_rate", name="late_grace", late_grace=timedelta(hours=48)),
    use("late_shipment_rate", name="late_grace_1h", days=10, late_grace=H),
    use("valid_tracking_rate"),
    use("on_time_delivery_rate", days=14, lag_days=7),
    use("refund_rate"),
    use("refund_rate", name="refund_quarter", months=3),
    use("late_shipment_rate", name="late_month_lagged", months=1, lag_days=1),
    use("sales_growth_rate", name="growth_month", months=1),
    use("return_rate", days=60),
    use("return_rate", name="returns_fault", return_reasons=frozenset({"damaged", "wrong_item"})),
    use("tracking_on_time_rate"),
    use("tracking_on_time_rate", name="tracking_valid_10d", days=10, require_valid_tracking=True),
    use("account_age_days"),
    use("perfect_order_rate", days=60),
    use("message_response_rate", days=90),
    use("message_response_rate", name="resp_48h", days=10, response_limit=timedelta(hours=48)),
    use("transaction_defect_rate", days=90),
    use("dispute_rate"),
    use("dispute_rate", name="inr", dispute_kinds=frozenset({"not_received"})),
    use("completed_dispute_rate", days=10),
    use(
        "completed_dispute_rate",
        name="snad_month",
        months=1,
        lag_days=1,
        dispute_kinds=frozenset({"not_as_described"}),
    ),
    use("escalated_dispute_rate"),
    use("seller_fault_dispute_rate"),
    use("dsr_item_as_described"),
    use("dsr_communication", days=60),
    use("dsr_shipping_speed", days=7),
    use("positive_feedback_rate", days=60),
    use("gross_sales"),
    use("sales_growth_rate", days=10),
)


def instants() -> st.SearchStrategy[datetime]:
    """An anchor plus an edge offset."""
    return st.builds(lambda a, o: a + o, st.sampled_from(ANCHORS), st.sampled_from(OFFSETS))


def after(draw: st.DrawFn, start: datetime) -> datetime:
    """An instant not before ``start``: relative to it, or an edge around as_of."""
    if draw(st.booleans()):
        return start + draw(st.sampled_from(AFTER))
    return max(start, AS_OF_NAIVE + draw(st.sampled_from([-48 * H, -S, timedelta(0), S])))


def maybe_after(draw: st.DrawFn, start: datetime) -> datetime | None:
    """Often None, else :func:`after`."""
    return after(draw, start) if draw(st.booleans()) else None


@st.composite
def sources(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    """A small valid source (the shape the sources loader guarantees)."""
    tables: dict[str, list[dict[str, Any]]] = {
        t: []
        for t in (
            "orders",
            "feedback",
            "claims",
            "chargebacks",
            "messages",
            "disputes",
            "ratings",
            "returns",
            "sellers",
        )
    }
    for i in range(draw(st.integers(0, 12))):
        oid, seller, ordered = f"o{i}", draw(st.sampled_from(SELLERS)), draw(instants())
        cancelled = maybe_after(draw, ordered)
        tables["orders"].append(
            {
                "order_id": oid,
                "seller_id": seller,
                "ordered_at": ordered,
                "ship_by": ordered + draw(st.sampled_from(AFTER)) if draw(st.booleans()) else None,
                "shipped_at": maybe_after(draw, ordered),
                "tracking_valid": draw(st.sampled_from([None, True, False])),
                "deliver_by": maybe_after(draw, ordered),
                "delivered_at": maybe_after(draw, ordered),
                "cancelled_at": cancelled,
                "cancelled_by": draw(st.sampled_from(["seller", "buyer", "marketplace"]))
                if cancelled
                else None,
                "refunded_at": maybe_after(draw, ordered),
                "amount": draw(st.sampled_from([None, 0.0, 5.0, 12.5])),
                "currency": draw(st.sampled_from(["USD", "USD", "USD", "EUR", None])),
                "tracking_uploaded_at": maybe_after(draw, ordered),
            }
        )
        ref = {"order_id": oid, "seller_id": seller}
        if draw(st.booleans()):
            left = after(draw, ordered)
            tables["feedback"].append(
                {**ref, "event": "left", "rating": draw(st.integers(1, 5)), "at": left}
            )
            if draw(st.booleans()):
                delay = draw(st.sampled_from([H, 24 * H, 59 * D, 60 * D]))
                tables["feedback"].append(
                    {
                        **ref,
                        "event": "updated",
                        "rating": draw(st.integers(1, 5)),
                        "at": left + delay,
                    }
                )
            if draw(st.booleans()):
                tables["feedback"].append(
                    {
                        **ref,
                        "event": "removed",
                        "at": after(draw, left),
                        "removed_by": draw(st.sampled_from(["buyer", "marketplace"])),
                    }
                )
        for j in range(draw(st.integers(0, 2))):
            status = draw(st.sampled_from(["open", "granted", "refunded", "denied", "withdrawn"]))
            tables["claims"].append(
                {**ref, "claim_id": f"c{i}.{j}", "filed_at": after(draw, ordered), "status": status}
            )
        if draw(st.booleans()):
            tables["chargebacks"].append(
                {
                    **ref,
                    "chargeback_id": f"b{i}",
                    "filed_at": after(draw, ordered),
                    "kind": draw(st.sampled_from(["service", "fraud"])),
                }
            )
        if draw(st.booleans()):
            tables["disputes"].append(
                {
                    **ref,
                    "dispute_id": f"d{i}",
                    "opened_at": after(draw, ordered),
                    "kind": draw(st.sampled_from(["not_received", "not_as_described", "other"])),
                    "escalated": draw(st.booleans()),
                    "seller_responsible": draw(st.sampled_from([None, True, False])),
                }
            )
        if draw(st.booleans()):
            score = st.sampled_from([None, 1, 2, 3, 4, 5])
            tables["ratings"].append(
                {
                    **ref,
                    "rated_at": after(draw, ordered),
                    "item_as_described": draw(score),
                    "communication": draw(score),
                    "shipping_speed": draw(score),
                }
            )
        for j in range(draw(st.integers(0, 2))):
            reason = draw(st.sampled_from(["damaged", "wrong_item", "changed_mind", "other"]))
            tables["returns"].append(
                {**ref, "return_id": f"r{i}.{j}", "requested_at": after(draw, ordered)}
                | {"reason": reason}
            )
        if draw(st.booleans()):
            received = after(draw, ordered)
            tables["messages"].append(message(draw, f"mo{i}", seller, oid, received))
    for seller in SELLERS:
        if draw(st.booleans()):
            opened = draw(instants()) - draw(st.sampled_from([timedelta(0), 400 * D, -2 * D]))
            tables["sellers"].append({"seller_id": seller, "account_opened_at": opened})
    for k in range(draw(st.integers(0, 4))):
        seller = draw(st.sampled_from([*SELLERS, "S4"]))
        tables["messages"].append(message(draw, f"m{k}", seller, None, draw(instants())))
    return tables


def message(
    draw: st.DrawFn, mid: str, seller: str, order_id: str | None, received: datetime
) -> dict[str, Any]:
    """A message row, answered at an edge delay or not at all."""
    delay = draw(st.sampled_from([None, timedelta(0), H, 24 * H, 24 * H + S, 48 * H, 50 * H]))
    return {
        "message_id": mid,
        "seller_id": seller,
        "order_id": order_id,
        "received_at": received,
        "responded_at": None if delay is None else received + delay,
    }


def same(a: Any, b: Any) -> bool:
    """Exact for counts and nulls, close for floats."""
    if a is None or b is None:
        return a is b
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sources())
def test_sql_matches_reference(tables: dict[str, list[dict[str, Any]]]) -> None:
    """Every metric use (several windows and knobs) equals the reference, seller by seller."""
    con = source(**tables)
    result = compute_metrics(con, USES, AS_OF)
    expected = reference_metrics(tables, USES, orders_use(USES), AS_OF_NAIVE)
    rows = {row.pop("seller_id"): row for row in result.table.to_pylist()}
    assert sorted(rows) == sorted(expected)
    for seller, facts in expected.items():
        got = rows[seller]
        assert got.pop("as_of") == "2026-11-01"
        assert set(got) == set(facts)
        bad = {k: (got[k], v) for k, v in facts.items() if not same(got[k], v)}
        assert not bad, f"{seller}: (sql, reference) differ: {bad}"
