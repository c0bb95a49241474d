"""Money is summed exactly (issue #17): ``gross_sales`` and ``sales_growth_rate`` are the
same bits on every run and with any number of DuckDB threads, and equal the exact
decimal sum of the amounts (rounded once, to the nearest float)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from metrics_kit import AS_OF, AS_OF_NAIVE, at, facts, order, source, use

from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.sources.reader import load_source

SELLERS = ("S1", "S2", "S3")
USES = (use("gross_sales", days=365), use("sales_growth_rate", days=30))


def _amounts(n: int) -> list[float]:
    rng = random.Random(17)
    return [round(rng.uniform(0.01, 500.0), 2) for _ in range(n)]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    amounts = _amounts(60_000)
    return [
        order(
            f"o{i}",
            SELLERS[i % 3],
            ordered=AS_OF_NAIVE - timedelta(minutes=1 + (i * 7) % (300 * 24 * 60)),
            amount=amount,
            currency="USD",
        )
        for i, amount in enumerate(amounts)
    ]


def _exact(rows: list[dict[str, object]], seller: str, days: int, lag: int = 0) -> Decimal:
    start, end = AS_OF_NAIVE - timedelta(days=days + lag), AS_OF_NAIVE - timedelta(days=lag)
    return sum(
        (
            Decimal(repr(r["amount"]))
            for r in rows
            if r["seller_id"] == seller and start <= r["ordered_at"] < end  # type: ignore[operator]
        ),
        Decimal(0),
    )


def test_same_bits_on_every_run_and_thread_count(rows: list[dict[str, object]]) -> None:
    """Runs with 1, 2 and 4 threads, twice each, give identical facts, and gross_sales is
    the exact decimal sum of the amounts as the nearest float."""
    con = source()
    keys = ("order_id", "seller_id", "ordered_at", "amount", "currency")
    arrow = pa.table({k: [r[k] for r in rows] for k in keys})
    con.register("new_orders", arrow)
    con.execute("INSERT INTO orders BY NAME SELECT * FROM new_orders")
    seen = []
    for threads in (1, 2, 4, 1, 2, 4):
        con.execute(f"SET threads = {threads}")
        seen.append(compute_metrics(con, USES, AS_OF).table.to_pylist())
    assert all(run == seen[0] for run in seen[1:])
    for row in seen[0]:
        seller = str(row["seller_id"])
        assert row["gross_sales"] == float(_exact(rows, seller, 365))
        current, previous = _exact(rows, seller, 30), _exact(rows, seller, 30, lag=30)
        assert row["sales_growth_rate__num"] == float(current - previous)
        assert row["sales_growth_rate__den"] == float(previous)


def test_cents_add_up_exactly() -> None:
    """0.1 + 0.2 is 0.3: the float sum would be 0.30000000000000004."""
    con = source(
        orders=[
            order("o1", amount=0.1, currency="EUR"),
            order("o2", amount=0.2, currency="EUR"),
            order("o3", ordered=at(40), amount=0.1, currency="EUR"),
        ]
    )
    row = facts(con, use("gross_sales"), use("sales_growth_rate"))["S1"]
    assert row["gross_sales"] == 0.3
    assert row["sales_growth_rate__num"] == 0.2
    assert row["sales_growth_rate"] == 2.0


def test_the_loader_refuses_amounts_it_cannot_sum(tmp_path: Path) -> None:
    """An amount of 1e18 or more is a reject (bad_number); just below it is summed."""
    (tmp_path / "orders.csv").write_text(
        "order_id,seller_id,ordered_at,amount,currency\n"
        "O1,S1,2026-10-01,999999999999999900,USD\n"
        "O2,S1,2026-10-01,1e18,USD\n"
        "O3,S1,2026-10-01,0.105,USD\n",
        encoding="utf-8",
    )
    con = duckdb.connect()
    report = load_source(tmp_path, con)
    assert [(r.row, r.column, r.code) for r in report.rejects] == [(2, "amount", "bad_number")]
    row = compute_metrics(con, [use("gross_sales", days=60)], AS_OF).table.to_pylist()[0]
    assert row["gross_sales"] == float(Decimal("999999999999999900.105"))
