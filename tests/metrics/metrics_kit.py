"""Building small canonical sources in DuckDB for the metric tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.sources.tables import TABLES, create_table_sql
from sellerpolicy.rules.catalog import CATALOG, Knobs
from sellerpolicy.rules.model import MetricUse

Row = Mapping[str, Any]
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
AS_OF_NAIVE = datetime(2026, 11, 1)


def source(**tables: Sequence[Row]) -> duckdb.DuckDBPyConnection:
    """A connection holding every canonical table, filled with ``tables`` rows."""
    con = duckdb.connect()
    for table in TABLES:
        con.execute(create_table_sql(table))
    for table, rows in tables.items():
        insert(con, table, rows)
    return con


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Row]) -> None:
    """Insert rows (missing columns are NULL) into a canonical table."""
    columns = [name for name, _ in TABLES[table]]
    for row in rows:
        unknown = set(row) - set(columns)
        assert not unknown, f"{table}: unknown columns {unknown}"
    if rows:
        placeholders = ", ".join("?" for _ in columns)
        con.executemany(
            f'INSERT INTO "{table}" VALUES ({placeholders})',
            [[row.get(c) for c in columns] for row in rows],
        )


def use(
    metric: str,
    *,
    name: str | None = None,
    days: float = 30,
    lag_days: float = 0,
    months: int | None = None,
    **knobs: Any,
) -> MetricUse:
    """A metric use with catalog kind and knob defaults, window/lag in days, knob overrides;
    ``months``: a calendar window of that many months (``days`` is then ignored)."""
    spec = CATALOG[metric]
    resolved = {str(knob): value for knob, value in spec.defaults.items()} | knobs
    return MetricUse(
        name or metric,
        metric,
        CATALOG[metric].kind,
        timedelta(days=30 * months if months else days),
        timedelta(days=lag_days),
        Knobs(**resolved),
        months,
    )


def at(days_before: float = 0, hours: float = 0) -> datetime:
    """A naive UTC instant ``days_before`` days (minus ``hours``) before AS_OF."""
    return AS_OF_NAIVE - timedelta(days=days_before) + timedelta(hours=hours)


def order(order_id: str, seller: str = "S1", ordered: datetime | None = None, **cols: Any) -> Row:
    """An orders row (ordered 5 days before AS_OF unless told)."""
    return {"order_id": order_id, "seller_id": seller, "ordered_at": ordered or at(5), **cols}


def facts(con: duckdb.DuckDBPyConnection, *uses: MetricUse) -> dict[str, dict[str, Any]]:
    """``compute_metrics`` rows keyed by seller."""
    table = compute_metrics(con, uses, AS_OF).table
    return {row["seller_id"]: row for row in table.to_pylist()}


def counts(con: duckdb.DuckDBPyConnection, one: MetricUse, seller: str = "S1") -> tuple[Any, ...]:
    """``(value, num, den)`` of one rate use for one seller."""
    row = facts(con, one)[seller]
    return row[one.name], row[f"{one.name}__num"], row[f"{one.name}__den"]
