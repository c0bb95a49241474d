"""Helpers of the importer tests: report files written from rows, sources loaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from sellerpolicy.engine.formats.registry import flat_mapping
from sellerpolicy.engine.sources.reader import SourceReport, load_source

ORDER_COLUMNS = flat_mapping("amazon-all-orders").columns
FEEDBACK_COLUMNS = flat_mapping("amazon-seller-feedback").columns


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
