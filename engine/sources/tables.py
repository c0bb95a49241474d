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
* a table missing from the source exists and is empty (a missing ``returns``
  or ``sellers`` table, or a missing ``orders.tracking_uploaded_at`` column,
  also makes the metrics reading it not assessable: :data:`OPTIONAL_INPUTS`);
* feedback rows are the accepted events only (a second ``left``, a second
  update, an update later than 60 days after the original are rejects).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
            ("tracking_uploaded_at", "TIMESTAMP"),
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
        "returns": (
            ("return_id", "VARCHAR"),
            ("order_id", "VARCHAR"),
            ("seller_id", "VARCHAR"),
            ("requested_at", "TIMESTAMP"),
            ("reason", "VARCHAR"),
        ),
        "sellers": (
            ("seller_id", "VARCHAR"),
            ("account_opened_at", "TIMESTAMP"),
            ("marketplace", "VARCHAR"),
            ("country", "VARCHAR"),
        ),
    }
)


#: What a source without an optional table or column cannot measure: ``(table, column
#: or None for the whole table, metric)``. Such a source gets these metrics as "not
#: assessable" (``engine.sources.limits``): their facts are null, their rules not
#: assessed. Other absent tables mean "no such events" and absent columns "no values".
OPTIONAL_INPUTS: tuple[tuple[str, str | None, str], ...] = (
    ("orders", "tracking_uploaded_at", "tracking_on_time_rate"),
    ("returns", None, "return_rate"),
    ("sellers", None, "account_age_days"),
)


def absent_inputs(
    present: Mapping[str, frozenset[str]], has_values: Callable[[str, str], bool]
) -> dict[str, str]:
    """The metrics a source cannot measure, and why, from the columns it has per table.

    ``present`` maps each table of the source to the contract columns its file
    or database table has; a table missing from ``present`` is absent.
    ``has_values(table, column)`` says whether a loaded column holds any value: an
    optional column that is null in every row (a whole column written empty, as
    some exports do) is not carried either.
    """
    found: dict[str, str] = {}
    for table, column, metric in OPTIONAL_INPUTS:
        if table not in present:
            found[metric] = f"the source has no {table} table"
        elif column is not None and column not in present[table]:
            found[metric] = f"the source's {table} have no {column} column"
        elif column is not None and not has_values(table, column):
            found[metric] = f"no row of the source's {table} has a {column}"
    return found


def create_table_sql(table: str, name: str | None = None) -> str:
    """``CREATE TABLE`` for one canonical table (optionally under another name)."""
    cols = ", ".join(f'"{col}" {typ}' for col, typ in TABLES[table])
    return f'CREATE TABLE "{name or table}" ({cols})'
