"""Calendar-month windows (issue #17): ``window: {months: 3, align: month_end}`` counts
the last whole calendar months (UTC) ending at or before ``as_of - lag``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest
from metrics_kit import insert, order, use

from sellerpolicy.engine.evaluation.explain import clears_on, window_dates
from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.sources.tables import TABLES, create_table_sql
from sellerpolicy.rules.windows import parse_window, window_bounds, window_json, window_text

US = timedelta(microseconds=1)


def _source(*rows: dict[str, object]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table in TABLES:
        con.execute(create_table_sql(table))
    insert(con, "orders", list(rows))
    return con


def _refunds(con: duckdb.DuckDBPyConnection, as_of: datetime, **kw: object) -> tuple[int, int]:
    one = use("refund_rate", **kw)  # type: ignore[arg-type]
    row = compute_metrics(con, [one], as_of).table.to_pylist()[0]
    return row["refund_rate__num"], row["refund_rate__den"]


@pytest.mark.parametrize("as_of", [datetime(2026, 11, 1), datetime(2026, 11, 15, 12)])
def test_last_and_first_day_of_a_month(as_of: datetime) -> None:
    """One month at any instant of November is October: its first and last instants are in,
    September's last and November's first are out."""
    con = _source(
        order("sep_last", ordered=datetime(2026, 9, 30, 23, 59, 59, 999999)),
        order("oct_first", ordered=datetime(2026, 10, 1)),
        order("oct_last", ordered=datetime(2026, 10, 31, 23, 59, 59, 999999)),
        order("nov_first", ordered=datetime(2026, 11, 1)),
    )
    assert _refunds(con, as_of.replace(tzinfo=UTC), months=1) == (0, 2)


def test_three_months_across_the_year_end() -> None:
    """February 10th: November, December and January (92 days), not February's first days."""
    con = _source(
        order("oct", ordered=datetime(2026, 10, 31, 23)),
        order("nov", ordered=datetime(2026, 11, 1), refunded_at=datetime(2026, 11, 2)),
        order("dec", ordered=datetime(2026, 12, 31, 23)),
        order("jan", ordered=datetime(2027, 1, 31, 23, 59)),
        order("feb", ordered=datetime(2027, 2, 1)),
    )
    as_of = datetime(2027, 2, 10, tzinfo=UTC)
    assert _refunds(con, as_of, months=3) == (1, 3)
    start, end = window_bounds(use("refund_rate", months=3), as_of)
    assert (start, end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))


def test_lag_moves_the_month_end() -> None:
    """A lag of 1 day at 2026-11-01 ends the window at 2026-10-01: September."""
    con = _source(
        order("sep", ordered=datetime(2026, 9, 15)), order("oct", ordered=datetime(2026, 10, 15))
    )
    assert _refunds(con, datetime(2026, 11, 1, tzinfo=UTC), months=1, lag_days=1) == (0, 1)


def test_growth_compares_with_the_previous_months() -> None:
    """Growth over one month: October against September (not the 31 days before)."""
    con = _source(
        order("aug", ordered=datetime(2026, 8, 31, 12), amount=100.0, currency="USD"),
        order("sep", ordered=datetime(2026, 9, 1), amount=10.0, currency="USD"),
        order("oct", ordered=datetime(2026, 10, 31, 23), amount=15.0, currency="USD"),
    )
    growth = use("sales_growth_rate", months=1)
    row = compute_metrics(con, [growth], datetime(2026, 11, 1, tzinfo=UTC)).table.to_pylist()[0]
    assert (row["sales_growth_rate__num"], row["sales_growth_rate__den"]) == (5.0, 10.0)
    assert row["sales_growth_rate"] == 0.5


def test_explanations_name_the_months() -> None:
    """Window dates are the months' first and last days; an October order leaves a
    three-month window on February 1st."""
    quarter = use("refund_rate", months=3)
    as_of = datetime(2026, 11, 20, tzinfo=UTC)
    assert window_dates(quarter, as_of) == (date(2026, 8, 1), date(2026, 10, 31))
    assert clears_on([date(2026, 10, 31)], 1, quarter) == date(2027, 2, 1)
    assert clears_on([date(2026, 10, 1)], 1, use("refund_rate", months=3, lag_days=2)) == date(
        2027, 2, 3
    )
    assert window_text(quarter) == "3 calendar months"


def test_pack_spelling() -> None:
    """Packs write ``{months: 3, align: month_end}``; it round-trips, other shapes do not."""
    assert parse_window({"months": 3, "align": "month_end"}) == (timedelta(days=90), 3)
    assert parse_window("60d") == (timedelta(days=60), None)
    assert window_json(use("refund_rate", months=3)) == {"months": 3, "align": "month_end"}
    for bad in ({"months": 0, "align": "month_end"}, {"months": 3}, {"months": 3, "align": "x"}):
        with pytest.raises(ValueError, match="not a window"):
            parse_window(bad)
