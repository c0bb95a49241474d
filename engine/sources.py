"""Read a source, validate every row, register the valid rows in DuckDB.

A source (``shared/spec/data-contract.md``) is a directory of
``<table>.csv|.parquet|.jsonl`` files or a DuckDB database file with tables of
the same names. :func:`load_source` reads it with DuckDB (files are scanned
directly, never loaded into Python), validates all rows set-wise in SQL, and
registers the valid rows in the caller's connection as the canonical tables of
``engine.tables``. Stages, per table:

1. read: the raw rows into a temporary table; its ``rowid`` gives the 1-based
   data row (``_row``) of the file;
2. row-local checks and parsing (``engine.validate_rows``);
3. checks across rows (``engine.validate_events``): duplicate ids (the first
   row keeps the id), events of unknown, rejected or other sellers' orders,
   timestamps before the order, a second rating, feedback sequencing.

Each rejected row yields one :class:`~sellerpolicy.engine.rejects.Reject` with
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

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.rejects import Reject
from sellerpolicy.engine.tables import TABLES, create_table_sql
from sellerpolicy.engine.validate_events import (
    final_statements,
    final_table,
    local_table,
    scratch_objects,
)
from sellerpolicy.engine.validate_rows import (
    ABSENT,
    TABLE_SPECS,
    Native,
    SourceColumn,
    local_select_sql,
    native_for,
    quote_ident,
    quote_literal,
)

FORMATS = ("csv", "parquet", "jsonl")
_ATTACHED = "__sp_source_db"


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


def load_source(path: str | Path, con: duckdb.DuckDBPyConnection) -> SourceReport:
    """Validate the source at ``path`` and register its valid rows in ``con``.

    Creates (replacing) the tables ``orders``, ``feedback``, ``claims``,
    ``chargebacks``, ``messages``, ``disputes`` and ``ratings`` in ``con``;
    a table missing from the source is created empty. Every invalid row becomes
    one :class:`Reject` (its first problem) in the report, sorted by table and row.
    The connection's settings are left as they were and no temporary table stays.

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
    con.execute("SET preserve_insertion_order = true")
    try:
        return _load(str(source), inputs, con)
    finally:
        if order_setting is not None and not order_setting[0]:
            con.execute("SET preserve_insertion_order = false")
        if attached:
            con.execute(f"DETACH {_ATTACHED}")


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


def _reader_sql(inp: _Input, con: duckdb.DuckDBPyConnection) -> str:
    """SQL reading one table's raw rows (CSV and JSON Lines values all as text)."""
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
        return f"SELECT * FROM read_parquet({loc})"
    return f"SELECT * FROM {inp.location}"


def _raw_name(table: str) -> str:
    return f"__sp_raw_{table}"


def _open(inp: _Input, con: duckdb.DuckDBPyConnection) -> tuple[str, Mapping[str, SourceColumn]]:
    """The rows of one table with their 1-based data row ``_row``, and how to read each
    contract column. Parquet and database tables are scanned in place; CSV and JSON
    Lines are first copied as text into a temporary table, whose ``rowid`` numbers them.
    """
    reader = _reader_sql(inp, con)
    if inp.fmt == "parquet":
        loc = quote_literal(inp.location)
        source = (
            "(SELECT file_row_number + 1 AS _row, * EXCLUDE (file_row_number)"
            f" FROM read_parquet({loc}, file_row_number = true))"
        )
        described = f"DESCRIBE {reader}"
    elif inp.fmt == "duckdb":
        source = f"(SELECT rowid + 1 AS _row, * FROM {inp.location})"
        described = f"DESCRIBE {reader}"
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_raw_name(inp.table)} AS {reader}")
        source = f"(SELECT rowid + 1 AS _row, * FROM {_raw_name(inp.table)})"
        described = f"DESCRIBE {_raw_name(inp.table)}"
    return source, _columns(inp, con.execute(described).fetchall())


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


def _load(path: str, inputs: Mapping[str, _Input], con: duckdb.DuckDBPyConnection) -> SourceReport:
    rows_read: dict[str, int] = {}
    rows_valid: dict[str, int] = {}
    rejects: list[Reject] = []
    try:
        for table in TABLES:
            rows_read[table] = _check_rows(table, inputs.get(table), con)
        for table in TABLES:
            bad = _register_valid(table, con)
            rejects.extend(Reject(table, int(row), col, str(why)) for row, col, why in bad)
            rows_valid[table] = rows_read[table] - len(bad)
    finally:
        for table in TABLES:
            for kind, name in (("TABLE", _raw_name(table)), *scratch_objects(table)):
                con.execute(f"DROP {kind} IF EXISTS {name}")
    return SourceReport(
        path=path,
        rows_read=MappingProxyType(rows_read),
        rows_valid=MappingProxyType(rows_valid),
        rejects=tuple(rejects),
    )


def _check_rows(table: str, inp: _Input | None, con: duckdb.DuckDBPyConnection) -> int:
    """Read one table and run its row-local checks into :func:`local_table`; count rows."""
    if inp is None:
        columns: Mapping[str, SourceColumn] = {s.name: ABSENT for s in TABLE_SPECS[table]}
        source = "(SELECT 1 AS _row WHERE false)"
    try:
        if inp is not None:
            source, columns = _open(inp, con)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {local_table(table)} AS"
            f" {local_select_sql(table, columns, source)}"
        )
    except duckdb.Error as exc:
        shown = inp.shown if inp is not None else table
        raise SourceError(shown, f"cannot be read: {exc}") from None
    con.execute(f"DROP TABLE IF EXISTS {_raw_name(table)}")
    count = con.execute(f"SELECT count(*) FROM {local_table(table)}").fetchone()
    return int(count[0]) if count else 0


def _register_valid(
    table: str, con: duckdb.DuckDBPyConnection
) -> list[tuple[int, str | None, str]]:
    """Run the checks across rows, register the valid rows as ``table``; return the bad ones."""
    for statement in final_statements(table):
        con.execute(statement)
    cols = ", ".join(quote_ident(c) for c, _ in TABLES[table])
    final = final_table(table)
    con.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")
    con.execute(create_table_sql(table))
    con.execute(f"INSERT INTO {quote_ident(table)} SELECT {cols} FROM {final} WHERE _bad IS NULL")
    bad: list[tuple[int, str | None, str]] = con.execute(
        f"SELECT _row, _bad.col, _bad.reason FROM {final} WHERE _bad IS NOT NULL ORDER BY _row"
    ).fetchall()
    return bad
