"""A distributed run's source, on the driver: validated once, split into partitions.

:func:`prepare_source` validates a raw source once, in memory: Parquet tables
are read in place (workers read the files too, leaving out the rejected rows
by number: :attr:`~sellerpolicy.engine.sources.reader.SourceReport.in_place`);
only the tables that had to be copied (CSV, JSON Lines, very many rejects)
are staged, into a DuckDB file workers attach. :func:`validated_sellers`
reads the sellers of an already validated DuckDB source, and :func:`split`
deals sellers to partitions by :func:`~.partition.partition_of`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.rejects import write_rejects
from sellerpolicy.engine.sources.tables import TABLES

from .partition import partition_of, quoted

__all__ = ["prepare_source", "split", "validated_sellers"]


def prepare_source(
    source: Path, staged: Path, rejects_path: Path
) -> tuple[Path | None, tuple[tuple[str, str], ...], int, list[str]]:
    """Validate a raw source once; write its rejects; stage only what must be copied.

    Returns the staged DuckDB file (``None`` when every table is read in
    place), each in-place table's query, the reject count and the sellers
    (of orders and messages).
    """
    with duckdb.connect() as con:  # in memory: Parquet tables are read in place
        con.execute("SET enable_progress_bar = false")
        report = load_source(source, con)
        write_rejects(report.rejects, rejects_path)
        copied = [table for table in TABLES if table not in report.in_place]
        database = None
        if copied:
            con.execute(f"ATTACH '{quoted(staged)}' AS staged")
            for table in copied:
                con.execute(f"CREATE TABLE staged.{table} AS FROM {table}")
            con.execute("DETACH staged")
            database = staged
        rows = con.execute(
            "SELECT seller_id FROM orders UNION SELECT seller_id FROM messages"
        ).fetchall()
    return database, tuple(report.in_place.items()), report.reject_count, [s for (s,) in rows]


def validated_sellers(database: Path) -> list[str]:
    """The sellers of a validated DuckDB source (of orders and messages)."""
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"ATTACH '{quoted(database)}' AS src (READ_ONLY)")
        rows = con.execute(
            "SELECT seller_id FROM src.orders UNION SELECT seller_id FROM src.messages"
        ).fetchall()
    return [seller for (seller,) in rows]


def split(sellers: list[str], partitions: int) -> list[tuple[str, ...]]:
    """Sellers split into partitions by :func:`partition_of`."""
    shares: list[list[str]] = [[] for _ in range(partitions)]
    for seller in sellers:
        shares[partition_of(seller, partitions)].append(seller)
    return [tuple(share) for share in shares]
