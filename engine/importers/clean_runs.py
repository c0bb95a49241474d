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
   (required values, the status vocabulary); its key must be written without
   surrounding spaces (so that the text is its own trimmed text); any other
   shape sends the run to the general path;
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
   slower); a key written with spaces around is trimmed first, as the
   general path trims it.

Steps 1-4 are done by :func:`fold_part` for some whole files at a time (the
import folds each batch of files while it reads the next), step 5 by
:func:`settle` over all of them; :func:`fold_clean_runs` does both.

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
from dataclasses import dataclass

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

__all__ = [
    "ENABLED",
    "FoldedPart",
    "arrow_type",
    "fold_clean_runs",
    "fold_part",
    "settle",
    "settled_schema",
]

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
_SELLER = pa.dictionary(pa.int32(), pa.string())
# The kinds of values this path reads (beside the key, a text), the contract type of each,
# and how they fold (an orders mapping fills nothing else: formats.flat).
_READ = {
    FieldType.TIMESTAMP: ("TIMESTAMP", Fold.SAME),
    FieldType.DATE: ("TIMESTAMP", Fold.SAME),
    FieldType.CURRENCY: ("VARCHAR", Fold.SAME),
    FieldType.DECIMAL: ("DOUBLE", Fold.SUM),
}

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class FoldedPart:
    """The runs of some whole files' lines, each folded into a record, or not clean;
    their ids compare with other parts' in :func:`settle`."""

    lines: pa.Table  # the lines, in file and line order
    sizes: Ints  # by run: its lines
    records: pa.Table | None  # by run: the record (settled_schema); None: no run folds
    unclean: Mask  # by run: whether it goes to the general path whatever its id
    hashes: npt.NDArray[np.uint64]  # by run: the hash of its id (the key, as written)
    ordered: npt.NDArray[np.uint64]  # the hashes, sorted
    odd: Rows  # the runs whose key is not written plain: their id is its trimmed text
    odd_keys: pa.Array  # those keys


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
    ``sellers`` the account of each file, by its index. The same as
    :func:`settle` of the :func:`fold_part` of ``lines``.
    """
    return settle(con, mapping, [fold_part(mapping, lines, pa.array(sellers, pa.string()))])


def fold_part(mapping: FlatFileMapping, lines: pa.Table, sellers: pa.Array) -> FoldedPart:
    """The runs of ``lines`` (whole files' lines), folded where clean (no DuckDB: this
    may run beside other work); ``sellers``: the account of each file, by its index
    (the dictionary of the records' ``seller_id``)."""
    if not ENABLED or not _supported(mapping) or lines.num_rows == 0:
        none, no_hash = np.zeros(0, dtype=np.intp), np.zeros(0, np.uint64)
        return FoldedPart(
            lines,
            none,
            None,
            np.zeros(0, np.bool_),
            no_hash,
            no_hash,
            none,
            pa.array([], pa.string()),
        )
    lines = _in_order(lines)
    alias = {column: column_alias(i) for i, column in enumerate(mapping.used_columns)}
    starts_mask = _run_starts(lines, alias[mapping.fold_by or ""])
    starts = np.flatnonzero(starts_mask)
    sizes = np.diff(np.append(starts, lines.num_rows))
    broken = _disagree(lines, mapping, alias, starts_mask, starts) | (sizes > _MAX_LINES)
    key_field = next(f for f in mapping.fields if f.column == mapping.fold_by)
    key = lines.column(alias[key_field.column])
    key_plain = clean_values.plain(key, starts)
    clean = key_plain & _present(mapping, key_field, key, starts)
    sale = None
    if mapping.status is not None:
        position = _listed(lines.column(alias[mapping.status.column]), starts, mapping)
        listed = list(mapping.status.values)
        roles = np.array([mapping.status.values[v] is StatusRole.SALE for v in listed] + [False])
        clean &= position >= 0
        sale = roles[position]
    files = pa.array(_at(lines.column("__file"), starts))
    records = {
        "_file": files,
        "_line": pa.array(_at(lines.column("__line"), starts)),
        key_field.target: _first_text(key, starts_mask),
        "seller_id": pa.DictionaryArray.from_arrays(files, sellers),
    }
    for field in mapping.fields:
        if field is key_field:
            continue
        column = lines.column(alias[field.column])
        if field.fold is Fold.SUM:
            units, some, good = _summed(mapping, field, column, starts)
            broken |= ~good
            if field.target == "amount" and sale is not None:
                some &= sale  # a sale's amount only
            value = pa.array(units / clean_values.UNITS, pa.float64(), mask=~some)
        else:
            value, good = _first_value(mapping, field, column, starts)
            clean &= good
        records[field.target] = value
    schema = settled_schema(mapping)
    odd = np.flatnonzero(~key_plain)
    hashes = clean_values.hashes(key, starts)
    return FoldedPart(
        lines=lines,
        sizes=sizes,
        records=pa.table([records[n] for n in schema.names], schema=schema),
        unclean=broken | ~clean,
        hashes=hashes,
        ordered=np.sort(hashes),
        odd=odd,
        odd_keys=key.take(pa.array(starts[odd])).combine_chunks(),
    )


def settle(
    con: duckdb.DuckDBPyConnection, mapping: FlatFileMapping, parts: Sequence[FoldedPart]
) -> tuple[pa.Table, pa.Table]:
    """The records of the folded parts (at least one) settled here (those of clean
    runs whose id no other run has), in the parts' order, and the lines left for the
    general path."""
    hashes = np.concatenate([p.hashes for p in parts])
    offsets = np.cumsum([0, *(len(p.hashes) for p in parts)])
    odd = [p.odd + at for p, at in zip(parts, offsets, strict=False)]
    if any(len(o) for o in odd):
        keys = pa.chunked_array([p.odd_keys for p in parts], pa.string())
        hashes[np.concatenate(odd)] = clean_values.hashes(_trimmed(con, keys))
        ordered = np.sort(hashes)
    else:  # the parts' sorted hashes merged (a stable sort merges sorted runs)
        ordered = np.sort(np.concatenate([p.ordered for p in parts]), kind="stable")
    general = _general(hashes, ordered, np.concatenate([p.unclean for p in parts]))
    records, rest = [], []
    for part, at in zip(parts, offsets, strict=False):
        if part.records is None:
            rest.append(part.lines)
            continue
        mine = general[at : at + len(part.hashes)]
        if mine.any():
            records.append(part.records.filter(pa.array(~mine)))
            rest.append(part.lines.filter(pa.array(np.repeat(mine, part.sizes))))
        else:
            records.append(part.records)
    schema = settled_schema(mapping)
    settled = pa.concat_tables(records) if records else schema.empty_table()
    if not rest:
        return settled, parts[0].lines.slice(0, 0)
    return settled, pa.concat_tables(rest)


def settled_schema(mapping: FlatFileMapping) -> pa.Schema:
    """The columns of the records :func:`fold_clean_runs` settles (those of
    ``fold_lines``' output): ``_file``, ``_line``, the key, ``seller_id`` (a dictionary:
    the account of each file), the others."""
    types = dict(TABLES[mapping.table])
    key = next((f.target for f in mapping.fields if f.column == mapping.fold_by), None)
    names = [n for n in (key, "seller_id") if n is not None]
    names += [f.target for f in mapping.fields if f.target != key]
    fields = [("_file", pa.int32()), ("_line", pa.int64())]
    return pa.schema(
        fields + [(n, _SELLER if n == "seller_id" else arrow_type(types[n])) for n in names]
    )


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
    last: tuple[int, int] = (-1, 0)
    for batch in lines.select(["__file", "__line"]).to_batches():
        if not batch.num_rows:
            continue
        files, numbers = (np.asarray(c.to_numpy()) for c in batch.columns)
        step_file, step_line = np.diff(files), np.diff(numbers)
        if (int(files[0]), int(numbers[0])) <= last or not bool(
            np.all((step_file > 0) | ((step_file == 0) & (step_line > 0)))
        ):
            return lines.sort_by([("__file", "ascending"), ("__line", "ascending")])
        last = (int(files[-1]), int(numbers[-1]))
    return lines


def _run_starts(lines: pa.Table, key_column: str) -> Mask:
    """Whether each line starts a run: not the key text of the line before, in its file
    (a line without key is a run of its own)."""
    key, files = lines.column(key_column), lines.column("__file")
    size = lines.num_rows
    follows = pc.and_(
        pc.fill_null(pc.equal(key.slice(1), key.slice(0, size - 1)), False),
        pc.equal(files.slice(1), files.slice(0, size - 1)),
    )
    starts = np.ones(size, dtype=np.bool_)
    starts[1:] = ~np.asarray(follows.to_numpy(zero_copy_only=False), dtype=np.bool_)
    return starts


def _run_of(starts: Rows, lines: Rows) -> Rows:
    """The run of each of ``lines``."""
    return np.searchsorted(starts, lines, side="right") - 1


def _at(column: pa.ChunkedArray, rows: Rows) -> npt.NDArray[np.generic]:
    """The values of a column of numbers without null at ``rows``."""
    out: npt.NDArray[np.generic] = np.empty(len(rows), dtype=column.type.to_pandas_dtype())
    for chunk, local, into in clean_values.pieces(column, rows):
        out[into] = np.asarray(chunk.to_numpy())[local]
    return out


def _first_text(column: pa.ChunkedArray, starts_mask: Mask) -> pa.ChunkedArray:
    """The first line's text of each run."""
    return column.filter(pa.array(starts_mask))


def _listed(column: pa.ChunkedArray, starts: Rows, mapping: FlatFileMapping) -> Ints:
    """By run, the position of the first line's status among the mapping's (-1: not
    listed)."""
    listed = pa.array(list(mapping.status.values) if mapping.status is not None else [])
    out = np.empty(len(starts), dtype=np.int64)
    for chunk, local, into in clean_values.pieces(column, starts):
        found = pc.fill_null(pc.index_in(chunk, listed), -1).to_numpy(zero_copy_only=False)
        out[into] = np.asarray(found)[local]
    return out


def _disagree(
    lines: pa.Table,
    mapping: FlatFileMapping,
    alias: dict[str, str],
    starts_mask: Mask,
    starts: Rows,
) -> Mask:
    """By run: whether a line does not repeat the text of the line before (so of the
    first line) of a value folded ``same`` or of the status."""
    broken = np.zeros(len(starts), dtype=np.bool_)
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
        broken[_run_of(starts, np.flatnonzero(follows & ~agree) + 1)] = True
    return broken


def _present(
    mapping: FlatFileMapping, field: FieldMap, values: pa.ChunkedArray, starts: Rows
) -> Mask:
    """By run, whether the first line's value is there, or need not be."""
    if not required(mapping, field.target):
        return np.ones(len(starts), dtype=np.bool_)
    return clean_values.present(values, starts)


def _first_value(
    mapping: FlatFileMapping, field: FieldMap, values: pa.ChunkedArray, starts: Rows
) -> tuple[pa.Array | pa.ChunkedArray, Mask]:
    """By run, the first line's value of a field folded ``same``, and whether it is read
    here, or null when it need not be there."""
    there = clean_values.present(values, starts)
    absent = np.zeros(len(starts), np.bool_) if required(mapping, field.target) else ~there
    good, value = _read_first(field, values, starts)
    return value, (good & there) | absent


def _read_first(
    field: FieldMap, values: pa.ChunkedArray, starts: Rows
) -> tuple[Mask, pa.Array | pa.ChunkedArray]:
    """By run, whether the first line's value is read here (a null's answer does not
    count: ``_first_value`` asks whether it is there), and it."""
    if field.type in (FieldType.TIMESTAMP, FieldType.DATE):
        micros, good = clean_values.times(values, starts)
        mask = None if good.all() else ~good
        return good, pa.array(micros, pa.timestamp("us"), mask=mask)
    codes = _first_text(values, _mask(len(values), starts))  # a currency (_READ)
    read, lower = clean_values.currencies(values, starts)
    return read, (pc.ascii_upper(codes) if lower else codes)


def _mask(size: int, rows: Rows) -> Mask:
    mask = np.zeros(size, dtype=np.bool_)
    mask[rows] = True
    return mask


def _summed(
    mapping: FlatFileMapping, field: FieldMap, values: pa.ChunkedArray, starts: Rows
) -> tuple[Ints, Mask, Mask]:
    """By run, the sum of a decimal field in units, whether a line has a value (the sum
    is null otherwise), and whether every line's value is read here (or null, when it
    need not be there)."""
    runs = len(starts)
    total = np.zeros(runs, dtype=np.int64)
    some = np.zeros(runs, dtype=np.bool_)
    ok = np.ones(runs, dtype=np.bool_)
    need = required(mapping, field.target)
    for chunk, _, into in clean_values.pieces(values):
        if not len(chunk):
            continue
        units, good = clean_values.decimals(chunk)
        present = clean_values.present(chunk)
        fine = good if need else good | ~present
        # The chunk's lines by run: a first piece may end a run begun in a chunk before.
        low, high = (int(i) for i in np.searchsorted(starts, [into.start, into.stop]))
        bounds = starts[low:high] - into.start
        if not len(bounds) or bounds[0]:
            bounds = np.concatenate(([0], bounds))
            low -= 1
        total[low:high] += np.add.reduceat(units, bounds)
        some[low:high] |= np.logical_or.reduceat(present, bounds)
        bad = np.flatnonzero(~fine)
        ok[low + _run_of(bounds, bad)] = False
    ok &= np.abs(total) <= _MAX_UNITS
    return total, some, ok


def _trimmed(con: duckdb.DuckDBPyConnection, keys: pa.ChunkedArray) -> pa.ChunkedArray:
    """The keys as the general path reads them (trimmed, null when empty)."""
    con.register(_KEYS, pa.table({"k": keys}))
    try:
        table = con.sql(f"SELECT {text_value('k')} AS k FROM {_KEYS}").to_arrow_table()
    finally:
        con.unregister(_KEYS)
    return table.column("k")


def _general(
    hashes: npt.NDArray[np.uint64], ordered: npt.NDArray[np.uint64], unclean: Mask
) -> Mask:
    """By run: whether its record goes to the general path: its id (compared by hash;
    ``ordered``: the hashes sorted) is that of an unclean run, or of more than one run."""
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    return np.isin(hashes, np.union1d(repeated, hashes[unclean]))
