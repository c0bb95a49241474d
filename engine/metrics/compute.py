"""Stage 2, metrics: per-seller metric facts computed in DuckDB.

:func:`compute_metrics` reads the canonical tables of ``engine/sources/tables.py``
from a DuckDB connection and returns one row per seller appearing in
``orders`` or ``messages``: ``seller_id``, ``as_of``, ``orders``, then for
every metric use its value under the use's name and, for rates, averages
and growth, ``<name>__num`` / ``<name>__den``. Definitions follow the metric
catalog (:mod:`sellerpolicy.rules.catalog`) exactly; the SQL lives in
:mod:`sellerpolicy.engine.metrics.sql` and :mod:`sellerpolicy.engine.metrics.relation`.

The work is one scan of ``orders`` (restricted to the union of the windows),
left-joined only with the event tables the uses need, each pre-aggregated per
order, and one ``GROUP BY seller_id`` computing every use with ``FILTER``
clauses; ``messages`` get the same treatment for response-time uses.

Limitation (docs/metrics.md): claim status, ``tracking_valid``, ``escalated`` and
``seller_responsible`` are current values without history, so replaying a
past ``as_of`` is exact only for timestamps.
"""
# ruff: noqa: S608  (assembles the quoted fragments of metrics_sql; seller ids are bound)

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from sellerpolicy.engine.sources.limits import unavailable_metrics
from sellerpolicy.rules.catalog import counts_in_facts
from sellerpolicy.rules.model import MetricUse

from .daily import daily_score_facts
from .facts import Number, SellerFacts, as_of_instant, as_of_label
from .relation import HIDDEN, Joins, Window, ident, quote
from .sql import UseSql, build_use, orders_use

__all__ = [
    "DuckDBEvidence",
    "MetricWarning",
    "MetricsResult",
    "bad_order_dates",
    "compute_metrics",
    "configure_connection",
    "fact_columns",
    "iter_facts",
    "metrics_sql",
]

_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
_RESERVED = frozenset({"seller_id", "as_of"})


@dataclass(frozen=True, slots=True)
class MetricWarning:
    """A metric that could not be measured for one seller, and why."""

    seller_id: str
    metric: str
    message: str


@dataclass(frozen=True, slots=True)
class MetricsResult:
    """Metric facts (one row per seller, sorted by ``seller_id``) and warnings."""

    table: pa.Table
    warnings: tuple[MetricWarning, ...]


def configure_connection(
    con: duckdb.DuckDBPyConnection,
    *,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
    threads: int | None = None,
) -> None:
    """Bound DuckDB's memory (``4GB``) and let large inputs spill to ``temp_directory``."""
    if memory_limit is not None:
        if not _MEMORY.match(memory_limit.strip()):
            raise ValueError(f"not a memory size: {memory_limit!r} (write e.g. '4GB' or '512MB')")
        con.execute(f"SET memory_limit = {quote(memory_limit.strip())}")
    if temp_directory is not None:
        temp_directory.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {quote(str(temp_directory))}")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        con.execute(f"SET threads = {int(threads)}")


def fact_columns(uses: Sequence[MetricUse]) -> list[str]:
    """The output columns for ``uses``, in order (the facts naming of docs/data-contract.md)."""
    columns = ["seller_id", "as_of", "orders"]
    for use in uses:
        if use.name == "orders":
            continue
        columns.append(use.name)
        if counts_in_facts(use.kind):
            columns += [f"{use.name}__num", f"{use.name}__den"]
    return columns


def _check_uses(uses: Sequence[MetricUse]) -> None:
    seen: set[str] = set()
    for use in uses:
        if use.name in seen:
            raise ValueError(f"two metric uses are named {use.name!r}")
        if use.name in _RESERVED or HIDDEN in use.name:
            raise ValueError(f"metric use name {use.name!r} is reserved or not a facts name")
        if use.name == "orders" and use.metric != "orders":
            raise ValueError(f"metric use 'orders' must use metric 'orders', not {use.metric!r}")
        if use.window.total_seconds() <= 0 or use.lag.total_seconds() < 0:
            raise ValueError(f"metric use {use.name!r}: window must be > 0 and lag >= 0")
        seen.add(use.name)


def _naive(as_of: date | datetime) -> datetime:
    return as_of_instant(as_of).astimezone(UTC).replace(tzinfo=None)


def _orders_relation(joins: Joins, where: str) -> tuple[list[str], str]:
    """The CTEs and the per-order relation (orders + needed event columns + derived flags).

    Each event table is pre-aggregated to one row per order; with several,
    their rows are stacked (``UNION ALL BY NAME``) and folded into one row per
    order, so ``orders`` is probed by a single hash join however many event
    tables the uses need.
    """
    parts = joins.ctes()
    ctes = [f"{name} AS ({sql})" for name, sql, _ in parts]
    columns = [column for _, _, cols in parts for column in cols]
    join = ""
    if len(parts) == 1:
        events = parts[0][0]
    elif parts:
        events = "ev"
        stacked = " UNION ALL BY NAME ".join(f"SELECT * FROM {name}" for name, _, _ in parts)
        folded = ", ".join(f"any_value({col}) AS {col}" for col, _ in columns)
        ctes.append(f"ev AS (SELECT order_id, {folded} FROM ({stacked}) GROUP BY order_id)")
    if parts:
        join = f" LEFT JOIN {events} ON {events}.order_id = orders.order_id"
    extra = "".join(f", coalesce({events}.{col}, {default}) AS {col}" for col, default in columns)
    relation = f"SELECT orders.*{extra} FROM orders{join} WHERE {where}"
    flags = "".join(f", {predicate} AS {name}" for name, predicate in joins.derived())
    return ctes, f"SELECT *{flags} FROM ({relation})"


def _union(windows: Sequence[Window], column: str) -> str:
    if not windows:
        return "false"
    start = min(w.start for w in windows)
    end = max(w.end for w in windows)
    return Window(start, end).contains(column)


def metrics_sql(uses: Sequence[MetricUse], as_of: date | datetime) -> str:
    """The one query computing every use (exposed for ``EXPLAIN`` and tests)."""
    _check_uses(uses)
    instant = _naive(as_of)
    joins = Joins(instant)
    all_uses = [orders_use(uses), *(u for u in uses if u.name != "orders")]
    built = [build_use(use, instant, joins, i) for i, use in enumerate(all_uses)]
    on_orders = [b for b in built if b.table == "orders"]
    on_messages = [b for b in built if b.table == "messages"]
    on_sellers = [b for b in built if b.table == "sellers"]
    order_windows = [w for b in on_orders for w in b.windows]
    scanned = " OR ".join([_union(order_windows, "orders.ordered_at")] + [
        b.scan for b in on_orders if b.scan is not None
    ])  # fmt: skip
    ctes, relation = _orders_relation(joins, scanned)
    ctes.append(f"o AS ({relation})")
    ctes.append(f"ao AS ({_aggregate('o', on_orders, 'true')})")
    joined = "LEFT JOIN ao USING (seller_id)"
    if on_messages:
        message_windows = [w for b in on_messages for w in b.windows]
        where = _union(message_windows, "received_at")
        ctes.append(f"am AS ({_aggregate('messages', on_messages, where)})")
        joined += " LEFT JOIN am USING (seller_id)"
    if on_sellers:
        ctes.append(f"asl AS ({_aggregate('sellers', on_sellers, 'true')})")
        joined += " LEFT JOIN asl USING (seller_id)"
    ctes.append("s AS (SELECT seller_id FROM orders UNION SELECT seller_id FROM messages)")
    outputs = [f"{expr} AS {ident(name)}" for b in built for name, expr in b.outputs]
    label = quote(as_of_label(as_of_instant(as_of)))
    return (
        f"WITH {', '.join(ctes)} SELECT s.seller_id, {label} AS as_of, {', '.join(outputs)} "
        f"FROM s {joined} ORDER BY s.seller_id"
    )


def _aggregate(table: str, built: Sequence[UseSql], where: str) -> str:
    aggs = ", ".join(f"{expr} AS {alias}" for b in built for alias, expr in b.aggregates)
    return f"SELECT seller_id, {aggs} FROM {table} WHERE {where} GROUP BY seller_id"


def compute_metrics(
    con: duckdb.DuckDBPyConnection, uses: Sequence[MetricUse], as_of: date | datetime
) -> MetricsResult:
    """Metric facts for every seller in ``orders`` or ``messages`` at ``as_of``.

    ``as_of`` is an aware datetime, a naive one (UTC) or a date (00:00 UTC).
    Raises ValueError for uses that cannot be computed (duplicate or reserved
    names, unknown metrics, empty windows).
    """
    plain = [use for use in uses if use.daily is None]
    table = con.sql(metrics_sql(plain, as_of)).to_arrow_table()
    daily = [use for use in uses if use.daily is not None]
    if daily:
        table = _with_daily(con, table, daily, as_of, fact_columns(uses))
    warnings: list[MetricWarning] = []
    hidden = [name for name in table.column_names if name.startswith(HIDDEN)]
    for name in hidden:
        use_name = _use_of_warning(name, plain)
        for seller, currencies in zip(
            table.column("seller_id").to_pylist(), table.column(name).to_pylist(), strict=True
        ):
            if currencies is not None:
                warnings.append(
                    MetricWarning(
                        seller,
                        use_name,
                        f"orders in several currencies (at least {currencies[0]} and "
                        f"{currencies[1]}) in the window: {use_name} is null",
                    )
                )
    return MetricsResult(_unmeasured(table.drop_columns(hidden), uses, con), tuple(warnings))


def _with_daily(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    uses: Sequence[MetricUse],
    as_of: date | datetime,
    columns: Sequence[str],
) -> pa.Table:
    """``table`` with the facts of each ``daily_score_average`` use, in ``columns``' order
    (hidden columns last)."""
    sellers = table.column("seller_id")
    for use in uses:
        averaged = daily_score_facts(con, use, _naive(as_of), metrics_sql)
        if not averaged.column("seller_id").equals(sellers):  # the same sellers, sorted alike
            raise RuntimeError(f"daily score {use.name!r}: sellers differ from the facts'")
        for name in averaged.column_names[1:]:
            table = table.append_column(name, averaged.column(name))
    hidden = [name for name in table.column_names if name.startswith(HIDDEN)]
    return table.select([*columns, *hidden])


def _unmeasured(
    table: pa.Table, uses: Sequence[MetricUse], con: duckdb.DuckDBPyConnection
) -> pa.Table:
    """The facts with every use of a metric the source cannot measure made null.

    A source imported from marketplace reports declares such metrics
    (:mod:`sellerpolicy.engine.sources.limits`): computed from its empty
    columns they would be wrong, so they are "not measured".
    """
    unavailable = unavailable_metrics(con)
    if not unavailable:
        return table
    for use in uses:
        reads = use.daily.reads if use.daily is not None else (use,)
        if all(read.metric not in unavailable for read in reads):
            continue
        for name in (use.name, f"{use.name}__num", f"{use.name}__den"):
            if name in table.column_names:
                index = table.column_names.index(name)
                kind = table.schema.field(index).type
                table = table.set_column(index, name, pa.nulls(table.num_rows, kind))
    return table


def _use_of_warning(column: str, uses: Sequence[MetricUse]) -> str:
    # Hidden warning columns are named "__warn_<index>" over [orders use, *uses without it].
    index = int(column.rsplit("_", 1)[1])
    ordered = [orders_use(uses), *(u for u in uses if u.name != "orders")]
    return ordered[index].name


def bad_order_dates(
    con: duckdb.DuckDBPyConnection, use: MetricUse, as_of: date | datetime, seller_id: str
) -> list[date]:
    """Dates of the seller's rows that count against it in ``use``'s window, sorted.

    For rates where high is bad (defects, cancels, late shipments) the
    numerator orders; for rates where high is good (tracking, on-time,
    perfect orders, positive feedback) the orders of the denominator outside
    the numerator; for ``message_response_rate`` the due messages not answered
    in time (by ``received_at``). One date per row. ValueError for a metric
    that is not a rate.
    """
    instant = _naive(as_of)
    joins = Joins(instant)
    built = build_use(use, instant, joins, 0)
    if built.bad is None:
        raise ValueError(f"metric use {use.name!r} ({use.metric}) is not a rate")
    ctes: list[str] = []
    if built.table == "messages":
        relation = "SELECT * FROM messages WHERE seller_id = $seller"
    else:
        ctes, relation = _orders_relation(joins, "orders.seller_id = $seller")
    ctes.append(f"r AS ({relation})")
    sql = (
        f"WITH {', '.join(ctes)} SELECT CAST({built.date_column} AS DATE) AS day "
        f"FROM r WHERE {built.bad} ORDER BY day"
    )
    rows = con.execute(sql, {"seller": seller_id}).fetchall()
    return [row[0] for row in rows]


@dataclass(frozen=True, slots=True)
class DuckDBEvidence:
    """The explanation code's evidence lookup over a loaded source (``EvidenceLookup``)."""

    con: duckdb.DuckDBPyConnection
    uses: tuple[MetricUse, ...]
    as_of: datetime

    def bad_order_dates(self, seller_id: str, metric_name: str) -> list[date]:
        """Dates of the orders counting against ``seller_id`` in the use ``metric_name``."""
        for use in self.uses:
            if use.name == metric_name:
                return bad_order_dates(self.con, use, self.as_of, seller_id)
        raise KeyError(metric_name)


def iter_facts(table: pa.Table, as_of: date | datetime) -> Iterator[SellerFacts]:
    """The rows of a metrics table as :class:`SellerFacts` (for in-process evaluation)."""
    instant = as_of_instant(as_of)
    names = [n for n in table.column_names if n not in _RESERVED]
    for batch in table.to_batches():
        columns = {n: batch.column(n).to_pylist() for n in names}
        for i, seller in enumerate(batch.column("seller_id").to_pylist()):
            values: dict[str, Number | None] = {n: columns[n][i] for n in names}
            yield SellerFacts(seller, instant, values)
