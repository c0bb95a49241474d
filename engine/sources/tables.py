"""The canonical input tables, as the metric SQL reads them.

``engine.sources`` reads a source (files or a database), validates every row
against the data contract (the table schemas in ``schemas/``), writes rejects, and registers the
valid rows in a DuckDB connection as the tables below, with exactly these
columns and types. ``engine.metrics`` reads only these tables.

Conventions after loading:

* every timestamp is a naive ``TIMESTAMP`` in UTC (offsets converted);
* a date-only ``*_by`` deadline D is stored as ``D 23:59:59.999999`` (so
  ``shipped_at > ship_by`` means "after D"), any other date-only value as
  ``D 00:00:00``;
* a table missing from the source exists and is empty;
* feedback rows are the accepted events only (a second ``left``, a second
  update, an update later than 60 days after the original are rejects).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Format(StrEnum):
    """File format of a source table (``orders.parquet``, ``orders.csv``, ``orders.jsonl``)."""

    PARQUET = "parquet"
    CSV = "csv"
    JSONL = "jsonl"


TABLES: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        "orders": (
            ("order_id", "VARCHAR"),
            ("seller_id", "VARCHAR"),
            ("ordered_at", "TIMESTAMP"),
            ("ship_by", "TIMESTAMP"),
            ("shipped_at", "TIMESTAMP"),
            ("tracking_valid", "BOOLEAN"),
            ("deliver_by", "TIMESTAMP"),
            ("delivered_at", "TIMESTAMP"),
            ("cancelled_at", "TIMESTAMP"),
            ("cancelled_by", "VARCHAR"),
            ("refunded_at", "TIMESTAMP"),
            ("amount", "DOUBLE"),
            ("currency", "VARCHAR"),
        ),
        "feedback": (
            ("order_id", "VARCHAR"),
            ("seller_id", "VARCHAR"),
            ("event", "VARCHAR"),
            ("rating", "TINYINT"),
            ("at", "TIMESTAMP"),
            ("removed_by", "VARCHAR"),
        ),
        "claims": (
            ("claim_id", "VARCHAR"),
            ("order_id", "VARCHAR"),
            ("seller_id", "VARCHAR"),
            ("filed_at", "TIMESTAMP"),
            ("status", "VARCHAR"),
        ),
        "chargebacks": (
            ("chargeback_id", "VARCHAR"),
            ("order_id", "VARCHAR"),
            ("seller_id", "VARCHAR"),
            ("filed_at", "TIMESTAMP"),
            ("kind", "VARCHAR"),
        ),
        "messages": (
            ("message_id", "VARCHAR"),
            ("seller_id", "VARCHAR"),
            ("order_id", "VARCHAR"),
            ("received_at", "TIMESTAMP"),
            ("responded_at", "TIMESTAMP"),
        ),
        "disputes": (
            ("dispute_id", "VARCHAR"),
            ("order_id", "VARCHAR"),
            ("seller_id", "VARCHAR"),
            ("opened_at", "TIMESTAMP"),
            ("kind", "VARCHAR"),
            ("escalated", "BOOLEAN"),
            ("seller_responsible", "BOOLEAN"),
            ("closed_at", "TIMESTAMP"),
        ),
        "ratings": (
            ("order_id", "VARCHAR"),
            ("seller_id", "VARCHAR"),
            ("rated_at", "TIMESTAMP"),
            ("item_as_described", "TINYINT"),
            ("communication", "TINYINT"),
            ("shipping_speed", "TINYINT"),
        ),
    }
)


def create_table_sql(table: str, name: str | None = None) -> str:
    """``CREATE TABLE`` for one canonical table (optionally under another name)."""
    cols = ", ".join(f'"{col}" {typ}' for col, typ in TABLES[table])
    return f'CREATE TABLE "{name or table}" ({cols})'
