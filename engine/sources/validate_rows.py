"""Row-local validation of the input tables, as DuckDB SQL.

Each input table of docs/data-contract.md is described here once,
column by column (:data:`TABLE_SPECS`). From that description this module
builds one ``SELECT`` per table that parses every text value into its
canonical type (``engine.tables``) and finds the first row-local problem of
each row: a missing required value, text that is not a timestamp, boolean,
number or whole-number rating, an unknown enum value, a rating out of range,
or a row that contradicts itself (a cancel without its initiator, a response
before the message). Checks that need other rows (duplicates, orders, feedback
sequences) are in ``engine.validate_events``.

The problem of a row is a ``STRUCT(col VARCHAR, reason VARCHAR)`` column named
``_bad`` (``NULL`` for a good row); reasons follow ``engine.rejects``: a stable
code, a colon, a sentence.
"""

# SQL here is built from this module's own identifiers and quoted literals
# (quote_ident / quote_literal), never from row values: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

from sellerpolicy.engine.sources.tables import TABLES
from sellerpolicy.rules.catalog import RETURN_REASONS


class Kind(Enum):
    """How a column's text is parsed and checked."""

    TEXT = "text"
    TIMESTAMP = "timestamp"
    DEADLINE = "deadline"  # a ``*_by`` timestamp: date-only means the end of that day
    BOOL = "bool"
    DECIMAL = "decimal"
    RATING = "rating"  # a whole number 1-5
    ENUM = "enum"
    CURRENCY = "currency"  # three letters (ISO 4217 shape), any case, stored upper case


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One contract column. A column whose value is not required may be absent."""

    name: str
    kind: Kind
    required: bool
    values: tuple[str, ...] = ()


def _c(name: str, kind: Kind, *, req: bool = True, values: tuple[str, ...] = ()) -> ColumnSpec:
    return ColumnSpec(name, kind, req, values)


_T, _TS, _BY = Kind.TEXT, Kind.TIMESTAMP, Kind.DEADLINE

CANCELLED_BY = ("seller", "buyer", "marketplace")
FEEDBACK_EVENTS = ("left", "updated", "removed")
REMOVED_BY = ("buyer", "marketplace")
CLAIM_STATUSES = ("open", "granted", "refunded", "denied", "withdrawn")
CHARGEBACK_KINDS = ("service", "fraud")
DISPUTE_KINDS = ("not_received", "not_as_described", "other")

TABLE_SPECS: Mapping[str, tuple[ColumnSpec, ...]] = MappingProxyType(
    {
        "orders": (
            _c("order_id", _T),
            _c("seller_id", _T),
            _c("ordered_at", _TS),
            _c("ship_by", _BY, req=False),
            _c("shipped_at", _TS, req=False),
            _c("tracking_valid", Kind.BOOL, req=False),
            _c("deliver_by", _BY, req=False),
            _c("delivered_at", _TS, req=False),
            _c("cancelled_at", _TS, req=False),
            _c("cancelled_by", Kind.ENUM, req=False, values=CANCELLED_BY),
            _c("refunded_at", _TS, req=False),
            _c("amount", Kind.DECIMAL, req=False),
            _c("currency", Kind.CURRENCY, req=False),
            _c("tracking_uploaded_at", _TS, req=False),
        ),
        "feedback": (
            _c("order_id", _T),
            _c("seller_id", _T),
            _c("event", Kind.ENUM, values=FEEDBACK_EVENTS),
            _c("rating", Kind.RATING, req=False),
            _c("at", _TS),
            _c("removed_by", Kind.ENUM, req=False, values=REMOVED_BY),
        ),
        "claims": (
            _c("claim_id", _T),
            _c("order_id", _T),
            _c("seller_id", _T),
            _c("filed_at", _TS),
            _c("status", Kind.ENUM, values=CLAIM_STATUSES),
        ),
        "chargebacks": (
            _c("chargeback_id", _T),
            _c("order_id", _T),
            _c("seller_id", _T),
            _c("filed_at", _TS),
            _c("kind", Kind.ENUM, values=CHARGEBACK_KINDS),
        ),
        "messages": (
            _c("message_id", _T),
            _c("seller_id", _T),
            _c("order_id", _T, req=False),
            _c("received_at", _TS),
            _c("responded_at", _TS, req=False),
        ),
        "disputes": (
            _c("dispute_id", _T),
            _c("order_id", _T),
            _c("seller_id", _T),
            _c("opened_at", _TS),
            _c("kind", Kind.ENUM, values=DISPUTE_KINDS),
            _c("escalated", Kind.BOOL),
            _c("seller_responsible", Kind.BOOL, req=False),
            _c("closed_at", _TS, req=False),
        ),
        "ratings": (
            _c("order_id", _T),
            _c("seller_id", _T),
            _c("rated_at", _TS),
            _c("item_as_described", Kind.RATING),
            _c("communication", Kind.RATING),
            _c("shipping_speed", Kind.RATING),
        ),
        "returns": (
            _c("return_id", _T),
            _c("order_id", _T),
            _c("seller_id", _T),
            _c("requested_at", _TS),
            _c("reason", Kind.ENUM, values=RETURN_REASONS),
        ),
        "sellers": (
            _c("seller_id", _T),
            _c("account_opened_at", _TS),
            _c("marketplace", _T, req=False),
            _c("country", _T, req=False),
        ),
    }
)

# Row-level rules beyond single columns: (condition on parsed columns, column, reason SQL).
_ROW_RULES: Mapping[str, tuple[tuple[str, str, str], ...]] = MappingProxyType(
    {
        "orders": (
            (
                "cancelled_at IS NOT NULL AND cancelled_by IS NULL",
                "cancelled_by",
                "'missing_value: cancelled_by is required when cancelled_at is set'",
            ),
            *(
                (
                    f"{col} < ordered_at",
                    col,
                    f"'before_order: {col} ' || {col} || ' is earlier than ordered_at '"
                    " || ordered_at",
                )
                for col in (
                    "ship_by",
                    "shipped_at",
                    "deliver_by",
                    "delivered_at",
                    "cancelled_at",
                    "refunded_at",
                    "tracking_uploaded_at",
                )
            ),
        ),
        "feedback": (
            (
                "(event = 'left' OR event = 'updated') AND rating IS NULL",
                "rating",
                "'missing_value: rating is required for a ''' || event || ''' event'",
            ),
            (
                "event = 'removed' AND removed_by IS NULL",
                "removed_by",
                "'missing_value: removed_by is required for a ''removed'' event'",
            ),
        ),
        "messages": (
            (
                "responded_at < received_at",
                "responded_at",
                "'responded_before_received: responded_at ' || responded_at"
                " || ' precedes received_at ' || received_at",
            ),
        ),
        "disputes": (
            (
                "closed_at < opened_at",
                "closed_at",
                "'closed_before_opened: closed_at ' || closed_at"
                " || ' precedes opened_at ' || opened_at",
            ),
        ),
    }
)


def quote_ident(name: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def shown_value(col: str) -> str:
    """SQL: the raw value quoted for a message, cut at 40 characters."""
    return f"'''' || left(CAST({col} AS VARCHAR), 40) || ''''"


class Native(Enum):
    """The type a source column already has (Parquet, DuckDB); ``TEXT`` is parsed."""

    TEXT = "text"
    TIMESTAMP = "timestamp"
    TIMESTAMPTZ = "timestamptz"
    DATE = "date"
    BOOLEAN = "boolean"
    NUMBER = "number"


@dataclass(frozen=True, slots=True)
class SourceColumn:
    """How to read one contract column from a source: SQL and its native type."""

    sql: str
    native: Native = Native.TEXT


ABSENT = SourceColumn("NULL::VARCHAR")

_NATIVE_FITS = {
    Kind.TIMESTAMP: (Native.TIMESTAMP, Native.TIMESTAMPTZ, Native.DATE),
    Kind.DEADLINE: (Native.TIMESTAMP, Native.TIMESTAMPTZ, Native.DATE),
    Kind.BOOL: (Native.BOOLEAN,),
    Kind.DECIMAL: (Native.NUMBER,),
    Kind.RATING: (Native.NUMBER,),
}


def native_for(spec: ColumnSpec, duckdb_type: str) -> Native:
    """The native type to read a column of ``duckdb_type`` with (``TEXT``: parse its text)."""
    upper = duckdb_type.upper()
    if upper.startswith("TIMESTAMP WITH TIME ZONE"):
        native = Native.TIMESTAMPTZ
    elif upper.startswith("TIMESTAMP"):
        native = Native.TIMESTAMP
    elif upper == "DATE":
        native = Native.DATE
    elif upper == "BOOLEAN":
        native = Native.BOOLEAN
    elif upper.split("(")[0] in {
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
        "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL",
    }:  # fmt: skip
        native = Native.NUMBER
    else:
        return Native.TEXT
    return native if native in _NATIVE_FITS.get(spec.kind, ()) else Native.TEXT


#: A UTC offset that exists: -14:00 .. +14:00, minutes 00-59 (``+05:30``, ``-0800``, ``+14``).
_OFFSET = "[+-]((0[0-9]|1[0-3])(:?[0-5][0-9])?|14(:?00)?)$"


def _parse_time(spec: ColumnSpec, v: str, native: Native) -> str:
    """SQL: naive UTC timestamp; date-only deadlines at the end of their day."""
    eod = " + INTERVAL 1 DAY - INTERVAL 1 MICROSECOND" if spec.kind is Kind.DEADLINE else ""
    if native is Native.TIMESTAMP:
        return f"CAST({v} AS TIMESTAMP)"
    if native is Native.TIMESTAMPTZ:
        return f"make_timestamp(epoch_us({v}))"
    if native is Native.DATE:
        return f"CAST({v} AS TIMESTAMP){eod}"
    # Text: a date-only value has at most 10 characters; a '+' or '-' after the date is an
    # offset, and letters after the time (other than a final 'Z') name a zone: both are
    # converted through TIMESTAMPTZ, which knows zone names and refuses other words
    # (a TIMESTAMP cast would ignore them and read the clock time as UTC); no offset or
    # 'Z' is UTC already.
    # An offset is at most 14:00 either way with minutes under 60 (+99:99 or +2400 would
    # otherwise be read as a shifted time): anything else is no timestamp.
    clock = f"substr({v}, 12)"
    return (
        f"CASE WHEN length({v}) <= 10 THEN CAST(try_cast({v} AS DATE) AS TIMESTAMP){eod}"
        f" WHEN regexp_matches({clock}, '[+-][0-9][0-9](:?[0-9][0-9])?$')"
        f" AND NOT regexp_matches({clock}, '{_OFFSET}') THEN NULL"
        f" WHEN contains(substr({v}, 11), '+') OR contains(substr({v}, 11), '-')"
        f" OR regexp_matches(rtrim(substr({v}, 12), 'Zz'), '[A-Za-z]')"
        f" THEN make_timestamp(epoch_us(try_cast({v} AS TIMESTAMPTZ)))"
        f" ELSE try_cast({v} AS TIMESTAMP) END"
    )


def _parse(spec: ColumnSpec, v: str, native: Native) -> str:
    """SQL parsing the raw column ``v`` into the canonical type (NULL if bad)."""
    if spec.kind in (Kind.TIMESTAMP, Kind.DEADLINE):
        return _parse_time(spec, v, native)
    if spec.kind is Kind.BOOL:
        if native is Native.BOOLEAN:
            return v
        return (
            f"CASE lower({v}) WHEN 'true' THEN true WHEN '1' THEN true"
            f" WHEN 'false' THEN false WHEN '0' THEN false END"
        )
    num = f"CAST({v} AS DOUBLE)" if native is Native.NUMBER else f"try_cast({v} AS DOUBLE)"
    if spec.kind is Kind.DECIMAL:  # summed exactly as DECIMAL(38, 6) (engine.metrics.sql)
        return f"CASE WHEN isfinite({num}) AND abs({num}) < 1e18 THEN {num} END"
    if spec.kind is Kind.RATING:
        return (
            f"CASE WHEN {num} = floor({num}) AND {num} BETWEEN -128 AND 127"
            f" THEN CAST({num} AS TINYINT) END"
        )
    if spec.kind is Kind.CURRENCY:
        # ISO 4217 codes are upper case; 'usd' is USD (compared and stored upper case).
        return f"CASE WHEN regexp_full_match(upper({v}), '[A-Z]{{3}}') THEN upper({v}) END"
    if spec.kind is Kind.ENUM:
        # Not ``IN (...)``: DuckDB plans that as a join, which loses the file order of
        # the rows, hence their numbers (list_position is a plain function).
        values = ", ".join(quote_literal(x) for x in spec.values)
        return f"CASE WHEN list_position([{values}], {v}) IS NOT NULL THEN {v} END"
    return v


_BAD_TEXT = {
    Kind.TIMESTAMP: ("bad_timestamp", "is not an ISO 8601 timestamp or date"),
    Kind.DEADLINE: ("bad_timestamp", "is not an ISO 8601 timestamp or date"),
    Kind.BOOL: ("bad_bool", "is not a boolean (true/false/1/0)"),
    Kind.DECIMAL: ("bad_number", "is not a finite decimal number below 1e18 in magnitude"),
    Kind.RATING: ("bad_integer", "is not a whole number"),
    Kind.CURRENCY: ("bad_currency", "is not a three-letter ISO 4217 code"),
}


def _column_checks(spec: ColumnSpec) -> list[tuple[str, str, str]]:
    """(condition, column, reason SQL) for one column, in the order they are tried."""
    name = spec.name
    raw, parsed = quote_ident(f"__raw_{name}"), quote_ident(name)
    checks: list[tuple[str, str, str]] = []
    if spec.required:
        checks.append((f"{raw} IS NULL", name, f"'missing_value: {name} is required'"))
    if spec.kind is Kind.ENUM:
        allowed = ", ".join(spec.values)
        reason = f"'unknown_value: {name} ' || {shown_value(raw)} || ' is not one of {allowed}'"
        checks.append((f"{raw} IS NOT NULL AND {parsed} IS NULL", name, reason))
    elif spec.kind in _BAD_TEXT:
        code, text = _BAD_TEXT[spec.kind]
        reason = f"'{code}: {name} ' || {shown_value(raw)} || ' {text}'"
        checks.append((f"{raw} IS NOT NULL AND {parsed} IS NULL", name, reason))
    if spec.kind is Kind.RATING:
        reason = f"'out_of_range: {name} ' || {parsed} || ' is outside 1-5'"
        checks.append((f"{parsed} NOT BETWEEN 1 AND 5", name, reason))
    return checks


def bad_struct(col: str | None, reason_sql: str) -> str:
    """SQL for one ``_bad`` value: ``{'col': ..., 'reason': ...}``."""
    col_sql = quote_literal(col) if col is not None else "NULL::VARCHAR"
    return f"{{'col': {col_sql}, 'reason': {reason_sql}}}"


def first_problem_sql(checks: list[tuple[str, str | None, str]]) -> str:
    """SQL ``CASE`` giving the ``_bad`` struct of the first true check, else NULL."""
    if not checks:
        return "NULL::STRUCT(col VARCHAR, reason VARCHAR)"
    whens = " ".join(f"WHEN {cond} THEN {bad_struct(col, why)}" for cond, col, why in checks)
    return f"CASE {whens} END"


def fails_sql(checks: list[tuple[str, str | None, str]]) -> str:
    """SQL ``BOOLEAN``: whether some check is true (never NULL), without any reason text.

    True exactly when :func:`first_problem_sql` of the same checks is not NULL.
    """
    if not checks:
        return "false"
    return "COALESCE(" + " OR ".join(f"({cond})" for cond, _, _ in checks) + ", false)"


def local_select_sql(
    table: str,
    columns: Mapping[str, SourceColumn],
    source: str,
    *,
    row: str | None = None,
    problems: bool = True,
    line_problems: tuple[str, str] | None = None,
    fails: bool = False,
) -> str:
    """``SELECT`` of ``source`` giving the canonical columns, then ``_bad``.

    ``columns`` says how to read each contract column from ``source`` (an
    absent optional column is :data:`ABSENT`). An empty text is null. The rows
    keep the order of ``source``, so a table created from this select in
    insertion order numbers them by its ``rowid``. ``row`` (SQL on ``source``,
    e.g. a file row number) adds the 1-based data row as a first column
    ``_row``; without ``problems`` there is no ``_bad`` (the parsed values only).
    ``line_problems`` names the two columns of ``source`` giving a malformed
    line's column and reason (a mended copy, ``sources.lines``): that reason,
    when there is one, is the row's first problem. ``fails`` adds a last column
    ``_fails``: whether ``_bad`` is not NULL, as a plain predicate (a query
    filtering on it builds ``_bad`` for the rejected rows only).
    """
    specs = TABLE_SPECS[table]
    raw_cols = ", ".join(
        (
            f"NULLIF({columns[s.name].sql}, '')"
            if columns[s.name].native is Native.TEXT
            else columns[s.name].sql
        )
        + f" AS {quote_ident('__raw_' + s.name)}"
        for s in specs
    )
    parsed_cols = ", ".join(
        f"{_parse(s, quote_ident('__raw_' + s.name), columns[s.name].native)}"
        f" AS {quote_ident(s.name)}"
        for s in specs
    )
    checks: list[tuple[str, str | None, str]] = []
    for spec in specs:
        checks.extend(_column_checks(spec))
    checks.extend(_ROW_RULES.get(table, ()))
    canonical = ", ".join(
        f"CAST({quote_ident(col)} AS {typ}) AS {quote_ident(col)}" for col, typ in TABLES[table]
    )
    numbered = f"{row} AS _row, " if row is not None else ""
    first = "_row, " if row is not None else ""
    problem, failing = first_problem_sql(checks), fails_sql(checks)
    if line_problems is not None:
        column, reason = (quote_ident(c) for c in line_problems)
        raw_cols += f", {column} AS __line_column, {reason} AS __line_problem"
        problem = (
            "CASE WHEN __line_problem IS NOT NULL"
            f" THEN {{'col': __line_column, 'reason': __line_problem}} ELSE {problem} END"
        )
        failing = f"(__line_problem IS NOT NULL OR {failing})"
    bad = f", {problem} AS _bad" if problems else ""
    bad += f", {failing} AS _fails" if problems and fails else ""
    return (
        f"WITH __raw AS (SELECT {numbered}{raw_cols} FROM {source}),"
        f" __parsed AS (SELECT *, {parsed_cols} FROM __raw)"
        f" SELECT {first}{canonical}{bad} FROM __parsed"
    )
