"""Loading valid rows: canonical tables, time zones, date-only deadlines, booleans,
native Parquet types, DuckDB database sources and the rejects file."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sourcekit import FORMATS, load, order, write_source, write_table

from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.rejects import Reject, rejects_path_for, write_rejects
from sellerpolicy.engine.sources.tables import TABLES


def test_canonical_tables_exist_with_exact_columns_and_types(tmp_path: Path) -> None:
    """Every canonical table is registered with engine.tables' columns and types,
    and tables missing from the source are created empty."""
    report, con = load(write_source(tmp_path, {"orders": [order("O1")]}, "csv"))
    for table, columns in TABLES.items():
        described = con.execute(f'DESCRIBE "{table}"').fetchall()
        assert [(name, typ) for name, typ, *_ in described] == list(columns)
    assert con.execute("SELECT count(*) FROM feedback").fetchone() == (0,)
    assert report.rows_read["orders"] == 1
    assert report.rows_valid["feedback"] == 0
    assert report.reject_count == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_timestamps_convert_to_naive_utc(tmp_path: Path, fmt: str) -> None:
    """Offsets and named zones are converted to UTC, no offset or Z means UTC, a plain
    date means 00:00, and words that are not a zone make the row a reject."""
    rows = [
        order("O1", ordered_at="2026-10-01T10:00:00+02:00"),
        order("O2", ordered_at="2026-10-01T10:00:00-05:30"),
        order("O3", ordered_at="2026-10-01 10:00:00"),
        order("O4", ordered_at="2026-10-01T10:00:00.250Z"),
        order("O5", ordered_at="2026-10-01"),
        order("O6", ordered_at="2026-10-01 10:00 America/New_York"),
        order("O7", ordered_at="2026-10-01T10:00:00 Europe/Paris"),
        order("O8", ordered_at="2026-10-01 10:00 garbage"),
    ]
    report, con = load(write_source(tmp_path, {"orders": rows}, fmt))
    got = dict(con.execute("SELECT order_id, ordered_at FROM orders").fetchall())
    assert got == {
        "O1": datetime(2026, 10, 1, 8, 0),
        "O2": datetime(2026, 10, 1, 15, 30),
        "O3": datetime(2026, 10, 1, 10, 0),
        "O4": datetime(2026, 10, 1, 10, 0, 0, 250000),
        "O5": datetime(2026, 10, 1, 0, 0),
        "O6": datetime(2026, 10, 1, 14, 0),  # a named zone is honoured (EDT, UTC-4)
        "O7": datetime(2026, 10, 1, 8, 0),
    }
    assert [(r.row, r.column) for r in report.rejects] == [(8, "ordered_at")]


def test_date_only_deadlines_mean_the_end_of_the_day(tmp_path: Path) -> None:
    """A date-only ship_by/deliver_by (even unpadded) is D 23:59:59.999999; other date-only
    values are D 00:00."""
    row = order(
        "O1",
        ordered_at="2026-10-01T10:00:00Z",
        ship_by="2026-10-03",
        shipped_at="2026-10-03",
        deliver_by="2026-10-8",
        delivered_at="2026-10-08T23:59:59Z",
    )
    _, con = load(write_source(tmp_path, {"orders": [row]}, "csv"))
    got = con.execute("SELECT ship_by, shipped_at, deliver_by, delivered_at FROM orders").fetchone()
    assert got == (
        datetime(2026, 10, 3, 23, 59, 59, 999999),
        datetime(2026, 10, 3, 0, 0),
        datetime(2026, 10, 8, 23, 59, 59, 999999),
        datetime(2026, 10, 8, 23, 59, 59),
    )
    assert con.execute("SELECT delivered_at <= deliver_by FROM orders").fetchone() == (True,)


def test_csv_booleans_any_case_and_empty_cell_is_null(tmp_path: Path) -> None:
    """CSV booleans are true/false/1/0 in any case; an empty cell is null, not false."""
    values = {"O1": "TRUE", "O2": "False", "O3": "1", "O4": "0", "O5": None}
    rows = [order(k, tracking_valid=v, amount=None) for k, v in values.items()]
    _, con = load(write_source(tmp_path, {"orders": rows}, "csv"))
    got = dict(con.execute("SELECT order_id, tracking_valid FROM orders").fetchall())
    assert got == {"O1": True, "O2": False, "O3": True, "O4": False, "O5": None}


def test_first_duplicate_is_kept_and_events_attach_to_it(tmp_path: Path) -> None:
    """For a duplicated order_id the first row is kept; events match that row's seller."""
    tables = {
        "orders": [order("O1", seller_id="S1"), order("O1", seller_id="S2")],
        "claims": [
            {"claim_id": "C1", "order_id": "O1", "seller_id": "S1"}
            | {"filed_at": "2026-10-02", "status": "open"}
        ],
    }
    report, con = load(write_source(tmp_path, tables, "jsonl"))
    assert con.execute("SELECT seller_id FROM orders").fetchall() == [("S1",)]
    assert con.execute("SELECT count(*) FROM claims").fetchone() == (1,)
    assert [(r.row, r.code) for r in report.rejects] == [(2, "duplicate_id")]


def test_feedback_update_exactly_60_days_after_is_accepted(tmp_path: Path) -> None:
    """An update exactly 60 days after the left is the accepted revision (docs/metrics.md)."""
    base = {"order_id": "O1", "seller_id": "S1", "removed_by": None}
    feedback = [
        base | {"event": "left", "rating": 1, "at": "2026-10-02T00:00:00Z"},
        base | {"event": "updated", "rating": 5, "at": "2026-12-01T00:00:00Z"},
    ]
    report, con = load(write_source(tmp_path, {"orders": [order()], "feedback": feedback}, "csv"))
    assert report.reject_count == 0
    assert con.execute("SELECT count(*) FROM feedback").fetchone() == (2,)


def test_native_parquet_types_are_read_directly(tmp_path: Path) -> None:
    """Typed Parquet columns (aware and naive timestamps, dates, booleans, numbers) load
    with the same semantics as text."""
    table = pa.table(
        {
            "order_id": ["O1", "O2"],
            "seller_id": ["S1", "S1"],
            "ordered_at": pa.array(
                [datetime(2026, 10, 1, 8), datetime(2026, 10, 1, 9)], pa.timestamp("us", "UTC")
            ),
            "ship_by": pa.array([datetime(2026, 10, 3).date(), None], pa.date32()),
            "shipped_at": pa.array([datetime(2026, 10, 2, 1), None], pa.timestamp("ms")),
            "tracking_valid": [True, None],
            "amount": [12.5, 3.0],
        }
    )
    pq.write_table(table, tmp_path / "orders.parquet")
    ratings = pa.table(
        {
            "order_id": ["O1", "O2"],
            "seller_id": ["S1", "S1"],
            "rated_at": pa.array([datetime(2026, 10, 9)] * 2, pa.timestamp("s")),
            "item_as_described": pa.array([5, 9], pa.int8()),
            "communication": [4.0, 4.0],
            "shipping_speed": [3, 3],
        }
    )
    pq.write_table(ratings, tmp_path / "ratings.parquet")
    report, con = load(tmp_path)
    assert con.execute("SELECT * FROM orders WHERE order_id = 'O1'").fetchone() == (
        "O1",
        "S1",
        datetime(2026, 10, 1, 8),
        datetime(2026, 10, 3, 23, 59, 59, 999999),
        datetime(2026, 10, 2, 1),
        True,
        None,
        None,
        None,
        None,
        None,
        12.5,
        None,
        None,
    )
    assert [(r.table, r.row, r.code) for r in report.rejects] == [("ratings", 2, "out_of_range")]


def test_duckdb_database_source(tmp_path: Path) -> None:
    """A DuckDB file with tables of the contract names is a source; row numbers are the
    table's row order and the caller's connection is left as it was."""
    db = tmp_path / "source.duckdb"
    with duckdb.connect(str(db)) as src:
        src.execute(
            "CREATE TABLE orders AS SELECT * FROM (VALUES"
            " ('O1', 'S1', TIMESTAMP '2026-10-01 10:00:00'),"
            " ('O2', NULL, TIMESTAMP '2026-10-01 11:00:00')) t(order_id, seller_id, ordered_at)"
        )
        src.execute(
            "CREATE TABLE messages AS SELECT 'M1' AS message_id, 'S1' AS seller_id,"
            " TIMESTAMP '2026-10-02 00:00:00' AS received_at"
        )
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    report = load_source(db, con)
    assert [(r.table, r.row, r.column, r.code) for r in report.rejects] == [
        ("orders", 2, "seller_id", "missing_value")
    ]
    assert con.execute("SELECT message_id, order_id FROM messages").fetchall() == [("M1", None)]
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchone() == (False,)
    leftovers = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_\\_sp%' ESCAPE '\\'"
    ).fetchall()
    assert leftovers == []
    assert con.execute("SELECT count(*) FROM duckdb_databases() WHERE NOT internal").fetchone() == (
        1,
    )


def test_rejects_file_beside_the_output(tmp_path: Path) -> None:
    """Rejects go to <output without extension>.rejects.jsonl, one JSON object per line."""
    out = tmp_path / "facts.jsonl"
    assert rejects_path_for(out) == tmp_path / "facts.rejects.jsonl"
    assert rejects_path_for(tmp_path / "decisions.parquet").name == "decisions.rejects.jsonl"
    rejects = [
        Reject("orders", 3, "seller_id", "missing_value: seller_id is required"),
        Reject("feedback", 1, None, "x: y"),
    ]
    assert write_rejects(rejects, rejects_path_for(out)) == 2
    lines = rejects_path_for(out).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"table": "orders", "row": 3, "column": "seller_id", "reason": rejects[0].reason},
        {"table": "feedback", "row": 1, "column": None, "reason": "x: y"},
    ]
    assert rejects[0].code == "missing_value"


def test_row_numbers_count_data_rows_in_a_quoted_csv(tmp_path: Path) -> None:
    """Row numbers are 1-based data rows: the header is not a row and a quoted newline
    inside a value does not start a new one."""
    path = write_table(tmp_path, "orders", [order("O1"), order("O2")], "csv")
    text = path.read_text(encoding="utf-8").replace("O1,S1", '"O1",S1')
    path.write_text(
        text + '"O3\nbis",S1,2026-10-01T10:00:00Z\nO4,,2026-10-01T10:00:00Z\n', encoding="utf-8"
    )
    report, con = load(tmp_path)
    assert [(r.row, r.code) for r in report.rejects] == [(4, "missing_value")]
    assert con.execute("SELECT count(*) FROM orders").fetchone() == (3,)
