"""A source that cannot be read at all raises SourceError naming the file and problem."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from sourcekit import load, order, write_table

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.sources.reader import load_source


def _error(source: Path | str) -> SourceError:
    with pytest.raises(SourceError) as info:
        load_source(source, duckdb.connect())
    return info.value


def test_missing_orders(tmp_path: Path) -> None:
    """A folder without an orders file is unreadable, whatever else it holds."""
    write_table(tmp_path, "feedback", [{"order_id": "O1"}], "csv")
    error = _error(tmp_path)
    assert "orders" in error.path
    assert "required table 'orders' is missing" in error.problem


def test_missing_source(tmp_path: Path) -> None:
    """A path that does not exist is named in the error."""
    error = _error(tmp_path / "nowhere")
    assert error.path.endswith("nowhere")


def test_missing_required_columns(tmp_path: Path) -> None:
    """A table without a required column names the file and the column."""
    path = write_table(tmp_path, "orders", [{"order_id": "O1", "seller_id": "S1"}], "jsonl")
    error = _error(tmp_path)
    assert error.path == str(path)
    assert error.problem == "missing required columns ordered_at"


def test_unknown_columns(tmp_path: Path) -> None:
    """Unknown extra columns are an error naming them (wrong columns, not ignored)."""
    path = write_table(tmp_path, "orders", [order(colour="red", size=3)], "parquet")
    error = _error(tmp_path)
    assert error.path == str(path)
    assert error.problem.startswith("unknown columns colour, size (expected order_id,")


def test_two_files_for_one_table(tmp_path: Path) -> None:
    """orders.csv and orders.jsonl together are ambiguous."""
    write_table(tmp_path, "orders", [order()], "csv")
    write_table(tmp_path, "orders", [order()], "jsonl")
    error = _error(tmp_path)
    assert "second file for table 'orders'" in error.problem


def test_misspelt_table_file(tmp_path: Path) -> None:
    """A file one typo away from a table name is an error with a suggestion."""
    write_table(tmp_path, "orders", [order()], "csv")
    path = write_table(tmp_path, "feedbak", [{"order_id": "O1"}], "csv")
    error = _error(tmp_path)
    assert error.path == str(path)
    assert "did you mean 'feedback'" in error.problem


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("orders.parquet", b"not parquet", "cannot be read: "),
        ("orders.jsonl", b'{"order_id": "O1"\n', "is not a JSON Lines file: "),
    ],
)
def test_unreadable_file(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    """A corrupt Parquet file, or a JSON Lines file none of whose lines is an object
    (one malformed line among good ones is a reject), stops the run, naming the file
    in one line."""
    (tmp_path / name).write_bytes(content)
    error = _error(tmp_path)
    assert error.path == str(tmp_path / name)
    assert error.problem.startswith(problem)
    assert "\n" not in error.problem


def test_not_a_database(tmp_path: Path) -> None:
    """A plain file that is not a DuckDB database is named as such."""
    path = tmp_path / "source.duckdb"
    path.write_text("hello", encoding="utf-8")
    error = _error(path)
    assert error.path == str(path)
    assert "not a readable DuckDB database" in error.problem


def test_empty_csv_with_header_is_an_empty_table(tmp_path: Path) -> None:
    """A CSV with only its header is a readable, empty table."""
    (tmp_path / "orders.csv").write_text("order_id,seller_id,ordered_at\n", encoding="utf-8")
    report, _ = load(tmp_path)
    assert report.rows_read["orders"] == 0


def test_database_table_with_wrong_columns(tmp_path: Path) -> None:
    """In a DuckDB source the error names the database file and the table."""
    db = tmp_path / "source.duckdb"
    with duckdb.connect(str(db)) as src:
        src.execute("CREATE TABLE orders (order_id VARCHAR, seller_id VARCHAR)")
    error = _error(db)
    assert error.path == f"{db} (table orders)"
    assert error.problem == "missing required columns ordered_at"


def test_database_url_is_refused_clearly() -> None:
    """A database URL is not silently treated as a missing folder."""
    error = _error("postgresql://localhost/test")
    assert "database URLs are not supported" in error.problem


def test_failed_load_leaves_no_temporary_tables(tmp_path: Path) -> None:
    """A source failing on its second table leaves the caller's connection clean."""
    write_table(tmp_path, "orders", [order()], "csv")
    write_table(tmp_path, "claims", [{"claim_id": "C1"}], "csv")
    con = duckdb.connect()
    with pytest.raises(SourceError):
        load_source(tmp_path, con)
    assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)
