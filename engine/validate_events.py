"""Validation across rows and tables, as DuckDB SQL (after ``engine.validate_rows``).

Works on the temporary tables of the row-local stage (:func:`local_table`) and
builds, per table, :func:`final_table`: every row with its final ``_bad``
problem (``NULL`` for a valid row). In order:

* orders: a duplicated ``order_id`` (the first row keeps it); the first row of
  each id becomes the order key (:data:`ORDER_KEYS`) that events are checked
  against;
* events: an unknown order, a rejected order, another seller's order, a
  timestamp before the order, a duplicated event id;
* ratings: a second rating of one order (the earliest is kept);
* feedback (domain.md "Feedback, exactly"): the earliest ``left`` is the
  original, another ``left`` is rejected; an ``updated`` without a left,
  before it, more than 60 days after it, or after the first accepted update
  is rejected.

Duplicates use aggregates or window functions, never a loop per row.
"""

# SQL here is built from this module's own identifiers and quoted literals
# (quote_ident / quote_literal), never from row values: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sellerpolicy.engine.validate_rows import (
    bad_struct,
    first_problem_sql,
    quote_ident,
    shown_value,
)

_ID_COLUMN: Mapping[str, str] = MappingProxyType(
    {
        "claims": "claim_id",
        "chargebacks": "chargeback_id",
        "messages": "message_id",
        "disputes": "dispute_id",
    }
)
_ORDER_TIMES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "feedback": ("at",),
        "claims": ("filed_at",),
        "chargebacks": ("filed_at",),
        "messages": ("received_at", "responded_at"),
        "disputes": ("opened_at", "closed_at"),
        "ratings": ("rated_at",),
    }
)
ORDER_KEYS = "__sp_order_keys"
_DUPLICATE_ORDERS = "__sp_duplicate_orders"


def local_table(table: str) -> str:
    """Name of the temporary table holding the row-local stage of ``table``."""
    return f"__sp_local_{table}"


def final_table(table: str) -> str:
    """Name of the temporary table holding every row of ``table`` with its final ``_bad``."""
    return f"__sp_final_{table}"


def scratch_objects(table: str) -> tuple[tuple[str, str], ...]:
    """Every temporary (kind, name) the validation of ``table`` may leave behind."""
    if table == "orders":  # the final orders are a view: a cheap join, read twice
        return (
            ("VIEW", final_table(table)),
            ("TABLE", local_table(table)),
            ("TABLE", ORDER_KEYS),
            ("TABLE", _DUPLICATE_ORDERS),
        )
    return (("TABLE", local_table(table)), ("TABLE", final_table(table)))


def _duplicate_id(col: str) -> tuple[str, str, str]:
    ident = quote_ident(col)
    first = f"min(_row) OVER (PARTITION BY {ident})"
    return (
        f"{ident} IS NOT NULL AND _row > {first}",
        col,
        f"'duplicate_id: {col} ' || {shown_value(ident)} || ' already used by row ' || {first}",
    )


def _orders_statements() -> list[str]:
    """Duplicate order ids: an aggregate, then a join with the few duplicated ids."""
    dups = _DUPLICATE_ORDERS
    shown = shown_value("order_id")
    why = f"'duplicate_id: order_id ' || {shown} || ' already used by row ' || __first"
    return [
        f"CREATE OR REPLACE TEMP TABLE {dups} AS SELECT order_id, min(_row) AS __first"
        f" FROM {local_table('orders')} WHERE order_id IS NOT NULL"
        " GROUP BY order_id HAVING count(*) > 1",
        f"CREATE OR REPLACE TEMP VIEW {final_table('orders')} AS"
        " SELECT l.* EXCLUDE (_bad), coalesce(l._row > d.__first, false) AS __later,"
        f" COALESCE(l._bad, CASE WHEN l._row > d.__first THEN {bad_struct('order_id', why)} END)"
        f" AS _bad FROM {local_table('orders')} l LEFT JOIN {dups} d USING (order_id)",
        f"CREATE OR REPLACE TEMP TABLE {ORDER_KEYS} AS"
        " SELECT order_id, seller_id, ordered_at, _row, _bad IS NULL AS ok"
        f" FROM {final_table('orders')} WHERE order_id IS NOT NULL AND NOT __later",
    ]


def _event_checks(table: str) -> list[tuple[str, str | None, str]]:
    """Checks of an event row against its order, then its own id's uniqueness."""
    oid = shown_value("order_id")
    checks: list[tuple[str, str | None, str]] = [
        (
            "order_id IS NOT NULL AND __o_row IS NULL",
            "order_id",
            f"'unknown_order: order_id ' || {oid} || ' is not in orders'",
        ),
        (
            "order_id IS NOT NULL AND NOT __o_ok",
            "order_id",
            f"'rejected_order: order ' || {oid} || ' was rejected (orders row ' || __o_row || ')'",
        ),
        (
            "seller_id <> __o_seller",
            "seller_id",
            f"'seller_mismatch: seller_id ' || {shown_value('seller_id')} || ' differs from the"
            f" seller ' || {shown_value('__o_seller')} || ' of order ' || {oid}",
        ),
    ]
    for col in _ORDER_TIMES[table]:
        ident = quote_ident(col)
        checks.append(
            (
                f"{ident} < __o_at",
                col,
                f"'before_order: {col} ' || {ident} || ' is earlier than the order''s"
                f" ordered_at ' || __o_at",
            )
        )
    if table in _ID_COLUMN:
        checks.append(_duplicate_id(_ID_COLUMN[table]))
    return checks


def _events_cte(table: str) -> str:
    """CTE ``__e``: the local stage joined to its orders, with event checks applied."""
    return (
        "WITH __j AS (SELECT l.*, k._row AS __o_row, k.ok AS __o_ok,"
        " k.seller_id AS __o_seller, k.ordered_at AS __o_at"
        f" FROM {local_table(table)} l LEFT JOIN {ORDER_KEYS} k ON l.order_id = k.order_id),"
        f" __e AS (SELECT * EXCLUDE (_bad),"
        f" COALESCE(_bad, {first_problem_sql(_event_checks(table))}) AS _bad FROM __j)"
    )


def _ranked_duplicate(partition: str, order: str, struct_sql: str) -> str:
    """SQL: ``struct_sql`` for the 2nd+ good row of each partition (ordered by ``order``)."""
    window = f"OVER (PARTITION BY {partition}, _bad IS NULL ORDER BY {order})"
    return (
        f"CASE WHEN _bad IS NULL AND row_number() {window} > 1"
        f" THEN {struct_sql.replace('__FIRST__', f'first_value(_row) {window}')} END"
    )


def _ratings_tail() -> str:
    dup = bad_struct(
        "order_id",
        f"'duplicate_rating: order ' || {shown_value('order_id')} || ' was already rated"
        " (row ' || __FIRST__ || ')'",
    )
    ranked = _ranked_duplicate("order_id", "rated_at, _row", dup)
    return f" SELECT * EXCLUDE (_bad), COALESCE(_bad, {ranked}) AS _bad FROM __e"


def _feedback_tail() -> str:
    oid = shown_value("order_id")
    sequence: list[tuple[str, str | None, str]] = [
        (
            "event = 'left' AND _row <> __l_row",
            "event",
            f"'duplicate_left: order ' || {oid} || ' already has its original left"
            " (row ' || __l_row || ')'",
        ),
        (
            "event = 'updated' AND __l_row IS NULL",
            "event",
            f"'update_without_left: order ' || {oid} || ' has no accepted left feedback'",
        ),
        (
            "event = 'updated' AND \"at\" < __l_at",
            "at",
            "'update_before_left: at ' || \"at\" || ' precedes the left at ' || __l_at",
        ),
        (
            "event = 'updated' AND \"at\" > __l_at + INTERVAL 60 DAY",
            "at",
            "'update_too_late: at ' || \"at\" || ' is more than 60 days after the left at '"
            " || __l_at",
        ),
    ]
    second = bad_struct(
        "event",
        f"'second_update: order ' || {oid} || ' already has an accepted update"
        " (row ' || __FIRST__ || ')'",
    )
    ranked = _ranked_duplicate("order_id, event", '"at", _row', second)
    return (
        ', __left AS (SELECT order_id, _row AS __l_row, "at" AS __l_at FROM __e'
        " WHERE _bad IS NULL AND event = 'left'"
        ' QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY "at", _row) = 1),'
        " __s AS (SELECT __e.* EXCLUDE (_bad), __l_row, __l_at,"
        f" CASE WHEN __e._bad IS NULL THEN {first_problem_sql(sequence)}"
        " ELSE __e._bad END AS _bad"
        " FROM __e LEFT JOIN __left USING (order_id))"
        " SELECT * EXCLUDE (_bad),"
        f" COALESCE(_bad, CASE WHEN event = 'updated' THEN {ranked} END) AS _bad FROM __s"
    )


def final_statements(table: str) -> list[str]:
    """SQL statements building :func:`final_table` of ``table`` (orders first)."""
    if table == "orders":
        return _orders_statements()
    if table == "feedback":
        tail = _feedback_tail()
    elif table == "ratings":
        tail = _ratings_tail()
    else:
        tail = " SELECT * FROM __e"
    return [f"CREATE OR REPLACE TEMP TABLE {final_table(table)} AS {_events_cte(table)}{tail}"]
