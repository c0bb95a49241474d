"""Item lines folded where they are plainly clean: the fast path of ``contract_rows``.

Most of a report is a run of lines of one record (the item lines of one
order, one after the other) whose every value has its documented shape and
whose lines agree. For those, checking and folding need no SQL, no hashing
of texts and no per-line parse of the values the lines share:

1. runs: consecutive lines of one file with the same ``fold_by`` text
   (NumPy over the Arrow columns, in file and line order);
2. in a run, every line but the first must repeat the first line's text of
   each value folded ``same`` and of the status (Arrow compares them);
3. the first line of each run is parsed in NumPy (``importers.clean_values``)
   where its values have their documented shape, into the very values the
   contract's parser gives them, and must pass the checks of
   :func:`~sellerpolicy.engine.importers.contract_rows.parse_lines`
   (required values, the status vocabulary); its key and texts must be
   written without surrounding spaces (so that the text is its own trimmed
   text); any other shape sends the run to the general path;
4. ``sum`` values (decimals) must have their documented shape on every line
   (and be there on every line when required); they are summed per run as
   exact units of 1e-9, and the sum read as a double as ``fold_lines``'
   ``CAST(sum(... AS DECIMAL(38, 9)) AS DOUBLE)`` reads it (a sum of at most
   2^53 units: ``DOUBLE(units) / 1e9``, correctly rounded);
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

# SQL here is built from this module's own identifiers and the quoted text_value;
# report values are only ever data: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.formats.flat import FieldMap, FieldType, FlatFileMapping, Fold, StatusRole
from sellerpolicy.engine.importers import clean_values
from sellerpolicy.engine.importers.contract_rows import required, text_value
from sellerpolicy.engine.importers.report_files import column_alias
from sellerpolicy.engine.sources.tables import TABLES

__all__ = ["ENABLED", "arrow_type", "fold_clean_runs", "settled_schema"]

ENABLED = True
"""Whether :func:`fold_clean_runs` folds anything (the tests compare both paths)."""

_KEYS = "__imp_run_keys"
_MAX_LINES = 1000  # a longer run takes the general path (its sum of units stays in int64)
_MAX_UNITS = 2**53  # a sum of more units is not read as a double here
_ARROW = {
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TINYINT": pa.int8(),
}
# The kinds of values this path reads, the contract type of each, and how they fold.
_READ = {
    FieldType.TEXT: ("VARCHAR", Fold.SAME),
    FieldType.TIMESTAMP: ("TIMESTAMP", Fold.SAME),
    FieldType.DATE: ("TIMESTAMP", Fold.SAME),
    FieldType.CURRENCY: ("VARCHAR", Fold.SAME),
    FieldType.DECIMAL: ("DOUBLE", Fold.SUM),
}

Mask = npt.NDArray[np.bool_]


def fold_clean_runs(
    con: duckdb.DuckDBPyConnection,
    mapping: FlatFileMapping,
    lines: pa.Table,
    sellers: Sequence[str],
) -> tuple[pa.Table, pa.Table]:
    """The records settled here, in file and line order (:func:`settled_schema`: the
    columns and values of ``fold_lines``' output), and the lines left for the general
    path (whole records, ``lines``' columns).

    ``lines`` is the table of ``report_files`` (``__file``, ``__line``, ``c0``...),
    ``sellers`` the account of each file, by its index.
    """
    if not ENABLED or not _supported(mapping) or lines.num_rows == 0:
        return settled_schema(mapping).empty_table(), lines
    lines = _in_order(lines)
    alias = {column: column_alias(i) for i, column in enumerate(mapping.used_columns)}
    starts_mask = _run_starts(lines, alias[mapping.fold_by or ""])
    run = np.cumsum(starts_mask, dtype=np.int64) - 1
    starts = np.flatnonzero(starts_mask)
    sizes = np.diff(np.append(starts, lines.num_rows))
    summed = {alias[f.column] for f in mapping.fields if f.fold is Fold.SUM}
    first = lines.select([n for n in lines.column_names if n not in summed])
    first = first.filter(pa.array(starts_mask))  # the first line of each run
    broken = _disagree(lines, mapping, alias, starts_mask, run) | (sizes > _MAX_LINES)
    key_field = next(f for f in mapping.fields if f.column == mapping.fold_by)
    key = first.column(alias[key_field.column])
    key_plain = clean_values.plain(key)
    clean = key_plain & _present(mapping, key_field, key)
    values: dict[str, pa.Array | pa.ChunkedArray] = {}
    for field in mapping.fields:
        if field is key_field:
            continue
        if field.fold is Fold.SUM:
            total, good = _summed(mapping, field, lines.column(alias[field.column]), starts, run)
            broken |= ~good
        else:
            total, good = _first_value(field, first.column(alias[field.column]))
            clean &= good & _present(mapping, field, first.column(alias[field.column]))
        values[field.target] = total
    sale = np.ones(len(starts), dtype=np.bool_)
    if mapping.status is not None:
        listed = list(mapping.status.values)
        found = pc.index_in(first.column(alias[mapping.status.column]), pa.array(listed))
        position = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False))
        roles = np.array([mapping.status.values[v] is StatusRole.SALE for v in listed] + [False])
        clean &= position >= 0
        sale = roles[position]
    general = _general(con, key, key_plain, broken | ~clean)
    kept = pa.array(~general)
    settled = {
        "_file": first.column("__file").filter(kept),
        "_line": first.column("__line").filter(kept),
        key_field.target: key.filter(kept),
    }
    files = np.asarray(settled["_file"].to_numpy(), dtype=np.int32)
    settled["seller_id"] = pa.array(sellers, pa.string()).take(pa.array(files))
    for name, value in values.items():
        kept_value = value
        if name == "amount" and mapping.status is not None:
            kept_value = pc.if_else(pa.array(sale), value, None)  # a sale's amount only
        settled[name] = kept_value.filter(kept)
    rest = lines.filter(pa.array(general[run])) if general.any() else lines.slice(0, 0)
    schema = settled_schema(mapping)
    return pa.table([settled[n] for n in schema.names], schema=schema), rest


def settled_schema(mapping: FlatFileMapping) -> pa.Schema:
    """The columns of the records :func:`fold_clean_runs` settles (those of
    ``fold_lines``' output): ``_file``, ``_line``, the key, ``seller_id``, the others."""
    types = dict(TABLES[mapping.table])
    key = next((f.target for f in mapping.fields if f.column == mapping.fold_by), None)
    names = [n for n in (key, "seller_id") if n is not None]
    names += [f.target for f in mapping.fields if f.target != key]
    fields = [("_file", pa.int32()), ("_line", pa.int64())]
    return pa.schema(fields + [(n, arrow_type(types[n])) for n in names])


def arrow_type(kind: str) -> pa.DataType:
    """The Arrow type of a contract column's type (``sources.tables``)."""
    return _ARROW[kind]


def _supported(mapping: FlatFileMapping) -> bool:
    """Whether the mapping folds lines in a way this path knows: text keys, and values
    it reads (``_READ``) into the contract type it gives, folded as it folds them."""
    if mapping.fold_by is None:
        return False
    types = dict(TABLES[mapping.table])
    for field in mapping.fields:
        read = _READ.get(field.type)
        if field.column == mapping.fold_by:
            if field.type is not FieldType.TEXT or types[field.target] != "VARCHAR":
                return False
        elif read is None or read != (types[field.target], field.fold):
            return False
    return True


def _in_order(lines: pa.Table) -> pa.Table:
    """``lines`` in file and line order."""
    files, numbers = lines.column("__file").to_numpy(), lines.column("__line").to_numpy()
    step_file, step_line = np.diff(files), np.diff(numbers)
    if bool(np.all((step_file > 0) | ((step_file == 0) & (step_line > 0)))):
        return lines
    return lines.sort_by([("__file", "ascending"), ("__line", "ascending")])


def _run_starts(lines: pa.Table, key_column: str) -> Mask:
    """Whether each line starts a run: not the key text of the line before, in its file
    (a line without key is a run of its own)."""
    key = lines.column(key_column)
    files = lines.column("__file").to_numpy()
    starts = np.ones(lines.num_rows, dtype=np.bool_)
    same_key = pc.fill_null(pc.equal(key.slice(1), key.slice(0, lines.num_rows - 1)), False)
    starts[1:] = ~(np.asarray(same_key.to_numpy(zero_copy_only=False)) & (files[1:] == files[:-1]))
    return starts


def _disagree(
    lines: pa.Table,
    mapping: FlatFileMapping,
    alias: dict[str, str],
    starts_mask: Mask,
    run: npt.NDArray[np.int64],
) -> Mask:
    """By run: whether a line does not repeat the text of the line before (so of the
    first line) of a value folded ``same`` or of the status."""
    broken = np.zeros(int(run[-1]) + 1, dtype=np.bool_)
    shared = [alias[f.column] for f in mapping.fields if f.fold is Fold.SAME]
    if mapping.status is not None:
        shared.append(alias[mapping.status.column])
    follows = ~starts_mask[1:]  # by line from the second: whether it follows in a run
    if not follows.any():
        return broken
    for name in dict.fromkeys(shared):
        column = lines.column(name)
        now, before = column.slice(1), column.slice(0, lines.num_rows - 1)
        agree = np.asarray(
            pc.fill_null(pc.equal(now, before), False).to_numpy(zero_copy_only=False)
        )
        if column.null_count:
            absent = np.asarray(column.is_null().to_numpy(zero_copy_only=False))
            agree |= absent[1:] & absent[:-1]
        broken[run[np.flatnonzero(follows & ~agree) + 1]] = True
    return broken


def _present(mapping: FlatFileMapping, field: FieldMap, values: pa.Array | pa.ChunkedArray) -> Mask:
    """Whether each value is there, or need not be."""
    if not required(mapping, field.target):
        return np.ones(len(values), dtype=np.bool_)
    return np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)


def _first_value(
    field: FieldMap, values: pa.Array | pa.ChunkedArray
) -> tuple[pa.Array | pa.ChunkedArray, Mask]:
    """The first lines' values of a field folded ``same``, and whether each is null or
    read here."""
    absent = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    if field.type in (FieldType.TIMESTAMP, FieldType.DATE):
        micros, good = clean_values.times(values)
        times = pa.array(micros, pa.timestamp("us"), mask=~good)
        return times, good | absent
    if field.type is FieldType.CURRENCY:
        return pc.ascii_upper(values), clean_values.currencies(values) | absent
    return values, clean_values.plain(values)  # a text, as written


def _summed(
    mapping: FlatFileMapping,
    field: FieldMap,
    values: pa.Array | pa.ChunkedArray,
    starts: npt.NDArray[np.intp],
    run: npt.NDArray[np.int64],
) -> tuple[pa.Array, Mask]:
    """By run, the sum of a decimal field (null when no line has a value), and whether
    every line's value is read here (or null, when it need not be there)."""
    units, good = clean_values.decimals(values)
    present = np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    fine = good if required(mapping, field.target) else good | ~present
    ok = np.ones(len(starts), dtype=np.bool_)
    ok[run[~fine]] = False
    total = np.add.reduceat(units, starts)
    counted = np.add.reduceat(present.astype(np.int64), starts)
    ok &= np.abs(total) <= _MAX_UNITS
    return pa.array(total / clean_values.UNITS, pa.float64(), mask=counted == 0), ok


def _general(
    con: duckdb.DuckDBPyConnection,
    key: pa.Array | pa.ChunkedArray,
    key_plain: Mask,
    unclean: Mask,
) -> Mask:
    """By run: whether its record goes to the general path: its id (the trimmed key,
    compared by hash) is that of an unclean run, or of more than one run."""
    runs = len(unclean)
    con.register(
        _KEYS,
        pa.table({"__run": pa.array(np.arange(runs)), "k": key, "p": pa.array(key_plain)}),
    )
    try:
        # The id as the general path reads it (trimmed), so that ids compare as there.
        found = con.execute(
            f"SELECT __run, hash(CASE WHEN p THEN k ELSE {text_value('k')} END) AS h FROM {_KEYS}"
        ).fetchnumpy()
    finally:
        con.unregister(_KEYS)
    hashes = np.zeros(runs, dtype=np.uint64)
    hashes[np.asarray(found["__run"], dtype=np.int64)] = np.asarray(found["h"], dtype=np.uint64)
    ordered = np.sort(hashes)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    return np.isin(hashes, np.union1d(repeated, hashes[unclean]))
