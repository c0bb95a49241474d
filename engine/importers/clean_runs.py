"""Item lines folded where they are plainly clean: the fast path of ``contract_rows``.

Most of a report is a run of lines of one record (the item lines of one
order, one after the other) whose every value has its documented shape and
whose lines agree. For those, checking and folding need no hashing of
texts and no per-line parse of the values the lines share:

1. runs: consecutive lines of one file with the same ``fold_by`` text
   (numpy over the Arrow columns, in file and line order);
2. in a run, every line but the first must repeat the first line's text of
   each value folded ``same`` and of the status (Arrow compares them);
3. the first line of each run is parsed with the very SQL
   :func:`~sellerpolicy.engine.importers.contract_rows.parse_lines` applies
   to a line of documented shape (``quick_value``), and must pass the same
   checks (required values, the status vocabulary); its key, texts and times
   must be written without surrounding spaces (so that the text is its own
   trimmed text, and is parsed untrimmed), and the run is folded in the same
   query, into the rows ``fold_lines`` writes;
4. ``sum`` values are checked on every line and summed per run with the SQL
   ``fold_lines`` uses (exact decimals), the lines of single-line runs
   without grouping;
5. a record id (trimmed key) is *settled* here only when one clean run has
   it: every id of a run that is not clean, and every id in more than one
   run (lines of one order apart, the same order in two files), goes with
   all its lines, wherever they are, to the general path. Ids are compared
   by hash (an equal hash sends both to the general path, which is only
   slower).

The general path (``parse_lines``, ``fold_lines``) is exact for any set of
whole records: records never interact but through their id. So the rows
and rejects of an import are those of the general path alone, line for
line, which the tests check on reports mixing every kind of bad line.
"""

# SQL here is built from this module's own identifiers, quoted names and literals
# (quote_ident, quote_literal); report values are only ever data: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.formats.flat import FieldType, FlatFileMapping, Fold, StatusRole
from sellerpolicy.engine.importers.contract_rows import quick_value, required, text_value
from sellerpolicy.engine.importers.report_files import column_alias
from sellerpolicy.engine.sources.tables import TABLES
from sellerpolicy.engine.sources.validate_rows import quote_ident, quote_literal

__all__ = ["ENABLED", "fold_clean_runs"]

ENABLED = True
"""Whether :func:`fold_clean_runs` folds anything (the tests compare both paths)."""

_LINES = "__imp_run_lines"
_SUMS = "__imp_run_sums"
_LEFT = "__imp_runs_left"


def fold_clean_runs(
    con: duckdb.DuckDBPyConnection,
    mapping: FlatFileMapping,
    lines: pa.Table,
    sellers: Sequence[str],
    out: str,
) -> pa.Table:
    """``out``: the records settled here (the columns of ``fold_lines``' output, and
    some of this path's own, named ``__...``); return the lines left for the general
    path (whole records, ``lines``' columns).

    ``lines`` is the table of ``report_files`` (``__file``, ``__line``, ``c0``...),
    ``sellers`` the account of each file, by its index.
    """
    if not ENABLED or not _supported(mapping) or lines.num_rows == 0:
        _empty(con, mapping, out)
        return lines
    lines = _in_order(lines)
    alias = {column: column_alias(i) for i, column in enumerate(mapping.used_columns)}
    key = lines.column(alias[mapping.fold_by or ""])
    files = lines.column("__file").to_numpy()
    starts_mask = np.ones(lines.num_rows, dtype=np.bool_)
    same_key = pc.fill_null(pc.equal(key.slice(1), key.slice(0, lines.num_rows - 1)), False)
    starts_mask[1:] = ~(
        np.asarray(same_key.to_numpy(zero_copy_only=False)) & (files[1:] == files[:-1])
    )
    run = np.cumsum(starts_mask, dtype=np.int64) - 1
    starts = np.flatnonzero(starts_mask)
    runs = len(starts)
    sizes = np.diff(np.append(starts, lines.num_rows))
    broken = np.zeros(runs, dtype=np.bool_)
    shared = [alias[f.column] for f in mapping.fields if f.fold is Fold.SAME]
    if mapping.status is not None:
        shared.append(alias[mapping.status.column])
    followers = np.flatnonzero(~starts_mask)
    if len(followers):
        leaders = pa.array(starts[run[followers]])
        taken = pa.array(followers)
        for name in dict.fromkeys(shared):
            column = lines.column(name)
            mine, first = column.take(taken), column.take(leaders)
            agree = pc.if_else(
                pc.is_null(mine), pc.is_null(first), pc.fill_null(pc.equal(mine, first), False)
            )
            differ = np.flatnonzero(~np.asarray(agree.to_numpy(zero_copy_only=False)))
            broken[run[followers[differ]]] = True
    multi = (sizes > 1)[run]
    seller = pa.DictionaryArray.from_arrays(lines.column("__file").combine_chunks(), sellers)
    con.register(
        _LINES,
        lines.append_column("__run", pa.array(run))
        .append_column("__first", pa.array(starts_mask))
        .append_column("__multi", pa.array(multi))
        .append_column("__seller", seller),
    )
    try:
        broken[_sum_runs(con, mapping, alias)] = True
        ok, hashes = _fold_runs(con, mapping, alias, runs, out)
        broken |= ~ok
        hashes_sorted = np.sort(hashes)
        repeated = hashes_sorted[1:][hashes_sorted[1:] == hashes_sorted[:-1]]
        general = np.isin(hashes, np.union1d(repeated, hashes[broken]))
        if general.any():
            con.register(_LEFT, pa.table({"__run": pa.array(np.flatnonzero(general))}))
            con.execute(f"DELETE FROM {out} WHERE __run IN (SELECT __run FROM {_LEFT})")
    finally:
        con.unregister(_LINES)
        con.unregister(_LEFT)
        con.execute(f"DROP TABLE IF EXISTS {_SUMS}")
    return lines.filter(pa.array(general[run])) if general.any() else lines.slice(0, 0)


def _supported(mapping: FlatFileMapping) -> bool:
    """Whether the mapping folds lines in a way this path knows (sums of decimals)."""
    if mapping.fold_by is None:
        return False
    return all(
        f.fold is not Fold.SUM or f.type is FieldType.DECIMAL
        for f in mapping.fields
        if f.column != mapping.fold_by
    )


def _in_order(lines: pa.Table) -> pa.Table:
    """``lines`` in file and line order."""
    files, numbers = lines.column("__file").to_numpy(), lines.column("__line").to_numpy()
    step_file, step_line = np.diff(files), np.diff(numbers)
    if bool(np.all((step_file > 0) | ((step_file == 0) & (step_line > 0)))):
        return lines
    return lines.sort_by([("__file", "ascending"), ("__line", "ascending")])


def _targets(mapping: FlatFileMapping) -> tuple[str, list[str], set[str]]:
    """The key's contract column, the other columns the report fills, the summed ones."""
    key = next(f.target for f in mapping.fields if f.column == mapping.fold_by)
    filled = [f.target for f in mapping.fields if f.target != key]
    summed = {f.target for f in mapping.fields if f.fold is Fold.SUM}
    return key, filled, summed


def _trimmed(mapping: FlatFileMapping) -> list[str]:
    """The report columns whose quick parse of the raw text could differ from that of
    the trimmed text: the key, texts and times. A number's cast ignores the spaces
    around it, a currency (three letters) and a status (a listed value) fail with
    them: parsed raw, they give the trimmed text's value or send the run away."""
    kinds = (FieldType.TEXT, FieldType.TIMESTAMP, FieldType.DATE)
    columns = [f.column for f in mapping.fields if f.type in kinds]
    return list(dict.fromkeys([mapping.fold_by or "", *columns]))


def _plain(column: str) -> str:
    """SQL: whether a report value is read as written: null (empty), or starting and
    ending with a printable ASCII character, so that ``trim`` keeps it whole."""
    return (
        f"({column} IS NULL OR (ascii({column}) BETWEEN 33 AND 126 AND "
        f"ascii(right({column}, 1)) BETWEEN 33 AND 126))"
    )


def _fold_runs(
    con: duckdb.DuckDBPyConnection,
    mapping: FlatFileMapping,
    alias: dict[str, str],
    runs: int,
    out: str,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint64]]:
    """``out``: every run as a folded record (``fold_lines``' columns and values, and
    ``__run``), its first line parsed as ``parse_lines`` parses a line of documented
    shape; return, by run, whether that line passed every check, and its id's hash.

    A value read as written (:func:`_plain`) is its own trimmed text: parsed here
    without trimming; any other sends its run to the general path.
    """
    types = dict(TABLES[mapping.table])
    key, filled, summed = _targets(mapping)
    key_column = alias[mapping.fold_by or ""]
    values = {f.target: quick_value(f.type, alias[f.column]) for f in mapping.fields}
    status = alias[mapping.status.column] if mapping.status is not None else "NULL"
    shaped = [
        f"{v} IS NOT NULL"
        if required(mapping, f.target)
        else f"({alias[f.column]} IS NULL OR {v} IS NOT NULL)"
        for f in mapping.fields
        for v in (values[f.target],)
    ]
    shaped += [_plain(alias[c]) for c in _trimmed(mapping)]
    if mapping.status is not None:
        listed = ", ".join(quote_literal(v) for v in mapping.status.values)
        shaped.append(f"list_position([{listed}], {status}) IS NOT NULL")
    sale = _sale_sql(mapping, status)
    outputs = [f"CAST({values[key]} AS {types[key]}) AS {quote_ident(key)}", "seller_id"]
    for name in filled:
        value = f"CAST({values[name]} AS {types[name]})"
        if name in summed:
            # A single line: the sum of one value (an exact decimal) is that value.
            value = (
                f"CASE WHEN l.__multi THEN m.{quote_ident(name)} ELSE CAST(CAST(TRY_CAST("
                f"{value} AS DECIMAL(38, 9)) AS DOUBLE) AS {types[name]}) END"
            )
            if name == "amount" and sale is not None:
                value = f"CASE WHEN {sale} THEN {value} END"
        outputs.append(f"{value} AS {quote_ident(name)}")
    # The id as the general path reads it (trimmed), so that ids compare as there.
    plain_key = _plain(key_column)
    ident = f"CASE WHEN {plain_key} THEN {key_column} ELSE {text_value(key_column)} END"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT l.__file AS _file, l.__line AS _line, "
        f"{', '.join(outputs)}, l.__run, coalesce({' AND '.join(shaped)}, false) AS __ok, "
        f"hash({ident}) AS __h FROM (SELECT *, CAST(__seller AS VARCHAR) AS seller_id "
        f"FROM {_LINES} WHERE __first) l LEFT JOIN {_SUMS} m USING (__run)"
    )
    found = con.execute(f"SELECT __run, __ok, __h FROM {out}").fetchnumpy()
    ok = np.zeros(runs, dtype=np.bool_)
    hashes = np.zeros(runs, dtype=np.uint64)
    order = np.asarray(found["__run"], dtype=np.int64)
    ok[order] = np.asarray(found["__ok"], dtype=np.bool_)
    hashes[order] = np.asarray(found["__h"], dtype=np.uint64)
    return ok, hashes


def _sum_runs(
    con: duckdb.DuckDBPyConnection, mapping: FlatFileMapping, alias: dict[str, str]
) -> npt.NDArray[np.int64]:
    """``__imp_run_sums``: the sums of the runs of several lines (``fold_lines``' SQL);
    return those with a line whose summed value has not its documented shape (a run of
    one line is checked with its first line)."""
    types = dict(TABLES[mapping.table])
    summed = [f for f in mapping.fields if f.fold is Fold.SUM]
    sums = [
        f"CAST(sum(TRY_CAST(CAST({quick_value(f.type, alias[f.column])} AS "
        f"{types[f.target]}) AS DECIMAL(38, 9))) AS DOUBLE) AS {quote_ident(f.target)}"
        for f in summed
    ]
    odd = [
        f"({alias[f.column]} IS NOT NULL AND {quick_value(f.type, alias[f.column])} IS NULL)"
        for f in summed
    ]
    odd_sql = f"bool_or({' OR '.join(odd)})" if odd else "false"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_SUMS} AS SELECT {', '.join(['__run', *sums])}, "
        f"{odd_sql} AS __odd FROM {_LINES} WHERE __multi GROUP BY __run"
    )
    bad = con.execute(f"SELECT __run FROM {_SUMS} WHERE __odd").fetchnumpy()["__run"]
    return np.asarray(bad, dtype=np.int64)


def _sale_sql(mapping: FlatFileMapping, status: str) -> str | None:
    """SQL: whether the ``status`` is a sale (None: the mapping has no status)."""
    if mapping.status is None or mapping.field("amount") is None:
        return None
    sales = [v for v, role in mapping.status.values.items() if role is StatusRole.SALE]
    listed = ", ".join(quote_literal(v) for v in sales)
    return f"list_position([{listed}], {status}) IS NOT NULL"


def _empty(con: duckdb.DuckDBPyConnection, mapping: FlatFileMapping, out: str) -> None:
    """``out`` with the columns of settled records and no row."""
    types = dict(TABLES[mapping.table])
    if mapping.fold_by is None:
        key, filled = "", [f.target for f in mapping.fields]
    else:
        key, filled, _ = _targets(mapping)
    names = [n for n in (key, "seller_id", *filled) if n]
    columns = ", ".join(f"CAST(NULL AS {types[n]}) AS {quote_ident(n)}" for n in names)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT CAST(NULL AS INTEGER) AS _file, "
        f"CAST(NULL AS BIGINT) AS _line, {columns} LIMIT 0"
    )
