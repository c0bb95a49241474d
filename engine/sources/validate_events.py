"""Validation across rows and tables, as DuckDB SQL (after ``engine.validate_rows``).

Works on the row-local stage of each table, read through :func:`rows_view`:
the 1-based data row ``_row``, the canonical columns, ``_bad`` and ``_fails``
(whether ``_bad`` is not NULL, as a plain predicate) (a view over a work table
in file order, whose ``rowid + 1`` is the row, or over a Parquet file, whose row
number is), and builds, per table, :func:`bad_table`: the ``_row`` and final
``_bad`` problem of every rejected row, nothing else. A query that only needs
the rejected rows filters on ``_fails``, so that the problem and its reason text
are built for those rows only. In order:

* orders: a duplicated ``order_id`` (the first row keeps it); the rejected
  first rows of an id are kept apart (events of them are rejected);
* events: one join of the good rows of every event table with the valid
  orders (:data:`ORDER_PROBLEMS`, the orders without their rejected rows)
  finds an unknown order, a rejected order, another seller's order, a
  timestamp before the order; then per table a duplicated event id;
* ratings: a second rating of one order (the earliest is kept);
* sellers (no order): a duplicated ``seller_id`` (the first row keeps it);
* feedback (docs/metrics.md, "The effective feedback rating"): the earliest
  ``left`` is the original, another ``left`` is rejected; an ``updated`` without a left,
  before it, more than 60 days after it, or after the first accepted update
  is rejected.

Each row gets its first problem, in the order above. Duplicates are found with
aggregates over the key (ids seen more than once), looked for only in the id
columns (:data:`ID_COLUMNS`) whose sorted id hashes (:func:`id_hashes_sql`) have
two equal ones: no duplicate at all, the usual case, costs no join. Windows run
only over the few rows those concern, never a loop per row.
:func:`prune_statements` and :func:`rename_statements` then turn a work table
into its canonical table in place: delete the rejected rows, drop ``_bad``,
rename.
"""

# SQL here is built from this module's own identifiers and quoted literals
# (quote_ident / quote_literal), never from row values: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sellerpolicy.engine.sources.tables import TABLES
from sellerpolicy.engine.sources.validate_rows import (
    bad_struct,
    first_problem_sql,
    quote_ident,
    quote_literal,
    shown_value,
)

_ID_COLUMN: Mapping[str, str] = MappingProxyType(
    {
        "claims": "claim_id",
        "chargebacks": "chargeback_id",
        "messages": "message_id",
        "disputes": "dispute_id",
        "returns": "return_id",
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
        "returns": ("requested_at",),
    }
)
#: Tables of one row per seller, not per order event: no order to check against.
SELLER_TABLES = ("sellers",)
EVENT_TABLES = tuple(t for t in TABLES if t != "orders" and t not in SELLER_TABLES)
#: The id column of each table whose ids must be unique (the first row keeps an id).
ID_COLUMNS: Mapping[str, str] = MappingProxyType(
    {"orders": "order_id", **_ID_COLUMN, "sellers": "seller_id"}
)
ORDER_PROBLEMS = "__sp_order_problems"
_DUPLICATE_ORDERS = "__sp_duplicate_orders"


def work_table(table: str) -> str:
    """Name of the table holding the row-local stage of ``table`` (becomes ``table``)."""
    return f"__sp_work_{table}"


def rows_view(table: str) -> str:
    """Name of the temporary view of the row-local stage of ``table`` with ``_row``."""
    return f"__sp_rows_{table}"


def rows_view_statement(table: str) -> str:
    """SQL creating :func:`rows_view` over the work table (its ``rowid + 1`` is the row),
    with ``_fails``: whether the row has a row-local problem (``_bad`` is stored)."""
    return (
        f"CREATE OR REPLACE TEMP VIEW {rows_view(table)} AS"
        f" SELECT rowid + 1 AS _row, *, _bad IS NOT NULL AS _fails FROM {work_table(table)}"
    )


def bad_table(table: str) -> str:
    """Name of the temporary table holding the rejected rows of ``table``."""
    return f"__sp_bad_{table}"


def scratch_views() -> tuple[str, ...]:
    """Every view the validation may leave behind (dropped when it ends, first)."""
    return tuple(rows_view(t) for t in TABLES)


def scratch_objects() -> tuple[str, ...]:
    """Every table the validation may leave behind (dropped when it ends)."""
    return (
        *(work_table(t) for t in TABLES),
        *(bad_table(t) for t in TABLES),
        *(duplicate_hashes_table(t) for t in ID_COLUMNS),
        _DUPLICATE_ORDERS,
        ORDER_PROBLEMS,
    )


def duplicate_hashes_table(table: str) -> str:
    """Name of the table of the id hashes (``__h``) seen more than once in ``table``'s
    id column (:data:`ID_COLUMNS`): a superset of the duplicated ids' hashes, found by
    the caller from the sorted hashes of :func:`id_hashes_sql` and created before the
    statements of a table whose ids are not ``unique`` run."""
    return f"__sp_duplicate_hashes_{table}"


def duplicate_hashes_statement(table: str, hashes: str) -> str:
    """SQL creating :func:`duplicate_hashes_table` of ``table`` from the column ``__h``
    of ``hashes`` (the caller's, e.g. a registered array)."""
    return (
        f"CREATE OR REPLACE TEMP TABLE {duplicate_hashes_table(table)} AS"
        f" SELECT CAST(__h AS UBIGINT) AS __h FROM {quote_ident(hashes)}"
    )


def _duplicate_ids(table: str, col: str, hashes: str) -> str:
    """SQL: the ids of ``col`` used by more than one row, with their first row.

    ``hashes`` is a table of candidate hashes (:func:`duplicate_hashes_table`);
    only the few rows with such a hash are grouped exactly.
    """
    ident = quote_ident(col)
    return (
        f"SELECT {ident}, min(_row) AS __first FROM {rows_view(table)}"
        f" WHERE hash({ident}) IN (SELECT __h FROM {hashes})"
        f" GROUP BY {ident} HAVING count(*) > 1"
    )


def id_hashes_sql(table: str, col: str) -> str:
    """SQL: the hash of every value of ``col`` (one row per row that has one).

    No two equal hashes proves that no two rows share a value (checked by sorting
    the hashes with NumPy: measured on 10 M order ids, about a third of the CPU time
    of ``count(DISTINCT ...)``, grouping or a window over them in DuckDB); the equal
    ones (:func:`duplicate_hashes_table`) mean duplicates or a hash collision, which
    the statements then settle exactly (``unique`` of :func:`orders_statements` and
    :func:`event_statements`).
    """
    ident = quote_ident(col)
    return f"SELECT hash({ident}) AS __h FROM {rows_view(table)} WHERE {ident} IS NOT NULL"


def orders_statements(*, unique: bool = False) -> list[str]:
    """SQL building :func:`bad_table` of orders (run first): duplicate order ids, then
    every rejected order row with ``__later`` (not the first row of its id).

    ``unique`` says that the hashes of :func:`id_hashes_sql` showed no duplicated
    order id: the duplicates are not looked for, and the rejected rows are those
    with a row-local problem (``_fails``), their ``_bad`` built for them only;
    otherwise :func:`duplicate_hashes_table` of orders must exist.
    """
    if unique:
        return [
            f"CREATE TEMP TABLE {bad_table('orders')} AS"
            f" SELECT _row, order_id, false AS __later, _bad FROM {rows_view('orders')}"
            " WHERE _fails"
        ]
    shown = shown_value("w.order_id")
    why = f"'duplicate_id: order_id ' || {shown} || ' already used by row ' || d.__first"
    later = "w._row > d.__first"
    return [
        f"CREATE TEMP TABLE {_DUPLICATE_ORDERS} AS"
        f" {_duplicate_ids('orders', 'order_id', duplicate_hashes_table('orders'))}",
        f"CREATE TEMP TABLE {bad_table('orders')} AS"
        f" SELECT w._row, w.order_id, coalesce({later}, false) AS __later,"
        f" COALESCE(w._bad, CASE WHEN {later} THEN {bad_struct('order_id', why)} END) AS _bad"
        f" FROM {rows_view('orders')} w LEFT JOIN {_DUPLICATE_ORDERS} d USING (order_id)"
        f" WHERE w._bad IS NOT NULL OR {later}",
    ]


def _times(table: str) -> tuple[str, str]:
    """SQL: the (first, second) timestamp columns of ``table`` checked against its order."""
    cols = [quote_ident(c) for c in _ORDER_TIMES[table]]
    return cols[0], cols[1] if len(cols) > 1 else "NULL::TIMESTAMP"


def _order_problem_sql() -> str:
    """SQL ``CASE``: the first problem of an event row with its order, else NULL.

    The row carries its table's index in :data:`EVENT_TABLES` as ``__t``, its time
    columns as ``__t1``/``__t2``; its order as ``__o_ok`` (NULL: no such order),
    ``__o_row``, ``__o_seller`` and ``__o_at``.
    """
    oid = shown_value("order_id")

    def name(which: int) -> str:  # SQL: the name of the row's time column __t1 or __t2
        names = " ".join(
            f"WHEN {i} THEN {quote_literal(_ORDER_TIMES[t][which])}"
            for i, t in enumerate(EVENT_TABLES)
        )
        return f"(CASE __t {names} END)"

    whens = [
        (
            "__o_ok IS NULL",
            quote_literal("order_id"),
            f"'unknown_order: order_id ' || {oid} || ' is not in orders'",
        ),
        (
            "NOT __o_ok",
            quote_literal("order_id"),
            f"'rejected_order: order ' || {oid} || ' was rejected (orders row ' || __o_row || ')'",
        ),
        (
            "seller_id <> __o_seller",
            quote_literal("seller_id"),
            f"'seller_mismatch: seller_id ' || {shown_value('seller_id')} || ' differs from the"
            f" seller ' || {shown_value('__o_seller')} || ' of order ' || {oid}",
        ),
        *(
            (
                f"{t} < __o_at",
                c,
                f"'before_order: ' || {c} || ' ' || {t} || ' is earlier than the order''s"
                " ordered_at ' || __o_at",
            )
            for t, c in (("__t1", name(0)), ("__t2", name(-1)))
        ),
    ]
    cases = " ".join(
        f"WHEN {cond} THEN {{'col': {col}, 'reason': {why}}}" for cond, col, why in whens
    )
    return f"CASE {cases} END"


def _order_problems_statement(orders_rejected: bool) -> str:
    """One join of the good rows of every event table with the orders they name.

    The keys are the valid orders (``ok``: the rows of orders not in its
    :func:`bad_table`; ``orders_rejected`` says whether that has rows) and the
    rejected first rows of an order id (not ``ok``, with their row); an event row
    without a match names an unknown order. Keeps only the rows with a problem.
    """
    events = " UNION ALL ".join(
        f"SELECT {i} AS __t, _row, order_id, seller_id,"
        f" {_times(t)[0]} AS __t1, {_times(t)[1]} AS __t2"
        f" FROM {rows_view(t)} WHERE _bad IS NULL AND order_id IS NOT NULL"
        for i, t in enumerate(EVENT_TABLES)
    )
    valid = (
        f" WHERE _row NOT IN (SELECT _row FROM {bad_table('orders')})" if orders_rejected else ""
    )
    keys = (
        "SELECT order_id, true AS ok, seller_id AS __o_seller, ordered_at AS __o_at,"
        f" NULL::BIGINT AS __o_row FROM {rows_view('orders')}{valid}"
        " UNION ALL SELECT order_id, false, NULL, NULL, _row"
        f" FROM {bad_table('orders')} WHERE NOT __later AND order_id IS NOT NULL"
    )
    return (
        f"CREATE TEMP TABLE {ORDER_PROBLEMS} AS SELECT __t, _row, _bad FROM"
        f" (SELECT e.__t, e._row, {_order_problem_sql()} AS _bad FROM ({events}) e"
        f" LEFT JOIN (SELECT order_id, ok AS __o_ok, __o_seller, __o_at, __o_row FROM ({keys}))"
        " k USING (order_id)) WHERE _bad IS NOT NULL"
    )


def _events_cte(table: str, unique: bool) -> str:
    """CTE ``__e``: every row of the work table with its first problem so far.

    The problem is the row-local one, else the one with its order
    (:data:`ORDER_PROBLEMS`), else a duplicated event id (not looked for when
    ``unique``).
    """
    index = EVENT_TABLES.index(table)
    dup_join = ""
    dup_check = "NULL"
    if table in _ID_COLUMN and not unique:
        col = _ID_COLUMN[table]
        ident = quote_ident(col)
        dups = _duplicate_ids(table, col, duplicate_hashes_table(table))
        dup_join = f" LEFT JOIN ({dups}) d USING ({ident})"
        why = (
            f"'duplicate_id: {col} ' || {shown_value(ident)} || ' already used by row '"
            " || d.__first"
        )
        dup_check = f"CASE WHEN w._row > d.__first THEN {bad_struct(col, why)} END"
    return (
        "WITH __e AS (SELECT w.* EXCLUDE (_bad, _fails),"
        f" COALESCE(w._bad, p._bad, {dup_check}) AS _bad FROM {rows_view(table)} w"
        f" LEFT JOIN (SELECT _row, _bad FROM {ORDER_PROBLEMS} WHERE __t = {index}) p"
        f" ON p._row = w._row{dup_join})"
    )


def _ratings_tail() -> str:
    """Bad rows of ratings: the event checks, then a second rating of one order."""
    dup = bad_struct(
        "order_id",
        f"'duplicate_rating: order ' || {shown_value('order_id')} || ' was already rated"
        " (row ' || __first || ')'",
    )
    window = "OVER (PARTITION BY order_id ORDER BY rated_at, _row)"
    return (
        f", __dup AS (SELECT _row, {dup} AS __bad FROM"
        f" (SELECT _row, order_id, row_number() {window} AS __n, first_value(_row) {window}"
        " AS __first FROM (SELECT * FROM __e WHERE _bad IS NULL AND order_id IN"
        " (SELECT order_id FROM __e WHERE _bad IS NULL GROUP BY order_id HAVING count(*) > 1)))"
        " WHERE __n > 1)"
        " SELECT _row, COALESCE(_bad, __bad) AS _bad FROM __e LEFT JOIN __dup USING (_row)"
        " WHERE _bad IS NOT NULL OR __bad IS NOT NULL"
    )


def _feedback_tail() -> str:
    """Bad rows of feedback: the event checks, then the sequence of each order."""
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
        " (row ' || __first || ')'",
    )
    window = 'OVER (PARTITION BY order_id ORDER BY "at", _row)'
    return (
        # The original left of an order (the earliest accepted one, then the first row),
        # for the orders the sequence checks can concern: with updates or several lefts.
        ", __left AS (SELECT order_id, min({'l_at': \"at\", 'l_row': _row})"
        " FILTER (WHERE event = 'left') AS __l FROM __e"
        " WHERE _bad IS NULL AND event IN ('left', 'updated') GROUP BY order_id"
        " HAVING count(*) FILTER (WHERE event = 'left') > 1"
        " OR count(*) FILTER (WHERE event = 'updated') > 0),"
        " __s AS (SELECT __e.* EXCLUDE (_bad), struct_extract(__l, 'l_row') AS __l_row,"
        " struct_extract(__l, 'l_at') AS __l_at,"
        f" CASE WHEN __e._bad IS NULL THEN {first_problem_sql(sequence)}"
        " ELSE __e._bad END AS _bad"
        " FROM __e LEFT JOIN __left USING (order_id)),"
        f" __second AS (SELECT _row, {second} AS __bad FROM"
        f" (SELECT _row, order_id, row_number() {window} AS __n, first_value(_row) {window}"
        " AS __first FROM (SELECT * FROM __s WHERE _bad IS NULL AND event = 'updated'"
        " AND order_id IN (SELECT order_id FROM __s WHERE _bad IS NULL AND event = 'updated'"
        " GROUP BY order_id HAVING count(*) > 1))) WHERE __n > 1)"
        " SELECT _row, COALESCE(_bad, __bad) AS _bad FROM __s LEFT JOIN __second USING (_row)"
        " WHERE _bad IS NOT NULL OR __bad IS NOT NULL"
    )


def _event_statement(table: str, unique: bool) -> str:
    """SQL creating :func:`bad_table` of one event table (``unique``: no duplicated id)."""
    bad = f"CREATE TEMP TABLE {bad_table(table)} AS"
    if table == "feedback":
        tail = _feedback_tail()
    elif table == "ratings":
        tail = _ratings_tail()
    elif unique or table not in _ID_COLUMN:  # nothing after the checks with the order
        return (
            f"{bad} SELECT _row, _bad FROM {rows_view(table)} WHERE _fails UNION ALL"
            f" SELECT _row, _bad FROM {ORDER_PROBLEMS} WHERE __t = {EVENT_TABLES.index(table)}"
        )
    else:
        tail = " SELECT _row, _bad FROM __e WHERE _bad IS NOT NULL"
    return f"{bad} {_events_cte(table, unique)}{tail}"


def _sellers_statement(unique: bool) -> str:
    """SQL creating :func:`bad_table` of sellers: the row-local problems, then a
    ``seller_id`` already used by an earlier row (the first row keeps it; not looked
    for when ``unique``)."""
    if unique:
        return (
            f"CREATE TEMP TABLE {bad_table('sellers')} AS"
            f" SELECT _row, _bad FROM {rows_view('sellers')} WHERE _fails"
        )
    dups = _duplicate_ids("sellers", "seller_id", duplicate_hashes_table("sellers"))
    why = (
        f"'duplicate_id: seller_id ' || {shown_value('w.seller_id')} || ' already used by row '"
        " || d.__first"
    )
    later = "coalesce(w._row > d.__first, false)"
    return (
        f"CREATE TEMP TABLE {bad_table('sellers')} AS SELECT w._row,"
        f" COALESCE(w._bad, CASE WHEN {later} THEN {bad_struct('seller_id', why)} END) AS _bad"
        f" FROM {rows_view('sellers')} w LEFT JOIN ({dups}) d USING (seller_id)"
        f" WHERE w._bad IS NOT NULL OR {later}"
    )


def event_statements(
    *, orders_rejected: bool = True, unique: frozenset[str] = frozenset()
) -> list[str]:
    """SQL statements building :func:`bad_table` of every event table and of sellers.

    Run after :func:`orders_statements`; ``orders_rejected`` says whether it
    rejected any order (otherwise every order row is a valid order); ``unique``
    names the tables of :data:`ID_COLUMNS` whose id hashes are pairwise different
    (:func:`id_hashes_sql`), whose duplicated ids are not looked for; each other
    table of :data:`ID_COLUMNS` must have its :func:`duplicate_hashes_table`.
    """
    return [
        _order_problems_statement(orders_rejected),
        *(_event_statement(t, t in unique) for t in EVENT_TABLES),
        _sellers_statement("sellers" in unique),
    ]


def rejected_rows_sql(table: str) -> str:
    """SQL: ``(row, column, reason)`` of every rejected row of ``table``, by row."""
    return f"SELECT _row, _bad.col, _bad.reason FROM {bad_table(table)} ORDER BY _row"


def prune_statements(table: str, rejected: bool) -> list[str]:
    """SQL deleting the rejected rows from the work table of ``table``, dropping ``_bad``.

    ``rejected`` says whether any row was rejected (otherwise nothing is deleted).
    The rows left keep their ``rowid``.
    """
    work = work_table(table)
    delete = f"DELETE FROM {work} WHERE rowid IN (SELECT _row - 1 FROM {bad_table(table)})"
    return [*([delete] if rejected else []), f"ALTER TABLE {work} DROP COLUMN _bad"]


def rename_statements(table: str) -> list[str]:
    """SQL naming the pruned work table of ``table`` as the canonical ``table``
    (after the caller's ``table`` was dropped)."""
    return [f"ALTER TABLE {work_table(table)} RENAME TO {quote_ident(table)}"]
