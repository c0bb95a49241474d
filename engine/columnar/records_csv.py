"""CSV decision records rendered in bulk: the bytes the CSV record sink writes.

The CSV sink (``engine/batch/sinks.py``) writes one column per record field
through Arrow's CSV writer: plain fields as text, nested ones (actions,
facts, rules, scores) as their JSON text, every cell quoted (``"`` doubled),
cells a spreadsheet would run as a formula prefixed with ``'``
(:func:`neutralise_formulas`). :func:`csv_line_chunks` renders those lines
directly, with the JSON renderers of :mod:`.records` in the CSV mode of
:class:`~.jsontext.Rows` (quotes doubled as the pieces are added: in
constants once, in columns only where they hold one), several times faster
than Arrow's writer on JSON text. :func:`csv_chunks` gives the same rows as
Arrow tables (for a batch with a null seller id, which Arrow writes
unquoted).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.metrics.facts import as_of_label
from sellerpolicy.rules.model import CompiledPack

from .jsontext import Gathering, Rows
from .records import checked, nested_fields, record_instants

__all__ = [
    "COLUMNS",
    "FORMULA_START",
    "HEADER",
    "csv_chunks",
    "csv_line_chunks",
    "csv_table",
    "neutralise_formulas",
]

#: A text cell starting with one of these is run as a formula by spreadsheets.
FORMULA_START = r"^[=+\-@\t\r]"
_PLAIN = ("decision_id", "seller_id", "as_of", "pack", "pack_version", "pack_digest", "status")
#: The columns of a CSV decision record, in order.
COLUMNS = (*_PLAIN, "actions", "facts", "rules", "scores")
#: The header line Arrow's CSV writer writes for them.
HEADER = ",".join(f'"{name}"' for name in COLUMNS) + "\n"


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Text cells a spreadsheet would run as a formula, prefixed with ``'`` (OWASP).

    A seller id or an explanation such as ``=HYPERLINK(...)`` or ``@SUM(...)``
    is written ``'=HYPERLINK(...)``: spreadsheets show it as text. Only text
    columns change (a dictionary column through its dictionary, so its type
    stays); numbers, negative ones included, stay numbers.
    """
    return pa.Table.from_arrays(
        [pa.chunked_array([_quoted(c) for c in col.chunks], col.type) for col in table.columns],
        schema=table.schema,
    )


def _quoted(chunk: pa.Array) -> pa.Array:
    if isinstance(chunk, pa.DictionaryArray):
        return pa.DictionaryArray.from_arrays(chunk.indices, _quoted(chunk.dictionary))
    if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
        return chunk
    risky = pc.match_substring_regex(chunk, FORMULA_START)
    return pc.if_else(risky, pc.binary_join_element_wise("'", chunk, ""), chunk)


def _cell(text: str) -> str:
    return "'" + text if re.match(FORMULA_START, text) else text


def csv_line_chunks(records: pa.RecordBatch | pa.Table, pack: CompiledPack) -> Gathering:
    """The CSV lines (no header) of typed records, a few thousand at a time (prepared now,
    gathered as iterated).

    ValueError for a null seller id (Arrow writes a null cell unquoted: use
    :func:`csv_chunks` and its writer for such a batch).
    """
    records = checked(records, pack)
    sellers = records.column("seller_id").cast(pa.string())
    if sellers.null_count:
        raise ValueError("a null seller id: write this batch through Arrow's CSV writer")
    rows = Rows(records.num_rows, csv=True)
    rows.raw('"')
    rows.column(records.column("decision_id"), plain=True)
    rows.raw('","')
    rows.column(_quoted(sellers))
    codes, instants = record_instants(records)
    rows.raw('","')
    rows.pick(codes, [_cell(as_of_label(i)) for i in instants])
    for name in _PLAIN[3:]:
        rows.raw('","')
        encoded = pc.dictionary_encode(records.column(name).cast(pa.string()))
        rows.pick(
            np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int64),
            [_cell(v) for v in encoded.dictionary.to_pylist()],
        )
    for _, render in nested_fields(records, pack, codes, instants):
        rows.raw('","')
        render(rows)
    rows.raw('"\n')
    return rows.prepare()


def csv_table(records: pa.RecordBatch | pa.Table, pack: CompiledPack) -> pa.Table:
    """The columns of the CSV record output: plain fields, then nested ones as JSON text."""
    if not records.num_rows:
        return pa.table({name: pa.array([], pa.string()) for name in COLUMNS})
    return pa.concat_tables(list(csv_chunks(records, pack)))


def csv_chunks(records: pa.RecordBatch | pa.Table, pack: CompiledPack) -> Iterator[pa.Table]:
    """:func:`csv_table`, a few thousand rows at a time, rendered as they are asked for."""
    records = checked(records, pack)
    codes, instants = record_instants(records)
    labels = pa.array([as_of_label(i) for i in instants], pa.string())
    plain: dict[str, pa.Array] = {
        "decision_id": records.column("decision_id"),
        "seller_id": records.column("seller_id").cast(pa.string()),
        "as_of": labels.take(pa.array(codes)),
    }
    for name in _PLAIN[3:]:
        plain[name] = records.column(name).cast(pa.string())
    nested: dict[str, Iterator[pa.StringArray]] = {}
    for name, render in nested_fields(records, pack, codes, instants):
        rows = Rows(records.num_rows)
        render(rows)
        nested[name] = rows.chunks()
    start = 0
    for parts in zip(*nested.values(), strict=True):
        size = len(parts[0])
        columns = {name: column.slice(start, size) for name, column in plain.items()}
        yield neutralise_formulas(pa.table({**columns, **dict(zip(nested, parts, strict=True))}))
        start += size
