"""How the valid rows are registered: in place of the caller's tables, in file order."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from sourcekit import FORMATS, order, write_source, write_table

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.sources.reader import load_source


def _scratch(con: duckdb.DuckDBPyConnection) -> list[tuple[str]]:
    return con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_\\_sp%' ESCAPE '\\'"
    ).fetchall()


@pytest.mark.parametrize("fmt", FORMATS)
def test_valid_rows_keep_file_order_around_rejects(tmp_path: Path, fmt: str) -> None:
    """The canonical tables hold the valid rows in file order; rejected rows in between
    (a duplicate id, a bad value) leave no gap in that order and get their own row."""
    rows = [order(f"O{i}") for i in range(1, 7)]
    rows[2] = order("O1")  # a duplicate of row 1
    rows[4] = order("O5", ordered_at="not a time")
    write_source(tmp_path, {"orders": rows}, fmt)
    con = duckdb.connect()
    report = load_source(tmp_path, con)
    assert [(r.row, r.code) for r in report.rejects] == [(3, "duplicate_id"), (5, "bad_timestamp")]
    assert con.execute("SELECT order_id FROM orders").fetchall() == [
        ("O1",),
        ("O2",),
        ("O4",),
        ("O6",),
    ]
    assert report.rows_read["orders"] == 6
    assert report.rows_valid["orders"] == 4


def test_second_load_replaces_the_tables(tmp_path: Path) -> None:
    """Loading again into the same connection replaces every canonical table (a table
    the new source lacks becomes empty) and leaves no scratch table behind."""
    first, second = tmp_path / "a", tmp_path / "b"
    write_source(
        first,
        {
            "orders": [order("O1")],
            "claims": [
                {
                    "claim_id": "C1",
                    "order_id": "O1",
                    "seller_id": "S1",
                    "filed_at": "2026-10-02",
                    "status": "open",
                }
            ],
        },
        "csv",
    )
    write_source(second, {"orders": [order("O7"), order("O8")]}, "parquet")
    con = duckdb.connect()
    load_source(first, con)
    assert con.execute("SELECT count(*) FROM claims").fetchone() == (1,)
    load_source(second, con)
    assert con.execute("SELECT order_id FROM orders").fetchall() == [("O7",), ("O8",)]
    assert con.execute("SELECT count(*) FROM claims").fetchone() == (0,)
    assert _scratch(con) == []


def test_unreadable_source_leaves_the_previous_tables(tmp_path: Path) -> None:
    """A source failing on a later table leaves the tables of the previous load as they
    were: nothing is replaced until the whole source was read."""
    good, bad = tmp_path / "good", tmp_path / "bad"
    write_source(good, {"orders": [order("O1")]}, "csv")
    write_table(bad, "orders", [order("O9")], "csv")
    write_table(bad, "ratings", [{"order_id": "O9"}], "csv")  # required columns missing
    con = duckdb.connect()
    load_source(good, con)
    with pytest.raises(SourceError):
        load_source(bad, con)
    assert con.execute("SELECT order_id FROM orders").fetchall() == [("O1",)]
    assert _scratch(con) == []


def test_caller_settings_are_restored(tmp_path: Path) -> None:
    """``preserve_insertion_order`` is switched during the load and restored after it,
    whichever value the caller had."""
    write_source(tmp_path, {"orders": [order("O1")]}, "csv")
    for value in (True, False):
        con = duckdb.connect()
        con.execute(f"SET preserve_insertion_order = {str(value).lower()}")
        load_source(tmp_path, con)
        setting = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
        assert setting == (value,)
