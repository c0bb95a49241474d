"""A distributed run's source, on the driver: validated once, split into partitions.

:func:`prepare_source` validates a raw source once, in memory: Parquet tables
are read in place (workers read the files too, leaving out the rejected rows
by number: :attr:`~sellerpolicy.engine.sources.reader.SourceReport.in_place`);
only the tables that had to be copied (CSV, JSON Lines, very many rejects)
are staged, into a DuckDB file workers attach. :func:`validated_sellers`
reads the sellers of an already validated DuckDB source, and :func:`split`
deals sellers to partitions by :func:`~.partition.partition_of`.

Both also give the source's limits (``sources.limits``: the metrics an
imported source's ``import.json`` declares not assessable, or those a
validated DuckDB file keeps), which every worker registers, so that a
distributed run computes the facts a single-process run does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from sellerpolicy.engine.sources.limits import LIMITS_TABLE
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.rejects import write_rejects
from sellerpolicy.engine.sources.tables import TABLES

from .partition import partition_of, quoted

__all__ = ["PreparedSource", "prepare_source", "split", "validated_sellers"]


@dataclass(frozen=True, slots=True)
class PreparedSource:
    """A raw source validated once on the driver, as the workers read it."""

    database: Path | None  # the staged DuckDB file (None: every table read in place)
    views: tuple[tuple[str, str], ...]  # each in-place table's query of its valid rows
    rejects: int | None  # None: the source came validated
    sellers: list[str]  # of orders and messages
    limits: tuple[tuple[str, str], ...]  # metrics not assessable, and why (import.json)


def prepare_source(source: Path, staged: Path, rejects_path: Path) -> PreparedSource:
    """Validate a raw source once; write its rejects; stage only what must be copied."""
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
    return PreparedSource(
        database=database,
        views=tuple(report.in_place.items()),
        rejects=report.reject_count,
        sellers=[s for (s,) in rows],
        limits=tuple(report.not_assessable.items()),
    )


def validated_sellers(database: Path) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """The sellers of a validated DuckDB source (of orders and messages), and the
    limits it keeps (``load_source`` of an imported source into that file kept them)."""
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"ATTACH '{quoted(database)}' AS src (READ_ONLY)")
        rows = con.execute(
            "SELECT seller_id FROM src.orders UNION SELECT seller_id FROM src.messages"
        ).fetchall()
        kept = con.execute(
            "SELECT 1 FROM duckdb_tables() WHERE database_name = 'src' AND table_name = ?",
            [LIMITS_TABLE],
        ).fetchall()
        query = f"SELECT metric, because FROM src.{LIMITS_TABLE} ORDER BY metric"  # noqa: S608
        limits = con.execute(query).fetchall() if kept else []
    return [seller for (seller,) in rows], tuple((str(m), str(b)) for m, b in limits)


def split(sellers: list[str], partitions: int) -> list[tuple[str, ...]]:
    """Sellers split into partitions by :func:`partition_of`."""
    shares: list[list[str]] = [[] for _ in range(partitions)]
    for seller in sellers:
        shares[partition_of(seller, partitions)].append(seller)
    return [tuple(share) for share in shares]
