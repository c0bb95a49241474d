"""Read a source, validate every row, register the valid rows in DuckDB.

A source (``shared/spec/data-contract.md``) is a directory of
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
  :data:`IN_PLACE_REJECTS` rejected rows is copied after all (without them).

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
its first problem. A source that cannot be read at all raises
:class:`~sellerpolicy.engine.errors.SourceError` naming the file.
"""

# SQL here is built from this module's own identifiers and quoted literals
# (quote_ident / quote_literal), never from row values: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import duckdb
import numpy as np

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.sources.rejects import Reject
from sellerpolicy.engine.sources.tables import TABLES, Format
from sellerpolicy.engine.sources.validate_events import (
    bad_table,
    event_statements,
    id_hashes_sql,
    orders_statements,
    prune_statements,
    rejected_rows_sql,
    rename_statements,
    rows_view,
    rows_view_statement,
    scratch_objects,
    scratch_views,
    work_table,
)
from sellerpolicy.engine.sources.validate_rows import (
    ABSENT,
    TABLE_SPECS,
    Native,
    SourceColumn,
    local_select_sql,
    native_for,
    quote_ident,
    quote_literal,
)

FORMATS = tuple(Format)
_ATTACHED = "__sp_source_db"
IN_PLACE_REJECTS = 10_000
"""Most rejected rows a table read in place may have (their numbers are in its view)."""


@dataclass(frozen=True, slots=True)
class SourceReport:
    """What :func:`load_source` read: rows per table, valid rows per table, rejects."""

    path: str
    rows_read: Mapping[str, int]
    rows_valid: Mapping[str, int]
    rejects: tuple[Reject, ...]

    @property
    def reject_count(self) -> int:
        """How many rows were rejected, over all tables."""
        return len(self.rejects)


@dataclass(frozen=True, slots=True)
class _Input:
    """Where one table comes from: a file (with its format) or a database table."""

    table: str
    location: str  # file path, or the qualified table name in the attached database
    fmt: str  # csv | parquet | jsonl | duckdb
    shown: str  # how errors name it: the file, or "<database file> (table <name>)"


def load_source(
    path: str | Path, con: duckdb.DuckDBPyConnection, *, materialize: bool = False
) -> SourceReport:
    """Validate the source at ``path`` and register its valid rows in ``con``.

    Creates (replacing) the tables ``orders``, ``feedback``, ``claims``,
    ``chargebacks``, ``messages``, ``disputes`` and ``ratings`` in ``con``;
    a table missing from the source is created empty. Every invalid row becomes
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
    inputs = _database_inputs(source, con) if attached else _directory_inputs(source)
    order_setting = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    try:
        in_place = (
            set()
            if materialize or attached or not _in_memory(con)
            else {t for t, inp in inputs.items() if inp.fmt == "parquet"}
        )
        return _load(str(source), inputs, in_place, con)
    finally:
        keep = "true" if order_setting is None or order_setting[0] else "false"
        con.execute(f"SET preserve_insertion_order = {keep}")
        if attached:
            con.execute(f"DETACH {_ATTACHED}")


def _in_memory(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection's current database lives in memory (not in a file)."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return row is None or row[0] is None or row[0] in ("", ":memory:")


def _directory_inputs(source: Path) -> dict[str, _Input]:
    if not source.is_dir():
        raise SourceError(str(source), "not a directory of table files or a DuckDB database")
    inputs: dict[str, _Input] = {}
    for file in sorted(source.iterdir()):
        fmt = file.suffix.lstrip(".")
        if fmt not in FORMATS or not file.is_file():
            continue
        if file.stem not in TABLES:
            close = difflib.get_close_matches(file.stem, list(TABLES), n=1, cutoff=0.8)
            if close:
                raise SourceError(
                    str(file), f"unknown table '{file.stem}' (did you mean '{close[0]}'?)"
                )
            continue
        if file.stem in inputs:
            other = inputs[file.stem].location
            raise SourceError(str(file), f"second file for table '{file.stem}' (also {other})")
        inputs[file.stem] = _Input(file.stem, str(file), fmt, str(file))
    if "orders" not in inputs:
        raise SourceError(str(source / "orders.*"), "the required table 'orders' is missing")
    return inputs


def _database_inputs(source: Path, con: duckdb.DuckDBPyConnection) -> dict[str, _Input]:
    try:
        con.execute(f"ATTACH {quote_literal(str(source))} AS {_ATTACHED} (READ_ONLY)")
    except duckdb.Error as exc:
        raise SourceError(str(source), f"not a readable DuckDB database ({exc})") from None
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?",
        [_ATTACHED],
    ).fetchall()
    found = {
        name: f"{_ATTACHED}.{quote_ident(schema)}.{quote_ident(name)}" for schema, name in rows
    }
    if "orders" not in found:
        con.execute(f"DETACH {_ATTACHED}")
        raise SourceError(str(source), "the required table 'orders' is missing")
    return {
        t: _Input(t, loc, "duckdb", f"{source} (table {t})")
        for t, loc in found.items()
        if t in TABLES
    }


def _reader_sql(
    inp: _Input, con: duckdb.DuckDBPyConnection, *, in_place: bool = False, numbered: bool = False
) -> str:
    """SQL reading one table's raw rows (CSV and JSON Lines values all as text).

    ``in_place`` (Parquet only) names the file by its absolute path, as a view
    keeps it; ``numbered`` then adds its 0-based ``file_row_number``.
    """
    loc = quote_literal(inp.location)
    if inp.fmt == "csv":
        return (
            f"SELECT * FROM read_csv({loc}, header = true, all_varchar = true,"
            " delim = ',', quote = '\"', escape = '\"')"
        )
    if inp.fmt == "jsonl":
        # The keys of every object are the columns; each value is read as its JSON text.
        keys = con.execute(
            "SELECT DISTINCT unnest(json_keys(json)) AS k"
            f" FROM read_ndjson_objects({loc}) ORDER BY k"
        ).fetchall()
        names = [k for (k,) in keys] or [s.name for s in TABLE_SPECS[inp.table]]
        columns = ", ".join(f"{quote_literal(k)}: 'VARCHAR'" for k in names)
        return (
            f"SELECT * FROM read_json({loc}, format = 'newline_delimited', columns = {{{columns}}})"
        )
    if inp.fmt == "parquet":
        if in_place:
            absolute = quote_literal(str(Path(inp.location).resolve()))
            numbers = ", file_row_number = true" if numbered else ""
            return f"SELECT * FROM read_parquet({absolute}{numbers})"
        return f"SELECT * FROM read_parquet({loc})"
    return f"SELECT * FROM {inp.location}"


def _open(inp: _Input, con: duckdb.DuckDBPyConnection) -> tuple[str, Mapping[str, SourceColumn]]:
    """The raw rows of one table, in file order, and how to read each contract column.

    Every format is scanned in place (never copied as text first); only the
    column names and types are looked up here.
    """
    reader = _reader_sql(inp, con)
    return f"({reader})", _columns(inp, con.execute(f"DESCRIBE {reader}").fetchall())


def _columns(inp: _Input, described: list[tuple[str, str, Any]]) -> Mapping[str, SourceColumn]:
    """Check the source's columns against the contract; say how to read each one."""
    specs = TABLE_SPECS[inp.table]
    present: dict[str, SourceColumn] = {}
    by_name = {s.name: s for s in specs}
    for name, typ, *_ in described:
        spec = by_name.get(name)
        native = native_for(spec, typ) if spec is not None else Native.TEXT
        sql = quote_ident(name)
        text = native is not Native.TEXT or typ == "VARCHAR"
        present[name] = SourceColumn(sql if text else f"CAST({sql} AS VARCHAR)", native)
    expected = [s.name for s in specs]
    unknown = sorted(set(present) - set(expected))
    missing = [s.name for s in specs if s.required and s.name not in present]
    if unknown:
        raise SourceError(
            inp.shown, f"unknown columns {', '.join(unknown)} (expected {', '.join(expected)})"
        )
    if missing:
        raise SourceError(inp.shown, f"missing required columns {', '.join(missing)}")
    return MappingProxyType({n: present.get(n, ABSENT) for n in expected})


def _load(
    path: str,
    inputs: Mapping[str, _Input],
    in_place: set[str],
    con: duckdb.DuckDBPyConnection,
) -> SourceReport:
    """Run the stages of the module docstring; drop every scratch object, even on error.

    ``in_place`` names the tables read in place (Parquet files).
    """
    rows_read: dict[str, int] = {}
    bad: dict[str, list[tuple[int, str | None, str]]] = {}
    sources: dict[str, tuple[_Input, Mapping[str, SourceColumn]]] = {}
    try:
        # Work tables keep the file order (their rowid numbers the rows); nothing after
        # depends on the order in which a query produces its rows.
        con.execute("SET preserve_insertion_order = true")
        for table in TABLES:
            rows_read[table] = _read_rows(table, inputs.get(table), table in in_place, con, sources)
        con.execute("SET preserve_insertion_order = false")
        try:
            _run(orders_statements(unique=_distinct_hashes(con)), con)
            bad["orders"] = _rejected("orders", con)
            _run(event_statements(orders_rejected=bool(bad["orders"])), con)
            for table in TABLES:
                if table != "orders":
                    bad[table] = _rejected(table, con)
            _drop_views(con)
            con.execute("SET preserve_insertion_order = true")
            for table in TABLES:
                _stage(table, table in in_place, sources.get(table), len(bad[table]), con)
        except duckdb.Error as exc:
            if not in_place:
                raise
            # A file read in place is only read in full here: name what failed.
            raise SourceError(path, f"cannot be read: {exc}") from None
        for table in TABLES:
            _register(table, table in in_place, sources.get(table), bad[table], con)
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
    )


def _distinct_hashes(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the order ids of the source have pairwise different hashes (so no id
    is duplicated): the hashes, sorted, have no two equal neighbours."""
    hashes = con.execute(id_hashes_sql("orders", "order_id")).fetchnumpy()["__h"]
    hashes.sort()
    return not bool(np.any(hashes[1:] == hashes[:-1]))


def _drop_views(con: duckdb.DuckDBPyConnection) -> None:
    for name in scratch_views():
        con.execute(f"DROP VIEW IF EXISTS {name}")


def _stage(
    table: str,
    in_place: bool,
    source: tuple[_Input, Mapping[str, SourceColumn]] | None,
    rejected: int,
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Make the work table of ``table`` its canonical rows (kept under the work name).

    A copied table loses its rejected rows and ``_bad``. A table read in place gets a
    work table only when it has too many rejected rows for its view: its valid rows,
    parsed from the file once more, in file order.
    """
    if not in_place:
        _run(prune_statements(table, rejected > 0), con)
        return
    if source is None or rejected <= IN_PLACE_REJECTS:
        return
    # Numbered rows in file order, then the rejected ones deleted (a join to leave
    # them out would not keep the order).
    work = work_table(table)
    con.execute(
        f"CREATE OR REPLACE TABLE {work} AS {_parsed_sql(table, source, con, numbered=True)}"
    )
    con.execute(f"DELETE FROM {work} WHERE _row IN (SELECT _row FROM {bad_table(table)})")
    con.execute(f"ALTER TABLE {work} DROP COLUMN _row")


def _register(
    table: str,
    in_place: bool,
    source: tuple[_Input, Mapping[str, SourceColumn]] | None,
    bad: list[tuple[int, str | None, str]],
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Replace the caller's ``table`` (a table or a view) with the loaded one."""
    name = quote_ident(table)
    for kind in ("TABLE", "VIEW"):
        try:
            con.execute(f"DROP {kind} IF EXISTS {name}")
        except duckdb.CatalogException:  # the other kind of object has that name
            continue
    if not in_place or source is None or len(bad) > IN_PLACE_REJECTS:
        _run(rename_statements(table), con)
        return
    if not bad:
        con.execute(f"CREATE VIEW {name} AS {_parsed_sql(table, source, con, numbered=False)}")
        return
    parsed = _parsed_sql(table, source, con, numbered=True)
    kept = _unlisted_sql(sorted(row for row, _, _ in bad))
    con.execute(f"CREATE VIEW {name} AS SELECT * EXCLUDE (_row) FROM ({parsed}) WHERE {kept}")


def _unlisted_sql(rows: list[int]) -> str:
    """SQL: true when ``_row`` is not one of ``rows`` (sorted, not empty).

    A tree of ``CASE`` on the row number with short lists at its leaves: a few
    comparisons per row, and a plain filter (``NOT IN (...)`` is planned as a
    join, which does not keep the file order of the rows).
    """
    if len(rows) <= 16:
        return f"list_position([{', '.join(map(str, rows))}], _row) IS NULL"
    mid = len(rows) // 2
    return (
        f"CASE WHEN _row < {rows[mid]} THEN {_unlisted_sql(rows[:mid])}"
        f" ELSE {_unlisted_sql(rows[mid:])} END"
    )


def _run(statements: list[str], con: duckdb.DuckDBPyConnection) -> None:
    """Execute ``statements`` in order."""
    for statement in statements:
        con.execute(statement)


def _parsed_sql(
    table: str,
    source: tuple[_Input, Mapping[str, SourceColumn]],
    con: duckdb.DuckDBPyConnection,
    *,
    numbered: bool,
) -> str:
    """SQL: the canonical columns of a file read in place (with ``_row`` if ``numbered``)."""
    inp, columns = source
    reader = f"({_reader_sql(inp, con, in_place=True, numbered=numbered)})"
    row = "file_row_number + 1" if numbered else None
    return local_select_sql(table, columns, reader, row=row, problems=False)


def _rejected(table: str, con: duckdb.DuckDBPyConnection) -> list[tuple[int, str | None, str]]:
    """The rejected rows of ``table``, by row."""
    rows: list[tuple[int, str | None, str]] = con.execute(rejected_rows_sql(table)).fetchall()
    return rows


def _read_rows(
    table: str,
    inp: _Input | None,
    in_place: bool,
    con: duckdb.DuckDBPyConnection,
    sources: dict[str, tuple[_Input, Mapping[str, SourceColumn]]],
) -> int:
    """Read one table with the row-local checks into its :func:`rows_view`; count its rows.

    A copied table becomes a work table created in insertion order (``rowid + 1`` is
    the data row); a table read in place is only described, its view numbers the rows
    of the file (and ``sources`` keeps how to read it again).
    """
    if inp is None:
        columns: Mapping[str, SourceColumn] = {s.name: ABSENT for s in TABLE_SPECS[table]}
        source = "(SELECT true AS __none WHERE false)"
    try:
        if inp is not None:
            source, columns = _open(inp, con)
        if in_place and inp is not None:
            reader = f"({_reader_sql(inp, con, in_place=True, numbered=True)})"
            sources[table] = (inp, columns)
            select = local_select_sql(table, columns, reader, row="file_row_number + 1")
            con.execute(f"CREATE OR REPLACE TEMP VIEW {rows_view(table)} AS {select}")
            count = con.execute(f"SELECT count(*) FROM {source}").fetchone()
            return int(count[0]) if count else 0
        con.execute(
            f"CREATE OR REPLACE TABLE {work_table(table)} AS"
            f" {local_select_sql(table, columns, source)}"
        )
        con.execute(rows_view_statement(table))
    except duckdb.Error as exc:
        shown = inp.shown if inp is not None else table
        raise SourceError(shown, f"cannot be read: {exc}") from None
    count = con.execute(f"SELECT count(*) FROM {work_table(table)}").fetchone()
    return int(count[0]) if count else 0
