"""The per-table steps of loading a source: read, stage, register.

Owns what :func:`~sellerpolicy.engine.sources.reader.load_source` does to one
table at a time: reading it with the row-local checks into its rows view
(:func:`read_rows`: a work table, or for a table read in place a view over the
file), making its work table the canonical rows once the rejected rows are
known (:func:`stage`), and replacing the caller's table with it
(:func:`register`), as a table or, read in place, as a view over the file
that leaves out at most :data:`IN_PLACE_REJECTS` rejected rows by number.
"""

# SQL here is built from this module's own identifiers and quoted literals
# (quote_ident / quote_literal), never from row values: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import duckdb

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.sources.inputs import (
    CSV_REJECTS,
    CSV_SCANS,
    Input,
    open_input,
    reader_sql,
)
from sellerpolicy.engine.sources.json_lines import mend_jsonl
from sellerpolicy.engine.sources.line_reader import MAX_LINE_BYTES
from sellerpolicy.engine.sources.lines import (
    BAD_LINE,
    LINE_COLUMNS,
    field_count,
    mend_csv,
)
from sellerpolicy.engine.sources.validate_events import (
    bad_table,
    prune_statements,
    rename_statements,
    rows_view,
    rows_view_statement,
    work_table,
)
from sellerpolicy.engine.sources.validate_rows import (
    ABSENT,
    TABLE_SPECS,
    SourceColumn,
    local_select_sql,
    quote_ident,
)

__all__ = [
    "IN_PLACE_REJECTS",
    "MENDED",
    "first_line",
    "read_rows",
    "register",
    "run_statements",
    "stage",
]

IN_PLACE_REJECTS = 10_000
"""Most rejected rows a table read in place may have (their numbers are in its view)."""
MENDED = ("csv", "jsonl")
"""The formats whose malformed lines are rejects (``sources.lines``), not errors."""


def read_rows(
    table: str,
    inp: Input | None,
    in_place: bool,
    con: duckdb.DuckDBPyConnection,
    sources: dict[str, tuple[Input, Mapping[str, SourceColumn]]],
    *,
    present: dict[str, frozenset[str]] | None = None,
) -> int:
    """Read one table with the row-local checks into its :func:`rows_view`; count its rows.

    A copied table becomes a work table created in insertion order (``rowid + 1`` is
    the data row); a table read in place is only described, its view numbers the rows
    of the file (and ``sources`` keeps how to read it again). A CSV or JSON Lines
    file that DuckDB stops on is read from its mended copy (:func:`_read_mended`).
    ``present`` (when given) gets the contract columns the table's input has.
    """
    if inp is None:
        columns: Mapping[str, SourceColumn] = {s.name: ABSENT for s in TABLE_SPECS[table]}
        source = "(SELECT true AS __none WHERE false)"
    try:
        if inp is not None:
            source, columns = open_input(inp, con)
            if present is not None:
                present[table] = frozenset(n for n, c in columns.items() if c is not ABSENT)
        if in_place and inp is not None:
            reader = f"({reader_sql(inp, con, in_place=True, numbered=True)})"
            sources[table] = (inp, columns)
            select = local_select_sql(table, columns, reader, row="file_row_number + 1", fails=True)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {rows_view(table)} AS {select}")
            count = con.execute(f"SELECT count(*) FROM {source}").fetchone()
            return int(count[0]) if count else 0
        con.execute(
            f"CREATE OR REPLACE TABLE {work_table(table)} AS"
            f" {local_select_sql(table, columns, source)}"
        )
    except duckdb.Error as exc:
        if inp is None or inp.fmt not in MENDED:
            shown = inp.shown if inp is not None else table
            raise SourceError(shown, f"cannot be read: {first_line(exc)}") from None
        _read_mended(table, inp, con, present)
    con.execute(rows_view_statement(table))
    count = con.execute(f"SELECT count(*) FROM {work_table(table)}").fetchone()
    return int(count[0]) if count else 0


def first_line(exc: Exception) -> str:
    """The first line of a DuckDB error (the rest repeats SQL or the file's content)."""
    return str(exc).strip().split("\n", 1)[0]


def _read_mended(
    table: str,
    inp: Input,
    con: duckdb.DuckDBPyConnection,
    present: dict[str, frozenset[str]] | None = None,
) -> None:
    """Create the work table of ``table`` from a mended copy of its file (``sources.lines``).

    The copy lives in a private temporary folder, removed once read. A CSV row that
    DuckDB still refuses in the copy (numbered exactly there: the copy has no blank
    line) is made a placeholder in a second copy. Errors name the original file only.
    """
    with tempfile.TemporaryDirectory(prefix="sellerpolicy-mended-") as folder:
        copy = Path(folder) / f"{table}.{inp.fmt}"
        mended = replace(inp, location=str(copy))
        forced: dict[int, tuple[str | None, str]] = {}
        for _ in range(2):
            if inp.fmt == "csv":
                mend_csv(Path(inp.location), inp.shown, copy, forced)
            else:
                mend_jsonl(Path(inp.location), inp.shown, copy)
            try:
                source, columns = open_input(mended, con, mended=True)
                if present is not None:
                    present[table] = frozenset(n for n, c in columns.items() if c is not ABSENT)
                con.execute(
                    f"CREATE OR REPLACE TABLE {work_table(table)} AS"
                    f" {local_select_sql(table, columns, source, line_problems=LINE_COLUMNS)}"
                )
                refused = _refused(inp, con) if inp.fmt == "csv" else {}
            except duckdb.Error:
                kind = "CSV" if inp.fmt == "csv" else "JSON Lines"
                raise SourceError(inp.shown, f"cannot be read as {kind}") from None
            finally:
                for name in (CSV_REJECTS, CSV_SCANS):
                    con.execute(f"DROP TABLE IF EXISTS {name}")
            if not refused:
                return
            forced.update(refused)
    raise SourceError(inp.shown, "cannot be read as CSV")


def _refused(inp: Input, con: duckdb.DuckDBPyConnection) -> dict[int, tuple[str | None, str]]:
    """The rows of a mended CSV copy that DuckDB refused: ``{row: (column, reason)}``.

    Its rejects table numbers them by ``line`` (the header is line 1, and the copy
    has one line per row, two line columns in front of the file's).
    """
    found = con.execute(
        f"SELECT line, min(error_type), any_value(column_name),"
        f" max(TRY_CAST(regexp_extract(error_message, 'Found: (\\d+)', 1) AS BIGINT)),"
        f" max(TRY_CAST(regexp_extract(error_message, 'Columns: (\\d+)', 1) AS BIGINT))"
        f" FROM {CSV_REJECTS} GROUP BY line ORDER BY line"
    ).fetchall()
    refused: dict[int, tuple[str | None, str]] = {}
    for line, error, column, found_fields, expected in found:
        name = column if column not in (None, *LINE_COLUMNS) else None
        who = name or "the row"
        if error in ("MISSING COLUMNS", "TOO MANY COLUMNS") and found_fields and expected:
            refused[int(line) - 1] = (None, field_count(found_fields - 2, expected - 2))
        elif error == "INVALID ENCODING":
            refused[int(line) - 1] = (name, f"bad_encoding: {who} is not valid UTF-8")
        elif error == "UNQUOTED VALUE":
            refused[int(line) - 1] = (name, f"bad_quote: {who} has a misplaced quote")
        elif error == "LINE SIZE OVER MAXIMUM":
            reason = f"line_too_long: the row is longer than {MAX_LINE_BYTES:,} bytes"
            refused[int(line) - 1] = (None, reason)
        else:
            refused[int(line) - 1] = (None, BAD_LINE)
    return refused


def stage(
    table: str,
    in_place: bool,
    source: tuple[Input, Mapping[str, SourceColumn]] | None,
    rejected: int,
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Make the work table of ``table`` its canonical rows (kept under the work name).

    A copied table loses its rejected rows and ``_bad``. A table read in place gets a
    work table only when it has too many rejected rows for its view: its valid rows,
    parsed from the file once more, in file order.
    """
    if not in_place:
        run_statements(prune_statements(table, rejected > 0), con)
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


def register(
    table: str,
    in_place: bool,
    source: tuple[Input, Mapping[str, SourceColumn]] | None,
    bad: list[tuple[int, str | None, str]],
    con: duckdb.DuckDBPyConnection,
) -> str | None:
    """Replace the caller's ``table`` (a table or a view) with the loaded one.

    Returns, for a table read in place, the query of its view: the valid rows
    of the file, by its absolute path and the rejected row numbers (another
    process can read them with it, where it sees the same file); ``None``
    for a table copied.
    """
    name = quote_ident(table)
    for kind in ("TABLE", "VIEW"):
        try:
            con.execute(f"DROP {kind} IF EXISTS {name}")
        except duckdb.CatalogException:  # the other kind of object has that name
            continue
    if not in_place or source is None or len(bad) > IN_PLACE_REJECTS:
        run_statements(rename_statements(table), con)
        return None
    if not bad:
        query = _parsed_sql(table, source, con, numbered=False)
    else:
        parsed = _parsed_sql(table, source, con, numbered=True)
        kept = _unlisted_sql(sorted(row for row, _, _ in bad))
        query = f"SELECT * EXCLUDE (_row) FROM ({parsed}) WHERE {kept}"
    con.execute(f"CREATE VIEW {name} AS {query}")
    return query


def run_statements(statements: list[str], con: duckdb.DuckDBPyConnection) -> None:
    """Execute ``statements`` in order."""
    for statement in statements:
        con.execute(statement)


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


def _parsed_sql(
    table: str,
    source: tuple[Input, Mapping[str, SourceColumn]],
    con: duckdb.DuckDBPyConnection,
    *,
    numbered: bool,
) -> str:
    """SQL: the canonical columns of a file read in place (with ``_row`` if ``numbered``)."""
    inp, columns = source
    reader = f"({reader_sql(inp, con, in_place=True, numbered=numbered)})"
    row = "file_row_number + 1" if numbered else None
    return local_select_sql(table, columns, reader, row=row, problems=False)
