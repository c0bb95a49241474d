"""The SQL of the metric catalog: one expression set per metric use.

Every metric of ``rules/catalog.py`` is defined here once, as boolean
predicates (rates) or numeric terms (averages, amounts) over a per-order
relation ``o`` (or, for ``message_response_rate``, over ``messages``). The
same predicates feed both the per-seller aggregation of
:mod:`sellerpolicy.engine.metrics.compute` and :func:`bad_rows_sql`, so the orders an
explanation lists are exactly the orders the rate counted.

The per-order relation is the ``orders`` table in the union of the windows,
left-joined only with the event tables the uses need, each event table
pre-aggregated once per order (one flag column per distinct knob value: two
uses with the same ``claim_statuses`` share a column).

All timestamps are naive UTC (``engine/sources/tables.py``); ``as_of`` and window
bounds are literals. Every predicate is null-safe (never SQL ``NULL``), so
that ``NOT`` of a predicate is its complement.

SQL is built as text on purpose: the shape of the query (joins, flag
columns, aggregates) depends on the uses, and constant window bounds let
DuckDB push the window filter into the ``orders`` scan. Every value spliced
in goes through :func:`ts`, :func:`interval`, :func:`quote` or :func:`ident`
(knob values are validated enums; use names come from packs).
"""
# ruff: noqa: S608  (string-built SQL: every spliced value is quoted, see above)

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sellerpolicy.rules.catalog import CATALOG, DEFAULT_WINDOW, Knobs, LateBasis, MetricKind
from sellerpolicy.rules.model import MetricUse

#: Rates where a high value is good: the orders against the seller are those
#: outside the numerator.
GOOD_RATES = frozenset(
    {
        "valid_tracking_rate",
        "on_time_delivery_rate",
        "perfect_order_rate",
        "message_response_rate",
        "positive_feedback_rate",
    }
)
#: A feedback removal reaches the metrics once it is this old at ``as_of``.
REMOVAL_DELAY = timedelta(hours=48)
#: A rating at or above this is positive feedback.
POSITIVE_MIN_RATING = 4
_DSR_COLUMNS = {
    "dsr_item_as_described": "item_as_described",
    "dsr_communication": "communication",
    "dsr_shipping_speed": "shipping_speed",
}
#: Prefix of helper columns that never reach the output.
HIDDEN = "__"

Table = Literal["orders", "messages"]


def ts(value: datetime) -> str:
    """A naive UTC datetime as a DuckDB timestamp literal."""
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


def interval(value: timedelta) -> str:
    """A duration as an exact DuckDB interval."""
    return f"to_microseconds({value // timedelta(microseconds=1)})"


def ident(name: str) -> str:
    """A SQL identifier (output column names come from packs)."""
    return '"' + name.replace('"', '""') + '"'


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def str_list(values: Iterable[str]) -> str:
    """``('a', 'b')`` in sorted order; ``(NULL)`` (matches nothing) when empty."""
    items = sorted(values)
    return "(" + (", ".join(quote(v) for v in items) if items else "NULL") + ")"


def safe(expr: str) -> str:
    """A predicate with SQL ``NULL`` read as false."""
    return f"coalesce({expr}, false)"


@dataclass(frozen=True, slots=True)
class Window:
    """``[start, end)`` in naive UTC."""

    start: datetime
    end: datetime

    def contains(self, column: str) -> str:
        """The predicate ``column`` in the window."""
        return f"({column} >= {ts(self.start)} AND {column} < {ts(self.end)})"

    def previous(self) -> Window:
        """The window of equal length just before this one."""
        return Window(self.start - (self.end - self.start), self.start)


def window_of(use: MetricUse, as_of: datetime) -> Window:
    """``[as_of - lag - window, as_of - lag)`` for a naive UTC ``as_of``."""
    end = as_of - use.lag
    return Window(end - use.window, end)


def orders_use(uses: Sequence[MetricUse]) -> MetricUse:
    """The use behind the ``orders`` column.

    A use named ``orders`` is the pack's own declaration; otherwise the count
    shares the ODR window (domain.md); otherwise 30 days, lag 0.
    """
    for use in uses:
        if use.name == "orders":
            return use
    for use in uses:
        if use.metric == "order_defect_rate":
            return MetricUse("orders", "orders", MetricKind.COUNT, use.window, use.lag)
    return MetricUse("orders", "orders", MetricKind.COUNT, DEFAULT_WINDOW, timedelta(0))


@dataclass
class Joins:
    """The per-order columns the uses need, each defined once.

    Event flag columns are named by registration order (``cl_0``, ``cb_1``...);
    a knob value asked for twice returns the same column. Derived flags
    (``f_0``...: windows, late, cancelled, defects) are per-order predicates
    computed once in the per-order relation and shared by every use that
    asks for the same predicate.
    """

    as_of: datetime
    _claims: dict[frozenset[str] | None, str] = field(default_factory=dict)
    _chargebacks: dict[frozenset[str], str] = field(default_factory=dict)
    _disputes: dict[str, str] = field(default_factory=dict)
    feedback: bool = False
    messages: bool = False
    ratings: bool = False
    _derived: dict[str, str] = field(default_factory=dict)

    def derive(self, predicate: str) -> str:
        """A per-order flag column holding ``predicate`` (``true`` stays a literal)."""
        if predicate == "true":
            return predicate
        return self._derived.setdefault(predicate, f"f_{len(self._derived)}")

    def derived(self) -> list[tuple[str, str]]:
        """``(column, predicate)`` of every derived flag, in registration order."""
        return [(name, predicate) for predicate, name in self._derived.items()]

    def claim(self, statuses: frozenset[str] | None) -> str:
        """Flag: the order has a claim filed before as_of with one of ``statuses`` (None: any)."""
        return self._claims.setdefault(statuses, f"cl_{len(self._claims)}")

    def chargeback(self, kinds: frozenset[str]) -> str:
        """Flag: the order has a chargeback filed before as_of of one of ``kinds``."""
        return self._chargebacks.setdefault(kinds, f"cb_{len(self._chargebacks)}")

    def dispute(self, condition: str) -> str:
        """Flag: the order has a dispute opened before as_of satisfying ``condition``."""
        return self._disputes.setdefault(condition, f"dp_{len(self._disputes)}")

    def rating(self) -> str:
        """Effective feedback rating column (NULL when none)."""
        self.feedback = True
        return "eff_rating"

    def message(self) -> str:
        """Flag: a buyer message about the order was received before as_of."""
        self.messages = True
        return "has_message"

    def dsr(self, column: str) -> tuple[str, str]:
        """Sum and count of one detailed rating made before as_of."""
        self.ratings = True
        return f"rt_{column}_sum", f"rt_{column}_n"

    def ctes(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """``(cte name, cte sql, [(column, default)])`` for each event table needed."""
        a = ts(self.as_of)
        out: list[tuple[str, str, list[tuple[str, str]]]] = []
        if self.feedback:
            removed_before = ts(self.as_of - REMOVAL_DELAY)
            out.append(
                (
                    "fb",
                    "SELECT order_id, CASE WHEN bool_or(event = 'removed' AND \"at\" <= "
                    f"{removed_before}) OR NOT bool_or(event = 'left') THEN NULL ELSE "
                    "coalesce(arg_min(rating, \"at\") FILTER (WHERE event = 'updated'), "
                    "arg_min(rating, \"at\") FILTER (WHERE event = 'left')) END AS eff_rating "
                    f'FROM feedback WHERE "at" < {a} GROUP BY order_id',
                    [("eff_rating", "NULL")],
                )
            )
        if self._claims:
            cols = [
                (name, "true" if st is None else f"bool_or(status IN {str_list(st)})")
                for st, name in self._claims.items()
            ]
            out.append(_flag_cte("cl", "claims", f"filed_at < {a}", cols))
        if self._chargebacks:
            cols = [
                (name, f"bool_or(kind IN {str_list(kinds)})")
                for kinds, name in self._chargebacks.items()
            ]
            out.append(_flag_cte("cb", "chargebacks", f"filed_at < {a}", cols))
        if self._disputes:
            cols = [(name, f"bool_or({safe(cond)})") for cond, name in self._disputes.items()]
            out.append(_flag_cte("dp", "disputes", f"opened_at < {a}", cols))
        if self.messages:
            out.append(
                _flag_cte(
                    "mo",
                    "messages",
                    f"order_id IS NOT NULL AND received_at < {a}",
                    [("has_message", "true")],
                )
            )
        if self.ratings:
            cols = []
            for column in _DSR_COLUMNS.values():
                cols.append((f"rt_{column}_sum", f"sum({column})::BIGINT"))
                cols.append((f"rt_{column}_n", f"count({column})"))
            sql = ", ".join(f"{expr} AS {name}" for name, expr in cols)
            out.append(
                (
                    "rt",
                    f"SELECT order_id, {sql} FROM ratings WHERE rated_at < {a} GROUP BY order_id",
                    [(name, "0") for name, _ in cols],
                )
            )
        return out


def _flag_cte(
    name: str, table: str, where: str, cols: list[tuple[str, str]]
) -> tuple[str, str, list[tuple[str, str]]]:
    sql = ", ".join(f"{expr} AS {col}" for col, expr in cols)
    return (
        name,
        f"SELECT order_id, {sql} FROM {table} WHERE {where} GROUP BY order_id",
        [(col, "false") for col, _ in cols],
    )


@dataclass(frozen=True, slots=True)
class UseSql:
    """The SQL of one metric use.

    ``aggregates`` are ``(hidden alias, aggregate)`` computed per seller over
    ``table``; ``outputs`` are ``(column, expression over the aliases)``;
    ``bad`` is the per-row predicate of the rows counting against the seller
    (None when the metric is not a rate); ``date_column`` dates those rows.
    """

    table: Table
    aggregates: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    bad: str | None
    date_column: str
    windows: tuple[Window, ...]


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
    if metric in _DSR_COLUMNS:
        total, count = joins.dsr(_DSR_COLUMNS[metric])
        return _average(use, index, w, total, count)
    if metric == "orders":
        alias = f"{HIDDEN}{index}_n"
        agg = ((alias, f"count(*) FILTER (WHERE {w.contains('ordered_at')})"),)
        out = ((use.name, f"coalesce({alias}, 0)"),)
        return UseSql("orders", agg, out, None, "ordered_at", (w,))
    if metric in ("gross_sales", "sales_growth_rate"):
        return _sales(use, index, p, w, growth=metric == "sales_growth_rate")
    raise ValueError(f"metric use {use.name!r}: metric {metric!r} has no SQL")  # pragma: no cover


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


def _sales_aggregates(prefix: str, p: OrderPredicates, w: Window) -> tuple[tuple[str, str], ...]:
    counted = f"{w.contains('ordered_at')} AND NOT {p.cancelled}"
    return (
        (f"{prefix}_sum", f"sum(amount) FILTER (WHERE {counted})"),
        (f"{prefix}_cmin", f"min(currency) FILTER (WHERE {counted})"),
        (f"{prefix}_cmax", f"max(currency) FILTER (WHERE {counted})"),
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
    value = (
        f"CASE WHEN {multi_cur} OR {multi_prev} THEN NULL "
        f"WHEN coalesce({prev}_sum, 0) = 0 THEN NULL "
        f"ELSE (coalesce({cur}_sum, 0) - {prev}_sum)::DOUBLE / {prev}_sum END"
    )
    warning = (
        f"CASE WHEN {multi_cur} THEN [{cur}_cmin, {cur}_cmax] "
        f"WHEN {multi_prev} THEN [{prev}_cmin, {prev}_cmax] END"
    )
    outputs = ((use.name, value), (warn_alias, warning))
    return UseSql("orders", aggregates, outputs, None, "ordered_at", (w, w.previous()))
