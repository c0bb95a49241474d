"""Parquet tables read in place (views over the files) against copied tables: the same
rejects, the same rows in the same order, and the cases that copy after all."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sourcekit import order, write_source
from test_sources_rejects import CASES

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.sources import staging as sources
from sellerpolicy.engine.sources.reader import SourceReport, load_source
from sellerpolicy.engine.sources.tables import TABLES


def _kinds(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The kind (TABLE or VIEW) of every canonical table in ``con``."""
    views = {name for (name,) in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    return {t: "VIEW" if t in views else "TABLE" for t in TABLES}


def _contents(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
    """Every canonical table's rows, in the order a plain scan gives them."""
    return {t: con.execute(f'SELECT * FROM "{t}"').fetchall() for t in TABLES}


def _scratch(con: duckdb.DuckDBPyConnection) -> list[tuple[str]]:
    """Tables and views of the loader left in ``con`` (there must be none)."""
    return con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_\\_sp%' ESCAPE '\\'"
        " UNION ALL SELECT view_name FROM duckdb_views()"
        " WHERE view_name LIKE '\\_\\_sp%' ESCAPE '\\'"
    ).fetchall()


def _both(folder: Path) -> tuple[SourceReport, SourceReport, duckdb.DuckDBPyConnection]:
    """Load ``folder`` in place and copied; check both give the same tables and rejects."""
    in_place, copied = duckdb.connect(), duckdb.connect()
    read = load_source(folder, in_place)
    kept = load_source(folder, copied, materialize=True)
    assert read == kept
    assert _contents(in_place) == _contents(copied)
    for table, columns in TABLES.items():
        described = in_place.execute(f'DESCRIBE "{table}"').fetchall()
        assert [(name, typ) for name, typ, *_ in described] == list(columns)
    assert set(_kinds(copied).values()) == {"TABLE"}
    assert _scratch(in_place) == []
    return read, kept, in_place


@pytest.mark.parametrize("case", list(CASES))
def test_every_reject_case_in_place_equals_copied(tmp_path: Path, case: str) -> None:
    """For every reject case in Parquet, reading in place gives exactly the rejects
    (row, column, reason) and the canonical rows (values, types, order) of copying,
    and the tables of the source are views."""
    tables, _ = CASES[case]
    report, _, con = _both(write_source(tmp_path, tables, "parquet"))
    kinds = _kinds(con)
    assert {t for t, kind in kinds.items() if kind == "VIEW"} == set(tables)
    assert report.rows_read["orders"] == len(tables["orders"])


def test_typed_parquet_with_many_rows_keeps_file_order(tmp_path: Path) -> None:
    """A typed Parquet file of many rows (several row groups) with rejected rows spread
    over it (duplicate ids, missing sellers, events of rejected orders) gives, in place
    and copied, the rejects at their file rows and the valid rows in file order."""
    n = 60_000
    ids = [f"O{i:06d}" for i in range(n)]
    for i in range(7, n, 97):
        ids[i] = ids[i - 5]  # a duplicate of an earlier row
    sellers: list[str | None] = [f"S{i % 50}" for i in range(n)]
    for i in range(3, n, 89):
        sellers[i] = None
    base = pa.scalar(1_790_000_000_000_000, pa.timestamp("us"))
    times = pa.array([base.value + i * 1_000_000 for i in range(n)], pa.timestamp("us"))
    orders = pa.table({"order_id": ids, "seller_id": sellers, "ordered_at": times})
    pq.write_table(orders, tmp_path / "orders.parquet", row_group_size=7_000)
    claims = pa.table(
        {
            "claim_id": [f"C{i}" for i in range(0, n, 11)],
            "order_id": [f"O{i:06d}" for i in range(0, n, 11)],
            "seller_id": [f"S{i % 50}" for i in range(0, n, 11)],
            "filed_at": [times[i] for i in range(0, n, 11)],
            "status": ["open"] * len(range(0, n, 11)),
        }
    )
    pq.write_table(claims, tmp_path / "claims.parquet", row_group_size=1_000)
    report, _, con = _both(tmp_path)
    first: dict[str, int] = {}
    expected, kept = [], []
    for row, (oid, seller) in enumerate(zip(ids, sellers, strict=True), start=1):
        first.setdefault(oid, row)
        if seller is None:
            expected.append((row, "missing_value"))
        elif first[oid] != row:
            expected.append((row, "duplicate_id"))
        else:
            kept.append((oid,))
    got = [(r.row, r.code) for r in report.rejects if r.table == "orders"]
    assert got == expected
    assert con.execute("SELECT order_id FROM orders").fetchall() == kept
    codes = {r.code for r in report.rejects if r.table == "claims"}
    assert codes == {"rejected_order", "unknown_order"}
    assert _kinds(con)["orders"] == "VIEW"


def test_many_rejects_are_copied_without_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table with more rejected rows than a view lists is copied (its valid rows, in
    file order); a table with fewer stays a view; both equal the copied load."""
    monkeypatch.setattr(sources, "IN_PLACE_REJECTS", 1)
    rows = [order(f"O{i}") for i in range(1, 9)]
    rows[2] = order("O1")
    rows[5] = order("O6", seller_id=None)
    claims = [
        {"claim_id": "C1", "order_id": "O9", "seller_id": "S1"}
        | {"filed_at": "2026-10-02", "status": "open"},
    ]
    report, _, con = _both(write_source(tmp_path, {"orders": rows, "claims": claims}, "parquet"))
    assert [(r.table, r.row, r.code) for r in report.rejects] == [
        ("orders", 3, "duplicate_id"),
        ("orders", 6, "missing_value"),
        ("claims", 1, "unknown_order"),
    ]
    assert _kinds(con)["orders"] == "TABLE"
    assert _kinds(con)["claims"] == "VIEW"
    assert con.execute("SELECT order_id FROM orders").fetchall() == [
        (f"O{i}",) for i in (1, 2, 4, 5, 7, 8)
    ]


def test_loads_replace_views_and_tables_alike(tmp_path: Path) -> None:
    """Loading a CSV source over views of a Parquet one, and Parquet over CSV, replaces
    every canonical table whatever its kind, and leaves no scratch table or view."""
    parquet, csv = tmp_path / "p", tmp_path / "c"
    write_source(parquet, {"orders": [order("O1"), order("O2")]}, "parquet")
    write_source(csv, {"orders": [order("O7")]}, "csv")
    con = duckdb.connect()
    load_source(parquet, con)
    assert _kinds(con)["orders"] == "VIEW"
    load_source(csv, con)
    assert _kinds(con)["orders"] == "TABLE"
    assert con.execute("SELECT order_id FROM orders").fetchall() == [("O7",)]
    load_source(parquet, con)
    assert _kinds(con)["orders"] == "VIEW"
    assert con.execute("SELECT order_id FROM orders").fetchall() == [("O1",), ("O2",)]
    assert _scratch(con) == []


def test_database_file_connection_gets_tables(tmp_path: Path) -> None:
    """Into a DuckDB database file every table is copied (the file holds the rows, not
    views of the source files)."""
    write_source(tmp_path / "src", {"orders": [order("O1")]}, "parquet")
    with duckdb.connect(str(tmp_path / "staged.duckdb")) as con:
        load_source(tmp_path / "src", con)
        assert set(_kinds(con).values()) == {"TABLE"}
    (tmp_path / "src" / "orders.parquet").unlink()
    with duckdb.connect(str(tmp_path / "staged.duckdb"), read_only=True) as con:
        assert con.execute("SELECT order_id FROM orders").fetchall() == [("O1",)]


def test_failed_load_keeps_previous_views_and_leaves_nothing(tmp_path: Path) -> None:
    """A source whose second table cannot be read fails without replacing the views of
    the previous load and without leaving any scratch table or view."""
    good, bad = tmp_path / "good", tmp_path / "bad"
    write_source(good, {"orders": [order("O1")]}, "parquet")
    write_source(bad, {"orders": [order("O9")]}, "parquet")
    write_source(bad, {"ratings": [{"order_id": "O9"}]}, "parquet")  # required columns missing
    con = duckdb.connect()
    load_source(good, con)
    with pytest.raises(SourceError):
        load_source(bad, con)
    assert con.execute("SELECT order_id FROM orders").fetchall() == [("O1",)]
    assert _kinds(con)["orders"] == "VIEW"
    assert _scratch(con) == []
