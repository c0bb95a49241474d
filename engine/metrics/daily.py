"""The mean of a score's daily totals: the facts of a ``daily_score_average`` use.

A score with ``daily_average`` (AliExpress grades a store each month on the
average of the previous month's daily service scores) is graded on one fact:
the mean of its daily totals over the use's window. For each whole day (UTC)
of that window, every use the score reads is computed as it stands at the end
of the day (the next midnight), over its own window and lag, with the very
SQL of :func:`~sellerpolicy.engine.metrics.compute.metrics_sql`; the day's
total is then formed as the score forms it:

* a dimension earns ``points * weight`` of the first band its value falls in
  (``lower <= value < upper``), counted to 9 decimal places;
* the day is assessed when every dimension falls in a band and, with
  ``min_orders``, the ``orders`` use reaches it;
* the day's total is the exact (decimal) sum of its dimensions' points.

``<name>__num`` is the exact sum of the assessed days' totals, ``<name>__den``
the number of assessed days, and the value ``__num / __den`` (null when no day
was assessed). Days never assessed are left out of the mean, not counted as 0.
"""
# ruff: noqa: S608  (assembles metrics_sql's own query and numeric literals)

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import duckdb
import pyarrow as pa

from sellerpolicy.rules.model import DailyScore, MetricUse
from sellerpolicy.rules.windows import daily_instants

from .relation import ident

__all__ = ["daily_score_facts"]

_TABLE = "__daily_facts"


def daily_score_facts(
    con: duckdb.DuckDBPyConnection,
    use: MetricUse,
    as_of: datetime,
    facts_sql: Callable[[tuple[MetricUse, ...], datetime], str],
) -> pa.Table:
    """``seller_id``, the use's value, ``__num`` and ``__den`` for every seller the
    facts cover (sorted by ``seller_id``); ``facts_sql(uses, instant)`` is the query
    of the facts of ``uses`` at ``instant`` (``metrics_sql``)."""
    daily = use.daily
    if daily is None:
        raise ValueError(f"metric use {use.name!r} is not a daily score average")
    reads = ", ".join(ident(read.name) for read in daily.reads)
    instants = daily_instants(use, as_of)
    # A window without a whole day: one day (that no seller is assessed on) for the sellers.
    days = [
        f"SELECT seller_id, {reads} FROM ({facts_sql(daily.reads, t)})" for t in instants or [as_of]
    ]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_TABLE} AS {days[0]}")
    try:
        for day in days[1:]:
            con.execute(f"INSERT INTO {_TABLE} {day}")
        assessed = "true" if instants else "false"
        return con.sql(_average_sql(daily, use.name, assessed)).to_arrow_table()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_TABLE}")


def _decimal(value: float) -> str:
    """A DECIMAL(38, 9) literal of ``value`` rounded to 9 places."""
    return f"CAST({round(value, 9)!r} AS DECIMAL(38, 9))"


def _double(value: float) -> str:
    return f"CAST({value!r} AS DOUBLE)"


def _points_sql(daily: DailyScore) -> list[str]:
    """SQL: each dimension's points of a day (null outside every band)."""
    parts = []
    for dim in daily.score.dimensions:
        value = ident(dim.metric)
        whens = []
        for band in dim.bands:
            tests = [f"{value} IS NOT NULL"]
            if band.lower is not None:
                tests.append(f"{value} >= {_double(band.lower)}")
            if band.upper is not None:
                tests.append(f"{value} < {_double(band.upper)}")
            whens.append(f"WHEN {' AND '.join(tests)} THEN {_decimal(band.points * dim.weight)}")
        parts.append(f"CASE {' '.join(whens)} END")
    return parts


def _average_sql(daily: DailyScore, name: str, any_day: str) -> str:
    points = _points_sql(daily)
    assessed = [any_day, *(f"({p}) IS NOT NULL" for p in points)]
    if daily.score.min_orders is not None:
        assessed.append(f"coalesce(orders >= {int(daily.score.min_orders)}, false)")
    total = " + ".join(f"({p})" for p in points)
    days = (
        f"SELECT seller_id, CASE WHEN {' AND '.join(assessed)} THEN {total} END AS total "
        f"FROM {_TABLE}"
    )
    num = "CAST(coalesce(sum(total), 0) AS DOUBLE)"
    return (
        f"SELECT seller_id, CASE WHEN count(total) > 0 THEN {num} / count(total) END AS "
        f"{ident(name)}, {num} AS {ident(name + '__num')}, count(total) AS "
        f"{ident(name + '__den')} FROM ({days}) GROUP BY seller_id ORDER BY seller_id"
    )
