"""Report lines to contract rows: each line parsed and checked, item lines folded.

The lines of a flat-file report (``importers.report_files``) become rows of
one contract table in three set-wise steps, all in DuckDB:

1. :func:`parse_lines`: every line parsed by the data contract's own rules
   (``sources.validate_rows``: the same timestamps, numbers, currencies and
   ratings a source accepts), its first problem named, plus the status
   vocabulary of the mapping (``unknown_value`` for a value it does not list);
2. :func:`fold_lines`: the lines of one record (``fold_by``: the item lines of
   one order, within one file) folded into one row: a record with a rejected
   line is rejected whole (``rejected_order``), lines that disagree on a value
   that must be the same are rejected together (``conflicting_value``),
   amounts summed exactly (as decimals), and a record seen before under the
   same id, in an earlier file, is a ``duplicate_id``;
3. the caller links the tables (feedback to its orders).

Rows keep where they came from (``_file``, ``_line``: the record's first
line); :func:`take_rejects` turns the rejected lines into
:class:`~sellerpolicy.engine.importers.report_files.ReportReject` values whose
reasons name the report's column, never the contract's.
"""

# SQL here is built from this module's own identifiers, quoted names and literals
# (quote_ident, quote_literal); report values are only ever data: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb
import pyarrow as pa

from sellerpolicy.engine.formats.flat import FieldMap, FieldType, FlatFileMapping, Fold, StatusRole
from sellerpolicy.engine.importers.report_files import ReportFile, ReportReject, column_alias
from sellerpolicy.engine.sources.tables import TABLES
from sellerpolicy.engine.sources.validate_rows import (
    ABSENT,
    TABLE_SPECS,
    SourceColumn,
    local_select_sql,
    quote_ident,
    quote_literal,
    shown_value,
)

__all__ = [
    "BAD_TABLE",
    "code_value",
    "fold_lines",
    "parse_lines",
    "quick_value",
    "register_sellers",
    "required",
    "take_rejects",
    "text_value",
    "unlisted_code",
]

BAD_TABLE = "__imp_bad"
"""Rejected lines so far: ``_file``, ``_line``, ``col`` (contract column or a report
column prefixed ``report:``), ``reason``."""


def register_sellers(con: duckdb.DuckDBPyConnection, reports: Sequence[ReportFile]) -> None:
    """``__imp_sellers``: each report file's index, its account (seller id) and name;
    and an empty :data:`BAD_TABLE` when there is none yet."""
    sellers = pa.Table.from_arrays(
        [
            pa.array(range(len(reports)), pa.int32()),
            pa.array([r.seller_id for r in reports], pa.string()),
            pa.array([r.shown for r in reports], pa.string()),
        ],
        names=["__file", "seller_id", "__shown"],
    )
    con.register("__imp_sellers_arrow", sellers)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE __imp_sellers AS SELECT * FROM __imp_sellers_arrow"
        )
    finally:
        con.unregister("__imp_sellers_arrow")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {BAD_TABLE} "
        "(_file INTEGER, _line BIGINT, col VARCHAR, reason VARCHAR)"
    )


def parse_lines(
    con: duckdb.DuckDBPyConnection, mapping: FlatFileMapping, lines: str, out: str
) -> str:
    """``out``: one row per line of ``lines``, parsed; problems go to :data:`BAD_TABLE`.

    ``out`` has ``_file``, ``_line``, ``seller_id``, the contract columns the
    report fills, ``_status`` (the status value, when the mapping has a status
    column) and ``_bad`` (the line's problem). Returns the SQL relation of its
    good lines (without ``_bad``).

    A line whose every value has its documented shape (a timestamp written
    ``2003-07-14T18:53:56+00:00``, a number, three letters, a listed status...)
    is parsed here, cheaply, into the very values the contract's parser gives it;
    any other line (an empty value, another shape, a bad value) is parsed by the
    contract's own rules (``sources.validate_rows``), which also name its problem.
    """
    alias = {column: column_alias(i) for i, column in enumerate(mapping.used_columns)}
    values = {
        f.target: code_value(f, text_value(alias[f.column])) if f.type is FieldType.CODE
        else quick_value(f.type, text_value(alias[f.column]))
        for f in mapping.fields
    }  # fmt: skip
    status = f"trim({alias[mapping.status.column]})" if mapping.status is not None else "NULL"
    shaped = [
        f"{v} IS NOT NULL" if required(mapping, f.target) else
        f"({text_value(alias[f.column])} IS NULL OR {v} IS NOT NULL)"
        for f in mapping.fields
        for v in (values[f.target],)
    ]  # fmt: skip
    if mapping.status is not None:
        listed = ", ".join(quote_literal(v) for v in mapping.status.values)
        shaped.append(f"list_position([{listed}], {status}) IS NOT NULL")
    types = dict(TABLES[mapping.table])
    columns = [f"CAST({v} AS {types[t]}) AS {quote_ident(t)}" for t, v in values.items()]
    columns += [
        f"CAST({quote_literal(v)} AS {types[t]}) AS {quote_ident(t)}"
        for t, v in mapping.constants.items()
    ]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT l.__file AS _file, l.__line AS _line, "
        f"s.seller_id, {', '.join(columns)}, {status} AS _status, "
        f"NULL::STRUCT(col VARCHAR, reason VARCHAR) AS _bad, NOT ({' AND '.join(shaped)}) "
        f"AS __odd FROM {lines} l JOIN __imp_sellers s USING (__file)"
    )
    if _any(con, f"{out} WHERE __odd"):
        _parse_odd(con, mapping, lines, out, alias)
    con.execute(
        f"INSERT INTO {BAD_TABLE} SELECT _file, _line, _bad.col, _bad.reason "
        f"FROM {out} WHERE _bad IS NOT NULL"
    )
    return f"(SELECT * EXCLUDE (_bad, __odd) FROM {out} WHERE _bad IS NULL)"


def _parse_odd(
    con: duckdb.DuckDBPyConnection,
    mapping: FlatFileMapping,
    lines: str,
    out: str,
    alias: Mapping[str, str],
) -> None:
    """Replace the odd lines of ``out`` by the contract parser's reading of them."""
    columns: dict[str, SourceColumn] = dict.fromkeys((c for c, _ in TABLES[mapping.table]), ABSENT)
    columns["seller_id"] = SourceColumn("__seller")
    for field in mapping.fields:
        raw = f"trim({alias[field.column]})"
        if field.type is FieldType.CODE:  # the contract's value of the code (null: empty)
            raw = code_value(field, text_value(alias[field.column]))
        columns[field.target] = SourceColumn(raw)
    for target, value in mapping.constants.items():
        columns[target] = SourceColumn(quote_literal(value))
    status = f"trim({alias[mapping.status.column]})" if mapping.status is not None else "NULL"
    row = f"{{'file': __file, 'line': __line, 'status': {status}}}"
    source = (
        f"(SELECT l.*, s.seller_id AS __seller FROM {lines} l JOIN __imp_sellers s "
        f"USING (__file) SEMI JOIN (SELECT _file AS __file, _line AS __line FROM {out} "
        f"WHERE __odd) USING (__file, __line))"
    )
    select = local_select_sql(mapping.table, columns, source, row=row)
    kept = [quote_ident(t) for t in (*(f.target for f in mapping.fields), *mapping.constants)]
    # The contract's readings go in first (they are no longer odd), then the odd rows go.
    con.execute(
        f"INSERT INTO {out} BY NAME SELECT _row.file AS _file, _row.line AS _line, seller_id, "
        f"{', '.join(kept)}, _row.status AS _status, coalesce(_bad, {_status_check(mapping)}) "
        f"AS _bad, false AS __odd FROM ({select})"
    )
    con.execute(f"DELETE FROM {out} WHERE __odd")


def required(mapping: FlatFileMapping, target: str) -> bool:
    """Whether the contract needs a value in ``target`` (a feedback rating: for every
    event but a removal, so for the ``left`` events a report gives)."""
    spec = next(c for c in TABLE_SPECS[mapping.table] if c.name == target)
    rating = mapping.table == "feedback" and target == "rating"
    return spec.required or (rating and mapping.constants.get("event") != "removed")


def quick_value(kind: FieldType, value: str) -> str:
    """SQL: a report value parsed as the contract parses it when it has its documented
    shape; NULL otherwise (the line then goes to the contract's parser)."""
    number = f"try_cast({value} AS DOUBLE)"
    if kind in (FieldType.TIMESTAMP, FieldType.DATE):
        return _quick_time(value)
    if kind is FieldType.DECIMAL:
        return f"CASE WHEN isfinite({number}) THEN {number} END"
    if kind is FieldType.INTEGER:  # a rating: a whole number 1..5
        return f"CASE WHEN {number} IN (1, 2, 3, 4, 5) THEN CAST({number} AS TINYINT) END"
    if kind is FieldType.CURRENCY:
        return f"CASE WHEN regexp_full_match(upper({value}), '[A-Z]{{3}}') THEN upper({value}) END"
    return value


def code_value(field: FieldMap, value: str) -> str:
    """SQL: the contract value of a report code (``value``: null when empty), the
    field's ``otherwise`` for a code it does not list."""
    whens = " ".join(
        f"WHEN {value} = {quote_literal(code)} THEN {quote_literal(target)}"
        for code, target in field.codes.items()
    )
    otherwise = quote_literal(field.otherwise or "")
    return f"CASE WHEN {value} IS NULL THEN NULL {whens} ELSE {otherwise} END"


def unlisted_code(field: FieldMap, value: str) -> str:
    """SQL: whether a report code (``value``) is not empty and not listed by ``field``."""
    listed = ", ".join(quote_literal(c) for c in field.codes)
    return f"({value} IS NOT NULL AND list_position([{listed}], {value}) IS NULL)"


def text_value(column: str) -> str:
    """SQL: a report value as text, null when empty."""
    return f"NULLIF(trim({column}), '')"


def _quick_time(value: str) -> str:
    """SQL: a timestamp written ``2003-07-14T18:53:56+00:00`` (``Z``), or a date,
    parsed as the contract parses it (naive UTC); NULL for any other shape.

    The offset is checked as the contract checks it (at most 14:00, minutes under
    60): a shape this does not parse goes through the contract's full parser.
    """
    offset_ok = (
        f"substr({value}, 20, 1) IN ('+', '-') AND substr({value}, 23, 1) = ':' AND "
        f"(substr({value}, 21, 2) < '14' OR substr({value}, 21, 2) = '14' AND "
        f"substr({value}, 24, 2) = '00') AND substr({value}, 24, 2) < '60'"
    )
    return (
        f"CASE WHEN length({value}) = 25 AND {offset_ok} THEN "
        f"make_timestamp(epoch_us(try_strptime({value}, '%Y-%m-%dT%H:%M:%S%z'))) "
        f"WHEN length({value}) = 20 AND substr({value}, 20, 1) = 'Z' THEN "
        f"try_strptime({value}, '%Y-%m-%dT%H:%M:%SZ') "
        f"WHEN length({value}) = 10 THEN CAST(try_strptime({value}, '%Y-%m-%d') AS TIMESTAMP) END"
    )


def _status_check(mapping: FlatFileMapping) -> str:
    """SQL: the ``_bad`` struct of a status value the mapping does not list."""
    if mapping.status is None:
        return "NULL"
    column = f"report:{mapping.status.column}"
    values = ", ".join(quote_literal(v) for v in mapping.status.values)
    listed = ", ".join(mapping.status.values)
    unknown = (
        f"'unknown_value: {_sql_text(mapping.status.column)} ' || {shown_value('_row.status')}"
        f" || ' is not one of {_sql_text(listed)}'"
    )
    missing = f"'missing_value: {_sql_text(mapping.status.column)} is required'"
    return (
        f"CASE WHEN _row.status IS NULL THEN {{'col': {quote_literal(column)}, "
        f"'reason': {missing}}} WHEN list_position([{values}], _row.status) IS NULL "
        f"THEN {{'col': {quote_literal(column)}, 'reason': {unknown}}} END"
    )


def _sql_text(text: str) -> str:
    """``text`` for use inside a SQL string literal."""
    return text.replace("'", "''")


def fold_lines(
    con: duckdb.DuckDBPyConnection,
    mapping: FlatFileMapping,
    lines: str,
    parsed: str,
    out: str,
) -> None:
    """``out``: one row per record (``fold_by``, within one file), with the place of
    its first line (``_file``, ``_line``); without ``fold_by`` each line is a record.

    ``lines`` is the raw lines relation (a rejected line's record is found by its
    raw key), ``parsed`` the relation of the good lines (:func:`parse_lines`).
    Rejected: every line of a record with a rejected line or with lines that
    disagree, and every line of a record whose id an earlier record has (the
    earliest file and line keeps it). An amount is kept for a sale only.
    """
    if mapping.fold_by is None:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * EXCLUDE (_status) FROM {parsed}"
        )
        return
    key = next(f.target for f in mapping.fields if f.column == mapping.fold_by)
    ident = quote_ident(key)
    filled = [f.target for f in mapping.fields if f.target != key]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __imp_folded AS SELECT *, {_conflict_sql(mapping)} "
        f"AS _conflict FROM (SELECT _file, {ident}, min(_line) AS _line, "
        f"min(_status) AS _status, max(_status) AS __max__status, count(*) AS __lines, "
        f"{_folded_values(mapping, filled)} FROM {parsed} GROUP BY _file, {ident})"
    )
    dropped = []  # SQL conditions on a folded record ``f`` that reject it
    if _any(con, BAD_TABLE):
        _reject_tainted(con, mapping, lines, parsed, ident)
        dropped.append(
            "EXISTS (SELECT 1 FROM __imp_tainted t WHERE t._file = f._file "
            f"AND t.{ident} = f.{ident})"
        )
    if _any(con, "__imp_folded WHERE _conflict IS NOT NULL"):
        _reject_conflicts(con, mapping, parsed, ident, dropped)
        dropped.append("f._conflict IS NOT NULL")
    kept = f"NOT ({' OR '.join(dropped)})" if dropped else "true"
    # The same id in an earlier record (another file, or another account's report).
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __imp_dups AS SELECT f._file, f._line, f.{ident}, "
        f"row_number() OVER (PARTITION BY f.{ident} ORDER BY f._file, f._line) AS __n "
        f"FROM __imp_folded f SEMI JOIN (SELECT {ident} FROM __imp_folded f WHERE {kept} "
        f"GROUP BY {ident} HAVING count(*) > 1) USING ({ident}) WHERE {kept}"
    )
    if _any(con, "__imp_dups"):
        _reject_duplicates(con, mapping, parsed, ident)
        dropped.append(
            f"EXISTS (SELECT 1 FROM __imp_dups d WHERE d._file = f._file AND d.{ident} = f.{ident}"
            " AND d.__n > 1)"
        )
        kept = f"NOT ({' OR '.join(dropped)})"
    amount = _amount_sql(mapping)
    outputs = ", ".join(
        f"{amount} AS amount" if name == "amount" and amount else quote_ident(name)
        for name in (key, "seller_id", *filled)
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT _file, _line, {outputs} "
        f"FROM __imp_folded f JOIN __imp_sellers s ON s.__file = f._file WHERE {kept}"
    )
    for name in ("__imp_folded", "__imp_tainted", "__imp_dups"):
        con.execute(f"DROP TABLE IF EXISTS {name}")


def _any(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    """Whether ``relation`` (a table, optionally with a WHERE) has a row."""
    return bool(con.execute(f"SELECT 1 FROM {relation} LIMIT 1").fetchall())


def _reject_tainted(
    con: duckdb.DuckDBPyConnection, mapping: FlatFileMapping, lines: str, parsed: str, ident: str
) -> None:
    """``__imp_tainted``: records with a rejected line; their good lines rejected too."""
    fold_by = mapping.fold_by or ""
    raw_key = f"trim(l.{column_alias(mapping.used_columns.index(fold_by))})"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __imp_tainted AS SELECT b._file, {raw_key} AS {ident}, "
        f"min(b._line) AS _bad_line FROM {BAD_TABLE} b JOIN {lines} l "
        f"ON l.__file = b._file AND l.__line = b._line WHERE {raw_key} <> '' GROUP BY ALL"
    )
    con.execute(
        f"INSERT INTO {BAD_TABLE} SELECT p._file, p._line, "
        f"{quote_literal('report:' + fold_by)}, 'rejected_order: {_sql_text(fold_by)} ' || "
        f"{shown_value('t.' + ident)} || ' has a rejected line (line ' || t._bad_line || "
        f"'): the whole record is rejected' FROM {parsed} p "
        f"JOIN __imp_tainted t USING (_file, {ident})"
    )


def _reject_conflicts(
    con: duckdb.DuckDBPyConnection,
    mapping: FlatFileMapping,
    parsed: str,
    ident: str,
    dropped: list[str],
) -> None:
    """Reject every line of a record whose lines disagree (not rejected already)."""
    shown = _sql_text(mapping.fold_by or "")
    fresh = (
        " AND NOT EXISTS (SELECT 1 FROM __imp_tainted t WHERE t._file = f._file "
        f"AND t.{ident} = f.{ident})"
        if dropped
        else ""
    )
    con.execute(
        f"INSERT INTO {BAD_TABLE} SELECT p._file, p._line, 'report:' || f._conflict, "
        f"'conflicting_value: ' || f._conflict || ' differs between the lines of {shown} ' || "
        f"{shown_value('f.' + ident)} FROM {parsed} p JOIN __imp_folded f USING (_file, {ident}) "
        f"WHERE f._conflict IS NOT NULL{fresh}"
    )


def _reject_duplicates(
    con: duckdb.DuckDBPyConnection, mapping: FlatFileMapping, parsed: str, ident: str
) -> None:
    """Reject every line of a record whose id an earlier record has (``__imp_dups``)."""
    fold_by = mapping.fold_by or ""
    con.execute(
        f"INSERT INTO {BAD_TABLE} SELECT p._file, p._line, {quote_literal('report:' + fold_by)}, "
        f"'duplicate_id: {_sql_text(fold_by)} ' || {shown_value('d.' + ident)} || "
        f"' is already in ' || s.__shown || ' line ' || first._line FROM {parsed} p "
        f"JOIN __imp_dups d USING (_file, {ident}) JOIN (SELECT _file AS __first_file, _line, "
        f"{ident} FROM __imp_dups WHERE __n = 1) first USING ({ident}) "
        f"JOIN __imp_sellers s ON s.__file = first.__first_file WHERE d.__n > 1"
    )


def _folded_values(mapping: FlatFileMapping, filled: Sequence[str]) -> str:
    """SQL: the folded values of each contract column the report fills (not the key):
    a sum, or the least and greatest value and how many lines have one."""
    summed = {f.target for f in mapping.fields if f.fold is Fold.SUM}
    values = []
    for name in filled:
        ident = quote_ident(name)
        if name in summed:
            # Exact decimal sums (item prices have few decimals), then one rounding.
            values.append(f"CAST(sum(TRY_CAST({ident} AS DECIMAL(38, 9))) AS DOUBLE) AS {ident}")
        else:
            extra = quote_ident(f"__max_{name}"), quote_ident(f"__count_{name}")
            values.append(
                f"min({ident}) AS {ident}, max({ident}) AS {extra[0]}, count({ident}) AS {extra[1]}"
            )
    return ", ".join(values)


def _conflict_sql(mapping: FlatFileMapping) -> str:
    """SQL over the folded columns: the report column the lines of a record disagree
    on (null: none)."""
    conflicts = []
    for field in mapping.fields:
        if field.fold is Fold.SAME:
            x = quote_ident(field.target)
            top, count = (
                quote_ident(f"__max_{field.target}"),
                quote_ident(f"__count_{field.target}"),
            )
            differ = f"{x} <> {top} OR {count} NOT IN (0, __lines)"
            conflicts.append(f"CASE WHEN {differ} THEN {quote_literal(field.column)} END")
    if mapping.status is not None:
        status = quote_literal(mapping.status.column)
        conflicts.append(f"CASE WHEN _status <> __max__status THEN {status} END")
    return f"coalesce({', '.join(conflicts)})" if conflicts else "NULL::VARCHAR"


def _amount_sql(mapping: FlatFileMapping) -> str | None:
    """SQL keeping the amount of a sale only (null for any other status role)."""
    if mapping.status is None or mapping.field("amount") is None:
        return None
    sales = [v for v, role in mapping.status.values.items() if role is StatusRole.SALE]
    listed = ", ".join(quote_literal(v) for v in sales)
    return f"CASE WHEN list_position([{listed}], _status) IS NOT NULL THEN amount END"


def take_rejects(
    con: duckdb.DuckDBPyConnection,
    reports: Sequence[ReportFile],
    mapping: FlatFileMapping,
) -> list[ReportReject]:
    """The rows of :data:`BAD_TABLE` as rejects naming the report's columns (the
    table is emptied)."""
    rows = con.execute(f"SELECT _file, _line, col, reason FROM {BAD_TABLE}").fetchall()
    con.execute(f"DELETE FROM {BAD_TABLE}")
    columns: Mapping[str, str] = {f.target: f.column for f in mapping.fields}
    out = []
    for file, line, col, reason in rows:
        column, text = _report_column(col, str(reason), columns)
        out.append(ReportReject(reports[file].shown, int(line), column, text))
    return out


def _report_column(
    col: str | None, reason: str, columns: Mapping[str, str]
) -> tuple[str | None, str]:
    """The report column of a problem, and its reason worded with it."""
    if col is None:
        return None, reason
    if col.startswith("report:"):
        return col.removeprefix("report:"), reason
    column = columns.get(col)
    if column is None:
        return col, reason
    code, _, rest = reason.partition(": ")
    if rest.startswith(col + " ") or rest == col:
        rest = column + rest[len(col) :]
    return column, f"{code}: {rest}"
