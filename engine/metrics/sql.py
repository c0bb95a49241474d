"""The SQL of the metric catalog: one expression set per metric use.

Every metric of ``rules/catalog.py`` is defined here once, as boolean
predicates (rates) or numeric terms (averages, amounts) over a per-order
relation ``o`` (or, for ``message_response_rate``, over ``messages``). The
same predicates feed both the per-seller aggregation of
:mod:`sellerpolicy.engine.metrics.compute` and :func:`bad_rows_sql`, so the orders an
explanation lists are exactly the orders the rate counted.

Owns :func:`build_use` and what it returns (:class:`UseSql`), the per-order
predicates of the catalog (:class:`OrderPredicates`), the per-metric builders
(rates, averages, sales) and :func:`orders_use`. The per-order relation they
read, its event joins, windows and the SQL text helpers are in
:mod:`sellerpolicy.engine.metrics.relation`.

SQL is built as text on purpose: the shape of the query (joins, flag
columns, aggregates) depends on the uses, and constant window bounds let
DuckDB push the window filter into the ``orders`` scan. Every value spliced
in goes through :func:`~.relation.ts`, :func:`~.relation.interval`,
:func:`~.relation.quote` or :func:`~.relation.ident` (knob values are
validated enums; use names come from packs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sellerpolicy.rules.catalog import CATALOG, DEFAULT_WINDOW, Knobs, LateBasis, MetricKind
from sellerpolicy.rules.model import MetricUse

from .relation import (
    DSR_COLUMNS,
    HIDDEN,
    Joins,
    Window,
    interval,
    safe,
    str_list,
    ts,
    window_of,
)

__all__ = [
    "GOOD_RATES",
    "POSITIVE_MIN_RATING",
    "OrderPredicates",
    "UseSql",
    "build_use",
    "orders_use",
]

#: Rates where a high value is good: the orders against the seller are those
#: outside the numerator.
GOOD_RATES = frozenset(
    {
        "valid_tracking_rate",
        "tracking_on_time_rate",
        "on_time_delivery_rate",
        "perfect_order_rate",
        "message_response_rate",
        "positive_feedback_rate",
    }
)
#: A rating at or above this is positive feedback.
POSITIVE_MIN_RATING = 4

Table = Literal["orders", "messages", "sellers"]


def orders_use(uses: Sequence[MetricUse]) -> MetricUse:
    """The use behind the ``orders`` column.

    A use named ``orders`` is the pack's own declaration; otherwise the count
    shares the ODR window (docs/metrics.md); otherwise 30 days, lag 0.
    """
    for use in uses:
        if use.name == "orders":
            return use
    for use in uses:
        if use.metric == "order_defect_rate":
            return MetricUse("orders", "orders", MetricKind.COUNT, use.window, use.lag)
    return MetricUse("orders", "orders", MetricKind.COUNT, DEFAULT_WINDOW, timedelta(0))


@dataclass(frozen=True, slots=True)
class UseSql:
    """The SQL of one metric use.

    ``aggregates`` are ``(hidden alias, aggregate)`` computed per seller over
    ``table``; ``outputs`` are ``(column, expression over the aliases)``;
    ``bad`` is the per-row predicate of the rows counting against the seller
    (None when the metric is not a rate); ``date_column`` dates those rows.
    The rows scanned are those ordered in one of the ``windows`` and those
    ``scan`` (a predicate over the joined orders) holds for.
    """

    table: Table
    aggregates: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    bad: str | None
    date_column: str
    windows: tuple[Window, ...]
    scan: str | None = None


class OrderPredicates:
    """Per-order predicates of the catalog at one ``as_of``."""

    def __init__(self, as_of: datetime, joins: Joins) -> None:
        self.a = ts(as_of)
        self.joins = joins
        self.cancelled = safe(f"cancelled_at < {self.a}")
        self.shipped = safe(f"shipped_at < {self.a}")
        self.refunded = safe(f"refunded_at < {self.a}")

    def pre_cancel(self, initiators: frozenset[str]) -> str:
        """Cancelled before as_of by a counted initiator, with no shipment at or before it."""
        return (
            f"({self.cancelled} AND {safe(f'cancelled_by IN {str_list(initiators)}')} "
            f"AND NOT {safe('shipped_at <= cancelled_at')})"
        )

    def late(self, knobs: Knobs) -> str:
        """Shipped late, or unshipped past the deadline; never when cancelled before as_of."""
        after = interval(knobs.late_after)
        if knobs.late_basis is LateBasis.SHIP_BY:
            deadline = f"coalesce(ship_by, ordered_at + {after})"
            if knobs.late_grace:
                deadline = f"({deadline} + {interval(knobs.late_grace)})"
            shipped_late, unshipped_late = f"shipped_at > {deadline}", f"{self.a} > {deadline}"
        else:
            shipped_late = f"shipped_at >= ordered_at + {after}"
            unshipped_late = f"{self.a} >= ordered_at + {after}"
        return (
            f"(NOT {self.cancelled} AND "
            f"{safe(f'CASE WHEN {self.shipped} THEN {shipped_late} ELSE {unshipped_late} END')})"
        )

    def negative(self, knobs: Knobs) -> str:
        """Effective feedback rating at most ``negative_max_rating``."""
        return safe(f"{self.joins.rating()} <= {int(knobs.negative_max_rating)}")

    def claim(self, statuses: frozenset[str] | None) -> str:
        """A claim filed before as_of with a counted status (None: any status)."""
        return self.joins.claim(statuses)

    def chargeback(self, knobs: Knobs) -> str:
        """A chargeback filed before as_of of a counted kind."""
        return self.joins.chargeback(knobs.chargeback_kinds)

    def odr(self, knobs: Knobs) -> str:
        """Any ODR defect; an order counts once."""
        parts = (self.negative(knobs), self.claim(knobs.claim_statuses), self.chargeback(knobs))
        return "(" + " OR ".join(parts) + ")"

    def perfect(self, knobs: Knobs) -> str:
        """None of: claim, cancel, late, message, negative feedback, refund, chargeback."""
        defects = (
            self.claim(None),
            self.cancelled,
            self.late(knobs),
            self.joins.message(),
            self.negative(knobs),
            self.refunded,
            self.chargeback(knobs),
        )
        return "NOT (" + " OR ".join(defects) + ")"


def _order_rate_terms(metric: str, p: OrderPredicates, k: Knobs) -> tuple[str, str] | None:
    """``(denominator, numerator)`` predicates of a per-order rate; None for other metrics."""
    joins = p.joins
    match metric:
        case "negative_feedback_rate":
            return "true", p.negative(k)
        case "claim_rate":
            return "true", p.claim(k.claim_statuses)
        case "chargeback_rate":
            return "true", p.chargeback(k)
        case "order_defect_rate":
            return "true", p.odr(k)
        case "pre_fulfillment_cancel_rate":
            return "true", p.pre_cancel(k.cancel_initiators)
        case "late_shipment_rate":
            return "true", p.late(k)
        case "valid_tracking_rate":
            return p.shipped, "tracking_valid IS TRUE"
        case "refund_rate":
            return "true", p.refunded
        case "return_rate":
            return "true", joins.returned(k.return_reasons)
        case "tracking_on_time_rate":
            uploaded = safe(f"tracking_uploaded_at < {p.a}")
            valid = " AND tracking_valid IS TRUE" if k.require_valid_tracking else ""
            on_time = f"({uploaded} AND tracking_uploaded_at <= ship_by{valid})"
            return f"({p.shipped} AND ship_by IS NOT NULL)", on_time
        case "perfect_order_rate":
            return "true", p.perfect(k)
        case "transaction_defect_rate":
            return "true", f"({p.pre_cancel(k.cancel_initiators)} OR {p.claim(k.claim_statuses)})"
        case "dispute_rate":
            return "true", joins.dispute(f"kind IN {str_list(k.dispute_kinds)}")
        case "escalated_dispute_rate":
            return "true", joins.dispute("escalated")
        case "seller_fault_dispute_rate":
            return "true", joins.dispute("escalated AND seller_responsible")
        case "positive_feedback_rate":
            rating = joins.rating()
            return f"{rating} IS NOT NULL", safe(f"{rating} >= {POSITIVE_MIN_RATING}")
        case "on_time_delivery_rate":
            delivered = safe(f"delivered_at < {p.a}")
            kept = f"NOT ({p.cancelled} AND NOT {safe('delivered_at < cancelled_at')})"
            due = f"({delivered} OR {p.a} > deliver_by)"
            den = f"(deliver_by IS NOT NULL AND {kept} AND {due})"
            return den, f"({delivered} AND delivered_at <= deliver_by)"
    return None


def build_use(use: MetricUse, as_of: datetime, joins: Joins, index: int) -> UseSql:
    """The SQL of one use (``index`` keeps its hidden aliases unique)."""
    if use.metric not in CATALOG:
        raise ValueError(f"metric use {use.name!r}: unknown metric {use.metric!r}")
    p = OrderPredicates(as_of, joins)
    k = use.knobs
    w = window_of(use, as_of)
    metric = use.metric
    terms = _order_rate_terms(metric, p, k)
    if terms is not None:
        den, num = (joins.derive(t) for t in terms)
        inside = joins.derive(w.contains("ordered_at"))
        return _rate(
            use,
            index,
            table="orders",
            date_column="ordered_at",
            inside=inside,
            den=den,
            num=num,
            w=w,
        )
    if metric == "completed_dispute_rate":
        return _completed_disputes(use, index, p, w)
    if metric == "message_response_rate":
        limit = interval(k.response_limit)
        answered = safe(f"responded_at < {p.a}")
        den = f"({answered} OR received_at <= {p.a} - {limit})"
        num = f"({answered} AND responded_at <= received_at + {limit})"
        inside = w.contains("received_at")
        return _rate(
            use,
            index,
            table="messages",
            date_column="received_at",
            inside=inside,
            den=den,
            num=num,
            w=w,
        )
    if metric in DSR_COLUMNS:
        total, count = joins.dsr(DSR_COLUMNS[metric])
        return _average(use, index, w, total, count)
    if metric == "orders":
        alias = f"{HIDDEN}{index}_n"
        agg = ((alias, f"count(*) FILTER (WHERE {w.contains('ordered_at')})"),)
        out = ((use.name, f"coalesce({alias}, 0)"),)
        return UseSql("orders", agg, out, None, "ordered_at", (w,))
    if metric == "account_age_days":
        alias = f"{HIDDEN}{index}_opened"
        agg = ((alias, "min(account_opened_at)"),)
        days = f"(epoch_us({p.a}) - epoch_us({alias})) // {24 * 3600 * 1_000_000}"
        out = ((use.name, f"CASE WHEN {alias} < {p.a} THEN {days} END"),)
        return UseSql("sellers", agg, out, None, "account_opened_at", ())
    if metric in ("gross_sales", "sales_growth_rate"):
        return _sales(use, index, p, w, growth=metric == "sales_growth_rate")
    raise ValueError(f"metric use {use.name!r}: metric {metric!r} has no SQL")  # pragma: no cover


def _completed_disputes(use: MetricUse, index: int, p: OrderPredicates, w: Window) -> UseSql:
    """``completed_dispute_rate``: by the time of the events, not of the orders; an order
    placed before the window is scanned when it was delivered or disputed in it."""
    opened = f"kind IN {str_list(use.knobs.dispute_kinds)} AND {w.contains('opened_at')}"
    disputed = p.joins.dispute(opened)
    delivered = safe(f"delivered_at < {p.a} AND {w.contains('delivered_at')}")
    placed = f"ordered_at < {ts(w.end)}"
    counted = f"({delivered} OR {disputed})"
    built = _rate(
        use,
        index,
        table="orders",
        date_column="ordered_at",
        inside=placed,
        den=counted,
        num=disputed,
        w=w,
    )
    # the flag's join column, unmatched (null) for an order without a dispute
    scan = f"({placed} AND ({delivered} OR {safe(disputed)}))"
    return dataclasses.replace(built, scan=scan)


def _rate(
    use: MetricUse,
    index: int,
    *,
    table: Table,
    date_column: str,
    inside: str,
    den: str,
    num: str,
    w: Window,
) -> UseSql:
    inside = f"{inside} AND {den}"
    a_num, a_den = f"{HIDDEN}{index}_num", f"{HIDDEN}{index}_den"
    aggregates = (
        (a_num, f"count(*) FILTER (WHERE {inside} AND {num})"),
        (a_den, f"count(*) FILTER (WHERE {inside})"),
    )
    outputs = (
        (use.name, f"CASE WHEN {a_den} > 0 THEN {a_num}::DOUBLE / {a_den} END"),
        (f"{use.name}__num", f"coalesce({a_num}, 0)"),
        (f"{use.name}__den", f"coalesce({a_den}, 0)"),
    )
    bad = f"{inside} AND NOT {num}" if use.metric in GOOD_RATES else f"{inside} AND {num}"
    return UseSql(table, aggregates, outputs, bad, date_column, (w,))


def _average(use: MetricUse, index: int, w: Window, total: str, count: str) -> UseSql:
    inside = w.contains("ordered_at")
    a_sum, a_n = f"{HIDDEN}{index}_sum", f"{HIDDEN}{index}_n"
    aggregates = (
        (a_sum, f"sum({total}) FILTER (WHERE {inside})::BIGINT"),
        (a_n, f"sum({count}) FILTER (WHERE {inside})::BIGINT"),
    )
    outputs = (
        (use.name, f"CASE WHEN {a_n} > 0 THEN {a_sum}::DOUBLE / {a_n} END"),
        (f"{use.name}__num", f"coalesce({a_sum}, 0)"),
        (f"{use.name}__den", f"coalesce({a_n}, 0)"),
    )
    return UseSql("orders", aggregates, outputs, None, "ordered_at", (w,))


#: Amounts are summed as decimals of this type, never as floats: a float sum depends on
#: the order DuckDB's threads add in (3082.22 one run, 3082.2199999999993 the next). Each
#: amount is rounded to 6 decimals (the loader refuses magnitudes of 1e18 and above).
MONEY = "DECIMAL(38, 6)"


def _sales_aggregates(prefix: str, p: OrderPredicates, w: Window) -> tuple[tuple[str, str], ...]:
    counted = f"{w.contains('ordered_at')} AND NOT {p.cancelled}"
    priced = f"{counted} AND amount IS NOT NULL"  # an order without an amount has no currency
    return (
        (f"{prefix}_sum", f"sum(CAST(amount AS {MONEY})) FILTER (WHERE {counted})"),
        (f"{prefix}_cmin", f"min(currency) FILTER (WHERE {priced})"),
        (f"{prefix}_cmax", f"max(currency) FILTER (WHERE {priced})"),
    )


def _sales(use: MetricUse, index: int, p: OrderPredicates, w: Window, *, growth: bool) -> UseSql:
    cur = f"{HIDDEN}{index}_cur"
    aggregates = _sales_aggregates(cur, p, w)
    multi_cur = safe(f"{cur}_cmin <> {cur}_cmax")
    warn_alias = f"{HIDDEN}warn_{index}"
    if not growth:
        value = f"CASE WHEN {multi_cur} THEN NULL ELSE coalesce({cur}_sum, 0)::DOUBLE END"
        outputs = (
            (use.name, value),
            (warn_alias, f"CASE WHEN {multi_cur} THEN [{cur}_cmin, {cur}_cmax] END"),
        )
        return UseSql("orders", aggregates, outputs, None, "ordered_at", (w,))
    prev = f"{HIDDEN}{index}_prev"
    aggregates += _sales_aggregates(prev, p, w.previous())
    multi_prev = safe(f"{prev}_cmin <> {prev}_cmax")
    # one currency in each window is not enough: a USD sum is never divided by a EUR sum
    across = safe(f"{cur}_cmin <> {prev}_cmin")
    value = (
        f"CASE WHEN {multi_cur} OR {multi_prev} OR {across} THEN NULL "
        f"WHEN coalesce({prev}_sum, 0) = 0 THEN NULL "
        f"ELSE (coalesce({cur}_sum, 0) - {prev}_sum)::DOUBLE / {prev}_sum END"
    )
    warning = (
        f"CASE WHEN {multi_cur} THEN [{cur}_cmin, {cur}_cmax] "
        f"WHEN {multi_prev} THEN [{prev}_cmin, {prev}_cmax] "
        f"WHEN {across} THEN [{prev}_cmin, {cur}_cmin] END"
    )
    mixed = f"{multi_cur} OR {multi_prev} OR {across}"
    grown: tuple[tuple[str, str], ...] = (
        (use.name, value),
        (
            f"{use.name}__num",
            f"CASE WHEN {mixed} THEN NULL "
            f"ELSE (coalesce({cur}_sum, 0) - coalesce({prev}_sum, 0))::DOUBLE END",
        ),
        (
            f"{use.name}__den",
            f"CASE WHEN {mixed} THEN NULL ELSE coalesce({prev}_sum, 0)::DOUBLE END",
        ),
        (warn_alias, warning),
    )
    return UseSql("orders", aggregates, grown, None, "ordered_at", (w, w.previous()))
