"""Read a source, validate every row, register the valid rows in DuckDB.

A source (the data contract's input tables, ``schemas/<table>.schema.json``) is a directory of
``<table>.csv|.parquet|.jsonl`` files or a DuckDB database file with tables of
the same names. :func:`load_source` reads it with DuckDB (files are scanned
directly, never loaded into Python), validates all rows set-wise in SQL, and
registers the valid rows in the caller's connection as the canonical tables of
``engine.tables``. A table is either copied or read in place:

* copied (CSV, JSON Lines, a database table, and any table when the connection
  is a database file or ``materialize`` is asked for): every row is read and
  parsed once into a work table;
* read in place (a Parquet file, into an in-memory connection): nothing is
  copied; the canonical table is a view that parses the file when queried and
  leaves out the rejected rows by their row number. The file must then stay as
  it is while the connection uses the table. A table with more than
  :data:`~sellerpolicy.engine.sources.staging.IN_PLACE_REJECTS` rejected rows
  is copied after all (without them).

The stages:

1. read and row-local checks (``engine.validate_rows``): each table gets a view
   of the 1-based data row ``_row``, the canonical columns and the row's first
   problem ``_bad``: over the work table (created in file order, its
   ``rowid + 1`` is the row) or over the Parquet file (its row number);
2. checks across rows (``engine.validate_events``), producing only the small
   tables of rejected rows: duplicate order ids (the first row keeps the id);
   then, against the valid orders, events of unknown, rejected or other
   sellers' orders and timestamps before the order (one join for all event
   tables), duplicate event ids, a second rating, feedback sequencing;
3. registration: the rejected rows are deleted from each work table, ``_bad``
   is dropped and the table renamed to its canonical name (or the canonical
   view is created), so the caller's tables are replaced only once the whole
   source was read.

Each rejected row yields one :class:`~sellerpolicy.engine.sources.rejects.Reject` with
its first problem. A line of a CSV or JSON Lines file that is no row (a record
with the wrong number of fields, bytes that are not UTF-8, a quote never
closed, a JSON line that is not an object) is a rejected row too: the file is
then read from a mended copy (``sources.lines``) with the line's reason in
place of its values, so that every row keeps its number. A source that cannot
be read at all raises :class:`~sellerpolicy.engine.errors.SourceError` naming
the file (its content never repeated).

This module owns :func:`load_source`, its :class:`SourceReport` and the run of
the stages over all tables; finding the tables and the SQL scanning them are in
``sources.inputs``, the steps applied to one table (read, stage, register) in
``sources.staging``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import duckdb
import numpy as np

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.sources.inputs import (
    ATTACHED,
    Input,
    database_inputs,
    directory_inputs,
)
from sellerpolicy.engine.sources.limits import keep_limits, register_limits
from sellerpolicy.engine.sources.rejects import Reject
from sellerpolicy.engine.sources.staging import (
    first_line,
    read_rows,
    register,
    run_statements,
    stage,
)
from sellerpolicy.engine.sources.tables import TABLES, absent_inputs
from sellerpolicy.engine.sources.validate_events import (
    ID_COLUMNS,
    duplicate_hashes_statement,
    event_statements,
    id_hashes_sql,
    orders_statements,
    rejected_rows_sql,
    scratch_objects,
    scratch_views,
)
from sellerpolicy.engine.sources.validate_rows import SourceColumn

__all__ = ["SourceReport", "load_source"]


@dataclass(frozen=True, slots=True)
class SourceReport:
    """What :func:`load_source` read: rows per table, valid rows per table, rejects."""

    path: str
    rows_read: Mapping[str, int]
    rows_valid: Mapping[str, int]
    rejects: tuple[Reject, ...]
    #: The tables read in place (Parquet files), each with the query of its view: the
    #: valid rows, by the file's absolute path and the rejected row numbers. (How the
    #: rows were read, not what they are: left out of comparisons.)
    in_place: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False)
    #: Catalog metrics the source cannot measure (its ``import.json``), and why.
    not_assessable: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def reject_count(self) -> int:
        """How many rows were rejected, over all tables."""
        return len(self.rejects)


def load_source(
    path: str | Path, con: duckdb.DuckDBPyConnection, *, materialize: bool = False
) -> SourceReport:
    """Validate the source at ``path`` and register its valid rows in ``con``.

    Creates (replacing) the tables ``orders``, ``feedback``, ``claims``,
    ``chargebacks``, ``messages``, ``disputes``, ``ratings``, ``returns`` and
    ``sellers`` in ``con``;
    a table missing from the source is created empty; a source written by
    ``sellerpolicy import`` also gets the metrics its ``import.json`` cannot
    measure (:mod:`.limits`), and a source without an optional input
    (``tables.OPTIONAL_INPUTS``) the metrics that read it. Every invalid row becomes
    one :class:`Reject` (its first problem) in the report, sorted by table and row.
    The connection's settings are left as they were and no temporary table stays.

    A Parquet table loaded into an in-memory connection is a view reading the
    file in place (module docstring); ``materialize`` copies it into a table
    like every other table.

    Raises :class:`SourceError` (naming the file) when the source cannot be read
    at all: no ``orders``, missing required or unknown columns, two files for one
    table, an unreadable file.
    """
    if "://" in str(path):
        raise SourceError(
            str(path), "database URLs are not supported; use table files or a DuckDB file"
        )
    source = Path(path)
    if not source.exists():
        raise SourceError(str(source), "no such file or directory")
    attached = source.is_file()
    inputs = database_inputs(source, con) if attached else directory_inputs(source)
    order_setting = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    try:
        in_place = (
            set()
            if materialize or attached or not _in_memory(con)
            else {t for t, inp in inputs.items() if inp.fmt == "parquet"}
        )
        present: dict[str, frozenset[str]] = {}
        report = _load(str(source), inputs, in_place, con, present)
        limits = register_limits(source, con)
        absent = absent_inputs(present, lambda t, c: _has_values(con, t, c))
        if absent:  # the manifest's reasons win over "the source has no ... table"
            limits = MappingProxyType(absent | dict(limits))
            keep_limits(con, limits)
        return replace(report, not_assessable=limits)
    finally:
        keep = "true" if order_setting is None or order_setting[0] else "false"
        con.execute(f"SET preserve_insertion_order = {keep}")
        if attached:
            con.execute(f"DETACH {ATTACHED}")


def _has_values(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    """Whether some row of the loaded ``table`` has a ``column`` (it stops at the first)."""
    found = con.execute(
        f'SELECT 1 FROM "{table}" WHERE "{column}" IS NOT NULL LIMIT 1'  # noqa: S608 (contract names)
    ).fetchone()
    return found is not None


def _in_memory(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection's current database lives in memory (not in a file)."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return row is None or row[0] is None or row[0] in ("", ":memory:")


def _load(
    path: str,
    inputs: Mapping[str, Input],
    in_place: set[str],
    con: duckdb.DuckDBPyConnection,
    present: dict[str, frozenset[str]] | None = None,
) -> SourceReport:
    """Run the stages of the module docstring; drop every scratch object, even on error.

    ``in_place`` names the tables read in place (Parquet files).
    """
    rows_read: dict[str, int] = {}
    queries: dict[str, str] = {}
    bad: dict[str, list[tuple[int, str | None, str]]] = {}
    sources: dict[str, tuple[Input, Mapping[str, SourceColumn]]] = {}
    try:
        # Work tables keep the file order (their rowid numbers the rows); nothing after
        # depends on the order in which a query produces its rows.
        con.execute("SET preserve_insertion_order = true")
        for table in TABLES:
            rows_read[table] = read_rows(
                table, inputs.get(table), table in in_place, con, sources, present=present
            )
        con.execute("SET preserve_insertion_order = false")
        try:
            unique = frozenset(t for t, c in ID_COLUMNS.items() if _unique_ids(t, c, con))
            run_statements(orders_statements(unique="orders" in unique), con)
            bad["orders"] = _rejected("orders", con)
            run_statements(
                event_statements(orders_rejected=bool(bad["orders"]), unique=unique), con
            )
            for table in TABLES:
                if table != "orders":
                    bad[table] = _rejected(table, con)
            _drop_views(con)
            con.execute("SET preserve_insertion_order = true")
            for table in TABLES:
                stage(table, table in in_place, sources.get(table), len(bad[table]), con)
        except duckdb.Error as exc:
            if not in_place:
                raise
            # A file read in place is only read in full here: name what failed.
            raise SourceError(path, f"cannot be read: {first_line(exc)}") from None
        for table in TABLES:
            query = register(table, table in in_place, sources.get(table), bad[table], con)
            if query is not None:
                queries[table] = query
    finally:
        _drop_views(con)
        for name in scratch_objects():
            con.execute(f"DROP TABLE IF EXISTS {name}")
    return SourceReport(
        path=path,
        rows_read=MappingProxyType(rows_read),
        rows_valid=MappingProxyType({t: rows_read[t] - len(bad[t]) for t in TABLES}),
        rejects=tuple(
            Reject(table, int(row), col, str(why))
            for table in TABLES
            for row, col, why in bad[table]
        ),
        in_place=MappingProxyType(queries),
    )


def _unique_ids(table: str, column: str, con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the ids in ``column`` of ``table`` have pairwise different hashes (so no
    id is duplicated): the hashes, sorted, have no two equal neighbours. Otherwise
    the hashes seen more than once become its ``duplicate_hashes_table``."""
    hashes = con.execute(id_hashes_sql(table, column)).fetchnumpy()["__h"]
    hashes.sort()
    equal = hashes[1:] == hashes[:-1]
    if not bool(np.any(equal)):
        return True
    con.register("__sp_repeated_hashes", {"__h": np.unique(hashes[1:][equal])})
    try:
        con.execute(duplicate_hashes_statement(table, "__sp_repeated_hashes"))
    finally:
        con.unregister("__sp_repeated_hashes")
    return False


def _drop_views(con: duckdb.DuckDBPyConnection) -> None:
    for name in scratch_views():
        con.execute(f"DROP VIEW IF EXISTS {name}")


def _rejected(table: str, con: duckdb.DuckDBPyConnection) -> list[tuple[int, str | None, str]]:
    """The rejected rows of ``table``, by row."""
    rows: list[tuple[int, str | None, str]] = con.execute(rejected_rows_sql(table)).fetchall()
    return rows
