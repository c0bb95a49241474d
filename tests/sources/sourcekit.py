"""Helpers for the source tests: write tiny hand-written sources in each format."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from sellerpolicy.engine.sources.reader import SourceReport, load_source

Row = Mapping[str, object]
FORMATS = ("csv", "jsonl", "parquet")

ORDER = {"order_id": "O1", "seller_id": "S1", "ordered_at": "2026-10-01T10:00:00Z"}


def write_table(folder: Path, table: str, rows: Sequence[Row], fmt: str) -> Path:
    """Write ``rows`` (dicts with the same keys) as ``folder/<table>.<fmt>``.

    CSV writes ``None`` as an empty cell; Parquet stores every column as text
    (as a loosely typed export would), so the same rows exercise the same checks.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{table}.{fmt}"
    columns = list(dict.fromkeys(c for row in rows for c in row)) or list(ORDER)
    rows = [{c: row.get(c) for c in columns} for row in rows]
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            for row in rows:
                writer.writerow(["" if row[c] is None else row[c] for c in columns])
    elif fmt == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(dict(row)) + "\n")
    else:
        data = {c: [None if r[c] is None else str(r[c]) for r in rows] for c in columns}
        pq.write_table(pa.table(data, schema=pa.schema([(c, pa.string()) for c in columns])), path)
    return path


def write_source(folder: Path, tables: Mapping[str, Sequence[Row]], fmt: str) -> Path:
    """Write every table of ``tables`` into ``folder`` in one format."""
    for table, rows in tables.items():
        write_table(folder, table, rows, fmt)
    return folder


def load(folder: Path) -> tuple[SourceReport, duckdb.DuckDBPyConnection]:
    """Load ``folder`` into a fresh in-memory connection."""
    con = duckdb.connect()
    return load_source(folder, con), con


def order(order_id: str = "O1", **changes: object) -> dict[str, object]:
    """A valid order row (``ORDER``) with ``changes``."""
    return {**ORDER, "order_id": order_id, **changes}
