"""Files of the synthetic marketplace: deliberately broken rows, then the writing.

``engine.generate`` simulates clean tables as NumPy columns (ids as integers,
timestamps as epoch microseconds with :data:`NULL_TS` for null, enums as small
codes with -1 for null). This module inserts the broken copies
(:func:`inject_broken`) and writes each table through DuckDB
(:func:`write_table`): ids and enum values are formatted in SQL, text formats
write some sellers' timestamps with their UTC offset and date-only deadlines
as dates, Parquet keeps typed columns (naive UTC timestamps).
"""

# SQL here is built from this module's own identifiers and quoted literals,
# never from generated values: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sellerpolicy.engine.sources.tables import Format
from sellerpolicy.engine.sources.validate_rows import (
    CANCELLED_BY,
    CHARGEBACK_KINDS,
    CLAIM_STATUSES,
    DISPUTE_KINDS,
    FEEDBACK_EVENTS,
    REMOVED_BY,
    quote_literal,
)
from sellerpolicy.rules.catalog import RETURN_REASONS

Mask = npt.NDArray[np.bool_]

US_HOUR = 3_600_000_000
US_DAY = 24 * US_HOUR
NULL_TS = np.iinfo(np.int64).min
CURRENCIES = ("USD", "EUR", "GBP")
#: The marketplace and country of a seller, by its currency (the sellers table).
MARKETPLACES = ("US", "DE", "UK")
COUNTRIES = ("US", "DE", "GB")


@dataclass(frozen=True, slots=True)
class _Break:
    """One kind of broken row: a copy of a clean row, changed so the loader rejects it."""

    code: str  # the reject code the loader must give
    column: str | None = None  # output column overridden in SQL
    value: str = "NULL"  # SQL for the override; ``{expr}`` is the normal expression
    template: Callable[[Mapping[str, np.ndarray]], Mask] | None = None
    fresh_id: bool = False  # give the copy a new id (so nothing else refers to it)
    after: bool = False  # insert after its template (a duplicate id)
    shift: tuple[str, str, int] | None = None  # target column = source column + delta (us)
    text_only: bool = False  # not expressible in typed Parquet columns


_BREAKS: Mapping[str, tuple[_Break, ...]] = MappingProxyType(
    {
        "orders": (
            _Break("missing_value", "seller_id", fresh_id=True),
            _Break("unknown_value", "cancelled_by", "'robot'", fresh_id=True),
            _Break("bad_timestamp", "ordered_at", "'not-a-date'", fresh_id=True, text_only=True),
            _Break("duplicate_id", after=True),
        ),
        "feedback": (
            _Break("unknown_order", "order_id", "'X' || {expr}"),
            _Break("out_of_range", "rating", "7"),
            _Break(
                "second_update",
                template=lambda c: c["event"] == 1,
                shift=("at", "at", US_HOUR),
            ),
        ),
        "claims": (
            _Break("unknown_value", "status", "'pending'", fresh_id=True),
            _Break("duplicate_id", after=True),
        ),
        "chargebacks": (
            _Break("unknown_value", "kind", "'friendly'", fresh_id=True),
            _Break("missing_value", "seller_id", fresh_id=True),
        ),
        "messages": (
            _Break(
                "responded_before_received",
                template=lambda c: c["responded_at"] != NULL_TS,
                fresh_id=True,
                shift=("responded_at", "received_at", -US_HOUR),
            ),
            _Break(
                "unknown_order",
                "order_id",
                "'X' || {expr}",
                template=lambda c: c["order_id"] >= 0,
                fresh_id=True,
            ),
        ),
        "disputes": (
            _Break("unknown_value", "kind", "'lost'", fresh_id=True),
            _Break(
                "bad_timestamp",
                "opened_at",
                "'2026-02-30T10:00:00Z'",
                fresh_id=True,
                text_only=True,
            ),
        ),
        "ratings": (
            _Break("out_of_range", "item_as_described", "7"),
            _Break("duplicate_rating", shift=("rated_at", "rated_at", US_DAY)),
        ),
        "returns": (
            _Break("unknown_value", "reason", "'bored'", fresh_id=True),
            _Break("unknown_order", "order_id", "'X' || {expr}", fresh_id=True),
            _Break("duplicate_id", after=True),
        ),
        # A seller's id is its number (its offset and currency): copies come after their
        # template, so the clean row keeps the id and the copy is the reject.
        "sellers": (
            _Break("missing_value", "account_opened_at", after=True),
            _Break("duplicate_id", after=True),
        ),
    }
)
_ID_COLUMN = MappingProxyType(
    {
        "orders": "order_id",
        "claims": "claim_id",
        "chargebacks": "chargeback_id",
        "messages": "message_id",
        "disputes": "dispute_id",
        "returns": "return_id",
    }
)


def inject_broken(
    rng: np.random.Generator,
    table: str,
    cols: Mapping[str, np.ndarray],
    share: float,
    fmt: Format,
) -> tuple[dict[str, np.ndarray], list[tuple[int, str]]]:
    """Insert broken copies of rows; return new columns (``cols`` is left as it was),
    with a ``__bad`` code column, and the (0-based row, reject code) of each copy."""
    n = len(next(iter(cols.values())))
    clean = {**cols, "__bad": np.zeros(n, dtype=np.int8)}
    breaks = [b for b in _BREAKS[table] if fmt is not Format.PARQUET or not b.text_only]
    if share <= 0 or n == 0 or not breaks:
        return clean, []
    per_kind = max(1, round(share * n / len(breaks)))
    templates, positions, bad = [], [], []
    for k, brk in enumerate(breaks, start=1):
        eligible = np.flatnonzero(brk.template(cols)) if brk.template else np.arange(n)
        if len(eligible) == 0:
            continue
        chosen = rng.choice(eligible, per_kind)
        low = chosen + 1 if brk.after else np.zeros(per_kind, dtype=np.int64)
        templates.append(chosen)
        positions.append(rng.integers(low, n + 1))
        bad.append(np.full(per_kind, k, dtype=np.int8))
    if not templates:
        return clean, []
    src = np.concatenate(templates)
    pos = np.concatenate(positions)
    codes = np.concatenate(bad)
    copies = {name: col[src] for name, col in clean.items()}
    copies["__bad"] = codes
    id_col = _ID_COLUMN.get(table)
    for k, brk in enumerate(breaks, start=1):
        rows = codes == k
        if brk.fresh_id and id_col is not None:
            copies[id_col][rows] = n + np.flatnonzero(rows)
        if brk.shift is not None:
            target, source, delta = brk.shift
            copies[target][rows] = copies[source][rows] + delta
    order = np.argsort(pos, kind="stable")
    pos, codes = pos[order], codes[order]
    merged = {name: np.insert(col, pos, copies[name][order]) for name, col in clean.items()}
    final_rows = pos + np.arange(len(pos))
    return merged, [(int(r), breaks[c - 1].code) for r, c in zip(final_rows, codes, strict=True)]


# --- writing ------------------------------------------------------------------------

_TS, _DL, _BOOL, _NUM = ("ts",), ("deadline",), ("bool",), ("num",)
_OUTPUTS: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]] = MappingProxyType(
    {
        "orders": (
            ("order_id", ("id", "O")),
            ("seller_id", ("id", "S")),
            ("ordered_at", _TS),
            ("ship_by", _DL),
            ("shipped_at", _TS),
            ("tracking_valid", _BOOL),
            ("deliver_by", _DL),
            ("delivered_at", _TS),
            ("cancelled_at", _TS),
            ("cancelled_by", ("enum", *CANCELLED_BY)),
            ("refunded_at", _TS),
            ("amount", _NUM),
            ("currency", ("enum", *CURRENCIES)),
            ("tracking_uploaded_at", _TS),
        ),
        "feedback": (
            ("order_id", ("id", "O")),
            ("seller_id", ("id", "S")),
            ("event", ("enum", *FEEDBACK_EVENTS)),
            ("rating", _NUM),
            ("at", _TS),
            ("removed_by", ("enum", *REMOVED_BY)),
        ),
        "claims": (
            ("claim_id", ("id", "C")),
            ("order_id", ("id", "O")),
            ("seller_id", ("id", "S")),
            ("filed_at", _TS),
            ("status", ("enum", *CLAIM_STATUSES)),
        ),
        "chargebacks": (
            ("chargeback_id", ("id", "B")),
            ("order_id", ("id", "O")),
            ("seller_id", ("id", "S")),
            ("filed_at", _TS),
            ("kind", ("enum", *CHARGEBACK_KINDS)),
        ),
        "messages": (
            ("message_id", ("id", "M")),
            ("seller_id", ("id", "S")),
            ("order_id", ("id", "O")),
            ("received_at", _TS),
            ("responded_at", _TS),
        ),
        "disputes": (
            ("dispute_id", ("id", "D")),
            ("order_id", ("id", "O")),
            ("seller_id", ("id", "S")),
            ("opened_at", _TS),
            ("kind", ("enum", *DISPUTE_KINDS)),
            ("escalated", _BOOL),
            ("seller_responsible", _BOOL),
            ("closed_at", _TS),
        ),
        "ratings": (
            ("order_id", ("id", "O")),
            ("seller_id", ("id", "S")),
            ("rated_at", _TS),
            ("item_as_described", _NUM),
            ("communication", _NUM),
            ("shipping_speed", _NUM),
        ),
        "returns": (
            ("return_id", ("id", "R")),
            ("order_id", ("id", "O")),
            ("seller_id", ("id", "S")),
            ("requested_at", _TS),
            ("reason", ("enum", *RETURN_REASONS)),
        ),
        "sellers": (
            ("seller_id", ("id", "S")),
            ("account_opened_at", _TS),
            ("marketplace", ("enum", *MARKETPLACES)),
            ("country", ("enum", *COUNTRIES)),
        ),
    }
)
_ID_WIDTH = 6
_TIMESTAMPS = frozenset(
    name for outputs in _OUTPUTS.values() for name, kind in outputs if kind[0] in ("ts", "deadline")
)


def _arrow(cols: Mapping[str, np.ndarray], offsets: npt.NDArray[np.int16]) -> pa.Table:
    arrays: dict[str, pa.Array] = {}
    for name, col in cols.items():
        if col.dtype == np.bool_:
            arrays[name] = pa.array(col)
        elif col.dtype == np.float64:
            arrays[name] = pa.array(col, mask=np.isnan(col))
        elif name in _TIMESTAMPS:
            arrays[name] = pa.array(col, type=pa.timestamp("us"), mask=col == NULL_TS)
        else:
            arrays[name] = pa.array(col, mask=col < 0)
    minutes, which = np.unique(offsets, return_inverse=True)
    seller = cols["seller_id"]
    arrays["__tz"] = pa.array(offsets[seller])
    arrays["__tz_suffix"] = pa.DictionaryArray.from_arrays(
        pa.array(which[seller].astype(np.int32)), pa.array([_suffix(int(m)) for m in minutes])
    )
    return pa.table(arrays)


def _suffix(minutes: int) -> str:
    """``Z`` for UTC, else the ISO 8601 offset (``+02:00``, ``-05:00``)."""
    if minutes == 0:
        return "Z"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def _text_ts(col: str) -> str:
    """SQL: the seller's local time with its offset (``2026-10-01 12:00:00+02:00``)."""
    return f"CAST({col} + to_minutes(__tz) AS VARCHAR) || __tz_suffix"


def _output_sql(name: str, kind: tuple[str, ...], fmt: Format) -> str:
    col = f'"{name}"'
    if kind[0] == "id":
        return f"printf('{kind[1]}%0{_ID_WIDTH}d', {col})"
    if kind[0] == "enum":
        return f"[{', '.join(quote_literal(v) for v in kind[1:])}][{col} + 1]"
    if kind[0] == "bool":
        return f"CAST({col} AS BOOLEAN)"
    if kind[0] in ("ts", "deadline") and fmt is not Format.PARQUET:
        text = _text_ts(col)
        if kind[0] == "deadline":
            return (
                f'CASE WHEN "__date_only_{name}" THEN CAST(CAST({col} AS DATE) AS VARCHAR)'
                f" ELSE {text} END"
            )
        return text
    return col


def _select_sql(table: str, fmt: Format, has_flags: set[str]) -> str:
    parts = []
    breaks = [b for b in _BREAKS[table] if fmt is not Format.PARQUET or not b.text_only]
    for name, declared in _OUTPUTS[table]:
        dated = declared[0] != "deadline" or f"__date_only_{name}" in has_flags
        expr = _output_sql(name, declared if dated else _TS, fmt)
        for k, brk in enumerate(breaks, start=1):
            if brk.column == name:
                expr = f"CASE WHEN __bad = {k} THEN {brk.value.format(expr=expr)} ELSE {expr} END"
        parts.append(f'{expr} AS "{name}"')
    return f"SELECT {', '.join(parts)} FROM __gen"


def write_table(
    table: str,
    cols: Mapping[str, np.ndarray],
    offsets: npt.NDArray[np.int16],
    fmt: Format,
    out: Path,
) -> None:
    """Write one table's columns as ``out/<table>.<fmt>`` (offsets: minutes per seller)."""
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("__gen", _arrow(cols, offsets))
        options = {
            Format.PARQUET: "FORMAT parquet, COMPRESSION zstd",
            Format.CSV: "FORMAT csv, HEADER true",
            Format.JSONL: "FORMAT json",
        }[fmt]
        target = quote_literal(str(out / f"{table}.{fmt.value}"))
        flags = {c for c in cols if c.startswith("__date_only_")}
        con.execute(f"COPY ({_select_sql(table, fmt, flags)}) TO {target} ({options})")
    finally:
        con.close()
