"""Helpers of the importer tests: report files written from rows, sources loaded,
the command line run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from sellerpolicy.engine.formats.registry import flat_mapping
from sellerpolicy.engine.sources.reader import SourceReport, load_source

ORDER_COLUMNS = flat_mapping("amazon-all-orders").columns
FEEDBACK_COLUMNS = flat_mapping("amazon-seller-feedback").columns
RETURNS_COLUMNS = flat_mapping("amazon-returns").columns


def order_line(
    order_id: str,
    purchase: str = "2026-10-01T10:00:00+00:00",
    status: str = "Shipped",
    price: str = "10.00",
    currency: str = "USD",
) -> dict[str, str]:
    """One item line of an All Orders report (the columns the import reads)."""
    return {
        "amazon-order-id": order_id,
        "purchase-date": purchase,
        "order-status": status,
        "item-price": price,
        "currency": currency,
        "product-name": "A thing",
    }


def feedback_line(order_id: str, rating: str = "1", day: str = "2026-10-05") -> dict[str, str]:
    """One line of a Flat File Feedback Report."""
    return {"Date": day, "Rating": rating, "Order ID": order_id, "Comments": "slow"}


def return_line(
    rma: str,
    order_id: str,
    day: str = "2026-10-05",
    reason: str = "DEFECTIVE",
) -> dict[str, str]:
    """One item line of a Flat File Returns Report (the columns the import reads)."""
    return {
        "Amazon RMA ID": rma,
        "Order ID": order_id,
        "Order date": "2026-10-01",
        "Return request date": day,
        "Return request status": "Approved",
        "Return Reason": reason,
        "Return quantity": "1",
        "Item Name": "A thing",
    }


def write_report(
    path: Path,
    columns: Sequence[str],
    rows: Sequence[dict[str, str] | str],
    newline: str = "\n",
) -> Path:
    """A tab-separated report: the header, then each row (a dict by column, or a raw line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(columns)]
    for row in rows:
        lines.append(row if isinstance(row, str) else "\t".join(row.get(c, "") for c in columns))
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    return path


def load(folder: Path) -> tuple[duckdb.DuckDBPyConnection, SourceReport]:
    """A fresh connection with the source at ``folder`` loaded."""
    con = duckdb.connect()
    return con, load_source(folder, con)


ROOT = Path(__file__).resolve().parents[2]
MAIN = "from sellerpolicy.engine.cli.root import main; main()"
FIXTURES = Path(__file__).with_name("fixtures")


def run_main(*args: object) -> subprocess.CompletedProcess[str]:
    """``sellerpolicy ARGS`` in a fresh process, as a user runs it (wide lines)."""
    return subprocess.run(
        [sys.executable, "-c", MAIN, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "400"},
    )


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one ``error:`` line of a failed run (no traceback)."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def amazon_example() -> dict[str, Any]:
    """The example report of Amazon's Account Health JSON Schema (its variant keys kept)."""
    schema = json.loads((FIXTURES / "accountHealthReport-2020-11-18.schema.json").read_text())
    example: dict[str, Any] = schema["examples"][0]
    return example


def write_json(path: Path, value: object) -> Path:
    """``value`` as a JSON file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1), encoding="utf-8")
    return path
