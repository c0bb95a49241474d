"""A plain-Python reference implementation of the metric catalog (docs/metrics.md).

Deliberately naive: for every seller and every metric use it loops over the
rows and applies the rules of docs/metrics.md word for word. It is
slow and obviously correct; the property test compares the SQL against it.
Timestamps are naive UTC datetimes, as in the canonical tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sellerpolicy.rules.catalog import LateBasis
from sellerpolicy.rules.model import MetricUse

Row = Mapping[str, Any]
Tables = Mapping[str, Sequence[Row]]
REMOVAL_DELAY = timedelta(hours=48)


def _before(ts: datetime | None, as_of: datetime) -> bool:
    return ts is not None and ts < as_of


def window(use: MetricUse, as_of: datetime) -> tuple[datetime, datetime]:
    """``[as_of - lag - window, as_of - lag)``; with ``months``, the last whole calendar
    months ending at or before ``as_of - lag``, counted by hand."""
    end = as_of - use.lag
    if use.months is None:
        return end - use.window, end
    year, month = end.year, end.month  # the month containing end: its first day is the end
    end = datetime(year, month, 1)
    for _ in range(use.months):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return datetime(year, month, 1), end


def previous_window(use: MetricUse, bounds: tuple[datetime, datetime]) -> tuple[datetime, datetime]:
    """The window before ``bounds``: as long, or as many calendar months."""
    if use.months is None:
        return bounds[0] - use.window, bounds[0]
    return window(use, bounds[0] + use.lag)[0], bounds[0]


def effective_rating(tables: Tables, order_id: str, as_of: datetime) -> int | None:
    """The effective feedback rating of one order at ``as_of``."""
    events = sorted(
        (e for e in tables.get("feedback", ()) if e["order_id"] == order_id),
        key=lambda e: e["at"],
    )
    lefts = [e for e in events if e["event"] == "left"]
    if not lefts or not _before(lefts[0]["at"], as_of):
        return None
    for e in events:
        if e["event"] == "removed" and as_of - e["at"] >= REMOVAL_DELAY:
            return None
    rating: int = lefts[0]["rating"]
    updates = [e for e in events if e["event"] == "updated"]
    if updates and _before(updates[0]["at"], as_of):
        rating = updates[0]["rating"]
    return rating


def _events(tables: Tables, table: str, order_id: str, at: str, as_of: datetime) -> list[Row]:
    return [e for e in tables.get(table, ()) if e["order_id"] == order_id and _before(e[at], as_of)]


def is_pre_cancel(o: Row, initiators: frozenset[str], as_of: datetime) -> bool:
    """Cancelled before as_of by a counted initiator, not shipped at or before the cancel."""
    if not _before(o.get("cancelled_at"), as_of) or o.get("cancelled_by") not in initiators:
        return False
    shipped = o.get("shipped_at")
    return not (shipped is not None and shipped < as_of and shipped <= o["cancelled_at"])


def is_late(o: Row, use: MetricUse, as_of: datetime) -> bool:
    """Late shipment under the use's basis; a cancelled order is never late."""
    if _before(o.get("cancelled_at"), as_of):
        return False
    shipped = o.get("shipped_at") if _before(o.get("shipped_at"), as_of) else None
    k = use.knobs
    if k.late_basis == LateBasis.SHIP_BY:
        deadline = (o.get("ship_by") or o["ordered_at"] + k.late_after) + k.late_grace
        return shipped > deadline if shipped is not None else as_of > deadline
    if shipped is not None:
        return shipped - o["ordered_at"] >= k.late_after
    return as_of - o["ordered_at"] >= k.late_after


def _has_claim(tables: Tables, o: Row, statuses: frozenset[str] | None, as_of: datetime) -> bool:
    claims = _events(tables, "claims", o["order_id"], "filed_at", as_of)
    return any(statuses is None or c["status"] in statuses for c in claims)


def _has_chargeback(tables: Tables, o: Row, kinds: frozenset[str], as_of: datetime) -> bool:
    return any(
        c["kind"] in kinds for c in _events(tables, "chargebacks", o["order_id"], "filed_at", as_of)
    )


def _is_negative(tables: Tables, o: Row, use: MetricUse, as_of: datetime) -> bool:
    rating = effective_rating(tables, o["order_id"], as_of)
    return rating is not None and rating <= use.knobs.negative_max_rating


def order_flags(tables: Tables, o: Row, use: MetricUse, as_of: datetime) -> tuple[bool, bool]:
    """``(in denominator, in numerator)`` of a per-order rate for one order in the window."""
    k = use.knobs
    m = use.metric
    if m == "negative_feedback_rate":
        return True, _is_negative(tables, o, use, as_of)
    if m == "claim_rate":
        return True, _has_claim(tables, o, k.claim_statuses, as_of)
    if m == "chargeback_rate":
        return True, _has_chargeback(tables, o, k.chargeback_kinds, as_of)
    if m == "order_defect_rate":
        defect = (
            _is_negative(tables, o, use, as_of)
            or _has_claim(tables, o, k.claim_statuses, as_of)
            or _has_chargeback(tables, o, k.chargeback_kinds, as_of)
        )
        return True, defect
    if m == "pre_fulfillment_cancel_rate":
        return True, is_pre_cancel(o, k.cancel_initiators, as_of)
    if m == "late_shipment_rate":
        return True, is_late(o, use, as_of)
    if m == "valid_tracking_rate":
        return _before(o.get("shipped_at"), as_of), o.get("tracking_valid") is True
    if m == "on_time_delivery_rate":
        return _on_time(o, as_of)
    if m == "refund_rate":
        return True, _before(o.get("refunded_at"), as_of)
    if m == "return_rate":
        returns = _events(tables, "returns", o["order_id"], "requested_at", as_of)
        return True, any(r["reason"] in k.return_reasons for r in returns)
    if m == "tracking_on_time_rate":
        ship_by, uploaded = o.get("ship_by"), o.get("tracking_uploaded_at")
        if not _before(o.get("shipped_at"), as_of) or ship_by is None:
            return False, False
        on_time = _before(uploaded, as_of) and uploaded <= ship_by
        if k.require_valid_tracking:
            on_time = on_time and o.get("tracking_valid") is True
        return True, on_time
    if m == "perfect_order_rate":
        messages = [
            msg
            for msg in tables.get("messages", ())
            if msg.get("order_id") == o["order_id"] and msg["received_at"] < as_of
        ]
        imperfect = (
            _has_claim(tables, o, None, as_of)
            or _before(o.get("cancelled_at"), as_of)
            or is_late(o, use, as_of)
            or bool(messages)
            or _is_negative(tables, o, use, as_of)
            or _before(o.get("refunded_at"), as_of)
            or _has_chargeback(tables, o, k.chargeback_kinds, as_of)
        )
        return True, not imperfect
    if m == "transaction_defect_rate":
        defect = is_pre_cancel(o, k.cancel_initiators, as_of) or _has_claim(
            tables, o, k.claim_statuses, as_of
        )
        return True, defect
    if m in ("dispute_rate", "escalated_dispute_rate", "seller_fault_dispute_rate"):
        disputes = _events(tables, "disputes", o["order_id"], "opened_at", as_of)
        if m == "dispute_rate":
            return True, any(d["kind"] in k.dispute_kinds for d in disputes)
        if m == "escalated_dispute_rate":
            return True, any(d.get("escalated") is True for d in disputes)
        return True, any(
            d.get("escalated") is True and d.get("seller_responsible") is True for d in disputes
        )
    if m == "positive_feedback_rate":
        rating = effective_rating(tables, o["order_id"], as_of)
        return rating is not None, rating is not None and rating >= 4
    raise KeyError(m)


def _on_time(o: Row, as_of: datetime) -> tuple[bool, bool]:
    deliver_by = o.get("deliver_by")
    if deliver_by is None:
        return False, False
    delivered_at = o.get("delivered_at")
    delivered = delivered_at is not None and delivered_at < as_of
    cancelled_at = o.get("cancelled_at")
    if cancelled_at is not None and cancelled_at < as_of:
        delivered_before_cancel = delivered_at is not None and delivered_at < cancelled_at
        if not delivered_before_cancel:
            return False, False
    if not delivered and not as_of > deliver_by:
        return False, False
    return True, delivered and delivered_at is not None and delivered_at <= deliver_by


def _in(ts: datetime, bounds: tuple[datetime, datetime]) -> bool:
    return bounds[0] <= ts < bounds[1]


def _currencies(
    orders: Sequence[Row], bounds: tuple[datetime, datetime], as_of: datetime
) -> set[str]:
    """The currencies of the priced, counted orders (an order without amount has none)."""
    return {
        o["currency"]
        for o in orders
        if _in(o["ordered_at"], bounds)
        and not _before(o.get("cancelled_at"), as_of)
        and o.get("currency") is not None
        and o.get("amount") is not None
    }


def _sales(orders: Sequence[Row], bounds: tuple[datetime, datetime], as_of: datetime) -> Any:
    counted = [
        o
        for o in orders
        if _in(o["ordered_at"], bounds) and not _before(o.get("cancelled_at"), as_of)
    ]
    if len(_currencies(orders, bounds, as_of)) > 1:
        return "multi"
    # exact, as decimals of six places (docs/metrics.md, gross_sales)
    places = Decimal("0.000001")
    amounts = [
        Decimal(repr(o["amount"])).quantize(places) for o in counted if o.get("amount") is not None
    ]
    return sum(amounts, Decimal(0))


def metric_values(
    tables: Tables, seller: str, use: MetricUse, as_of: datetime
) -> dict[str, int | float | None]:
    """The facts fields of one use for one seller."""
    bounds = window(use, as_of)
    orders = [o for o in tables.get("orders", ()) if o["seller_id"] == seller]
    in_window = [o for o in orders if _in(o["ordered_at"], bounds)]
    name, m = use.name, use.metric
    if m == "orders":
        return {name: len(in_window)}
    if m == "account_age_days":
        opened = [
            r["account_opened_at"] for r in tables.get("sellers", ()) if r["seller_id"] == seller
        ]
        if not opened or not opened[0] < as_of:
            return {name: None}
        return {name: (as_of - opened[0]) // timedelta(days=1)}
    if m in ("gross_sales", "sales_growth_rate"):
        current = _sales(orders, bounds, as_of)
        if m == "gross_sales":
            return {name: None if current == "multi" else float(current)}
        before = previous_window(use, bounds)
        previous = _sales(orders, before, as_of)
        both = _currencies(orders, bounds, as_of) | _currencies(orders, before, as_of)
        counts = (f"{name}__num", f"{name}__den")
        if "multi" in (current, previous) or len(both) > 1:
            return {name: None, counts[0]: None, counts[1]: None}
        grown = {counts[0]: float(current - previous), counts[1]: float(previous)}
        value = None if previous == 0 else float(current - previous) / float(previous)
        return {name: value, **grown}
    if m == "completed_dispute_rate":
        return _completed_disputes(tables, orders, use, bounds, as_of)
    if m.startswith("dsr_"):
        column = m.removeprefix("dsr_")
        ids = {o["order_id"] for o in in_window}
        ratings = [
            r[column]
            for r in tables.get("ratings", ())
            if r["order_id"] in ids and r["rated_at"] < as_of and r.get(column) is not None
        ]
        total, count = sum(ratings), len(ratings)
        return _rate_fields(name, total, count)
    if m == "message_response_rate":
        num = den = 0
        limit = use.knobs.response_limit
        for msg in tables.get("messages", ()):
            if msg["seller_id"] != seller or not _in(msg["received_at"], bounds):
                continue
            responded = msg.get("responded_at")
            answered = responded is not None and responded < as_of
            if answered or as_of - msg["received_at"] >= limit:
                den += 1
                if answered and responded - msg["received_at"] <= limit:
                    num += 1
        return _rate_fields(name, num, den)
    num = den = 0
    for o in in_window:
        in_den, in_num = order_flags(tables, o, use, as_of)
        if in_den:
            den += 1
            num += int(in_num)
    return _rate_fields(name, num, den)


def _completed_disputes(
    tables: Tables,
    orders: list[Row],
    use: MetricUse,
    bounds: tuple[datetime, datetime],
    as_of: datetime,
) -> dict[str, int | float | None]:
    """Orders disputed in the window among orders delivered or disputed in it (by event)."""
    num = den = 0
    for o in (o for o in orders if o["ordered_at"] < bounds[1]):
        disputed = any(
            d["kind"] in use.knobs.dispute_kinds and _in(d["opened_at"], bounds)
            for d in _events(tables, "disputes", o["order_id"], "opened_at", as_of)
        )
        delivered = o.get("delivered_at")
        if disputed or (delivered is not None and delivered < as_of and _in(delivered, bounds)):
            den += 1
            num += int(disputed)
    return _rate_fields(use.name, num, den)


def _rate_fields(name: str, num: int, den: int) -> dict[str, int | float | None]:
    return {name: num / den if den else None, f"{name}__num": num, f"{name}__den": den}


def reference_metrics(
    tables: Tables, uses: Sequence[MetricUse], orders_use: MetricUse, as_of: datetime
) -> dict[str, dict[str, int | float | None]]:
    """Facts per seller (every seller of orders or messages) at a naive UTC ``as_of``."""
    sellers = {o["seller_id"] for o in tables.get("orders", ())}
    sellers |= {m["seller_id"] for m in tables.get("messages", ())}
    out: dict[str, dict[str, int | float | None]] = {}
    for seller in sorted(sellers):
        facts = metric_values(tables, seller, orders_use, as_of)
        for use in uses:
            facts.update(metric_values(tables, seller, use, as_of))
        out[seller] = facts
    return out
