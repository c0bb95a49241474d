"""Where a source's tables come from, and the SQL that scans each of them.

Owns the discovery of a source's tables (:func:`directory_inputs` for a folder
of ``<table>.csv|.parquet|.jsonl`` files, :func:`database_inputs` for a DuckDB
file attached read-only as :data:`ATTACHED`), each as an :class:`Input`; the
SQL reading one table's raw rows (:func:`reader_sql`); and the check of its
columns against the contract, saying how to read each one (:func:`open_input`).
A CSV file is read with the names of its header row (``sources.lines``)
and no sniffing; a mended copy of a CSV or JSON Lines file (``sources.lines``)
is read the same way, with the columns of its malformed lines. A source that
cannot be read raises :class:`~sellerpolicy.engine.errors.SourceError` naming
the file, never repeating its content beyond one offending column name.
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
from sellerpolicy.engine.sources.line_reader import MAX_LINE_BYTES
from sellerpolicy.engine.sources.lines import LINE_COLUMNS, read_header
from sellerpolicy.engine.sources.tables import TABLES, Format
from sellerpolicy.engine.sources.validate_rows import (
    ABSENT,
    TABLE_SPECS,
    Native,
    SourceColumn,
    native_for,
    quote_ident,
    quote_literal,
)

__all__ = [
    "ATTACHED",
    "CSV_REJECTS",
    "CSV_SCANS",
    "FORMATS",
    "Input",
    "database_inputs",
    "directory_inputs",
    "open_input",
    "reader_sql",
]

FORMATS = tuple(Format)
ATTACHED = "__sp_source_db"
"""The name a DuckDB source file is attached under (read-only) while it is read."""
CSV_REJECTS = "__sp_csv_rejects"
CSV_SCANS = "__sp_csv_scans"
"""The temporary tables where DuckDB puts the rows of a mended CSV copy it refuses."""


@dataclass(frozen=True, slots=True)
class Input:
    """Where one table comes from: a file (with its format) or a database table."""

    table: str
    location: str  # file path, or the qualified table name in the attached database
    fmt: str  # csv | parquet | jsonl | duckdb
    shown: str  # how errors name it: the file, or "<database file> (table <name>)"


def directory_inputs(source: Path) -> dict[str, Input]:
    """The tables of a folder: one file per table, ``orders`` required."""
    if not source.is_dir():
        raise SourceError(str(source), "not a directory of table files or a DuckDB database")
    inputs: dict[str, Input] = {}
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
        inputs[file.stem] = Input(file.stem, str(file), fmt, str(file))
    if "orders" not in inputs:
        raise SourceError(str(source / "orders.*"), "the required table 'orders' is missing")
    return inputs


def database_inputs(source: Path, con: duckdb.DuckDBPyConnection) -> dict[str, Input]:
    """The tables of a DuckDB file, attached to ``con`` as :data:`ATTACHED` (the caller
    detaches it once read), ``orders`` required."""
    try:
        con.execute(f"ATTACH {quote_literal(str(source))} AS {ATTACHED} (READ_ONLY)")
    except duckdb.Error as exc:
        first = str(exc).strip().split("\n", 1)[0]
        raise SourceError(str(source), f"not a readable DuckDB database ({first})") from None
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?",
        [ATTACHED],
    ).fetchall()
    found = {name: f"{ATTACHED}.{quote_ident(schema)}.{quote_ident(name)}" for schema, name in rows}
    if "orders" not in found:
        con.execute(f"DETACH {ATTACHED}")
        raise SourceError(str(source), "the required table 'orders' is missing")
    return {
        t: Input(t, loc, "duckdb", f"{source} (table {t})")
        for t, loc in found.items()
        if t in TABLES
    }


def reader_sql(
    inp: Input,
    con: duckdb.DuckDBPyConnection,
    *,
    in_place: bool = False,
    numbered: bool = False,
    mended: bool = False,
) -> str:
    """SQL reading one table's raw rows (CSV and JSON Lines values all as text).

    ``in_place`` (Parquet only) names the file by its absolute path, as a view
    keeps it; ``numbered`` then adds its 0-based ``file_row_number``.
    ``mended`` (a copy made by ``sources.lines``) adds the columns of its
    malformed lines (``LINE_COLUMNS``); a mended CSV copy's refused rows go to
    :data:`CSV_REJECTS`.
    """
    loc = quote_literal(inp.location)
    if inp.fmt == "csv":
        return _csv_sql(inp, read_header(Path(inp.location), inp.shown).names, mended=mended)
    if inp.fmt == "jsonl":
        # The keys of every object are the columns; each value is read as its JSON text.
        keys = con.execute(
            "SELECT DISTINCT unnest(json_keys(json)) AS k"
            f" FROM read_ndjson_objects({loc}) ORDER BY k"
        ).fetchall()
        names = [k for (k,) in keys] or [s.name for s in TABLE_SPECS[inp.table]]
        if mended:
            names = [n for n in names if n not in LINE_COLUMNS] + list(LINE_COLUMNS)
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


def open_input(
    inp: Input, con: duckdb.DuckDBPyConnection, *, mended: bool = False
) -> tuple[str, Mapping[str, SourceColumn]]:
    """The raw rows of one table, in file order, and how to read each contract column.

    Every format is scanned in place (never copied as text first); only the
    column names and types are looked up here (a CSV file's in its header row).
    ``mended``: a copy made by ``sources.lines`` (:func:`reader_sql`).
    """
    if inp.fmt == "csv":
        names = read_header(Path(inp.location), inp.shown).names
        columns = _columns(inp, [(n, "VARCHAR") for n in names], mended=mended)
        return f"({_csv_sql(inp, names, mended=mended)})", columns
    reader = reader_sql(inp, con, mended=mended)
    described = con.execute(f"DESCRIBE {reader}").fetchall()
    return f"({reader})", _columns(inp, described, mended=mended)


def _csv_sql(inp: Input, names: tuple[str, ...], *, mended: bool) -> str:
    """SQL reading a CSV file whose header row names ``names``: every value as text,
    RFC 4180 quoting, nothing sniffed (a malformed line stops the scan)."""
    columns = ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in names)
    # A mended copy's record is its original's behind two empty fields (or longer
    # quoted); its rows that DuckDB still refuses are numbered in CSV_REJECTS.
    extra = (
        f", max_line_size = {2 * MAX_LINE_BYTES + 64}, store_rejects = true,"
        f" rejects_table = {quote_literal(CSV_REJECTS)}, rejects_scan = {quote_literal(CSV_SCANS)}"
        if mended
        else ""
    )
    return (
        f"SELECT * FROM read_csv({quote_literal(inp.location)}, header = true,"
        f" auto_detect = false, columns = {{{columns}}}, delim = ',', quote = '\"',"
        f" escape = '\"', strict_mode = true{extra})"
    )


def _columns(
    inp: Input, described: list[tuple[str, str, Any]] | list[tuple[str, str]], *, mended: bool
) -> Mapping[str, SourceColumn]:
    """Check the source's columns against the contract; say how to read each one.

    A CSV header naming none of the table's columns is no header (its text is not
    repeated: it may be any file's first line). Column names in messages are cut
    at 40 characters.
    """
    specs = TABLE_SPECS[inp.table]
    present: dict[str, SourceColumn] = {}
    by_name = {s.name: s for s in specs}
    expected = [s.name for s in specs]
    seen: set[str] = set()
    for name, typ, *_ in described:
        if mended and name in LINE_COLUMNS:
            continue
        if name in seen:
            raise SourceError(inp.shown, f"the header names the column {_shown(name)} twice")
        seen.add(name)
        spec = by_name.get(name)
        native = native_for(spec, typ) if spec is not None else Native.TEXT
        sql = quote_ident(name)
        text = native is not Native.TEXT or typ == "VARCHAR"
        present[name] = SourceColumn(sql if text else f"CAST({sql} AS VARCHAR)", native)
    if inp.fmt == "csv" and not set(present) & set(expected):
        raise SourceError(
            inp.shown,
            f"is not a CSV table of '{inp.table}': its first line names none of its columns"
            f" ({', '.join(expected)})",
        )
    unknown = sorted(set(present) - set(expected))
    missing = [s.name for s in specs if s.required and s.name not in present]
    if unknown:
        shown = ", ".join(_shown(n) for n in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise SourceError(
            inp.shown, f"unknown columns {shown}{more} (expected {', '.join(expected)})"
        )
    if missing:
        raise SourceError(inp.shown, f"missing required columns {', '.join(missing)}")
    return MappingProxyType({n: present.get(n, ABSENT) for n in expected})


def _shown(name: str) -> str:
    """A column name for a message: as it is when short and printable, else quoted and cut."""
    if name and len(name) <= 40 and name.isprintable() and name.strip() == name:
        return name
    return repr(name[:40] + ("..." if len(name) > 40 else ""))
