"""Decision output files, one writer per format, each taking decision batches.

By the output's extension (:data:`SUFFIXES`):

* ``.arrows``: an Arrow IPC stream of the decision batches as they are (codes,
  dictionaries replaced batch by batch);
* ``.arrow`` (or ``.feather``): the Arrow IPC *file* format (Feather v2), the
  same columns with every dictionary decoded (a file cannot replace a
  dictionary between batches), for ``pl.scan_ipc`` and ``pd.read_feather``;
* ``.parquet``: the typed record layout (:mod:`.typed`), with the encodings of
  :func:`parquet_options`;
* ``.jsonl`` and ``.csv``: decision records (:mod:`.records`), the bytes the
  record sinks write for ``Decision.to_json``.

The record formats need the pack that made the decisions. CSV text cells a
spreadsheet would run as a formula are quoted (:func:`neutralise_formulas`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from sellerpolicy.rules.model import CompiledPack

from .records import csv_chunks, json_line_chunks, text_bytes
from .typed import record_batch

__all__ = [
    "FORMULA_START",
    "RECORD_SUFFIXES",
    "SUFFIXES",
    "decoded_schema",
    "neutralise_formulas",
    "open_output",
    "parquet_options",
]

#: Formats whose rows are decision records (they need the pack).
RECORD_SUFFIXES = (".parquet", ".jsonl", ".csv")
#: Every output format of decision batches.
SUFFIXES = (".arrows", ".arrow", ".feather", *RECORD_SUFFIXES)
#: A text cell starting with one of these is run as a formula by spreadsheets.
FORMULA_START = r"^[=+\-@\t\r]"


class BatchWriter(Protocol):
    """Takes decision batches one by one."""

    def write_batch(self, batch: pa.RecordBatch) -> None: ...


def _leaves(name: str, kind: pa.DataType) -> Iterator[tuple[str, pa.DataType]]:
    """Parquet column paths under one field and their Arrow types (compliant list naming)."""
    if pa.types.is_struct(kind):
        for child in kind:
            yield from _leaves(f"{name}.{child.name}", child.type)
    elif pa.types.is_list(kind):
        yield from _leaves(f"{name}.list.element", kind.value_type)
    else:
        yield name, kind


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """Writer options for a decision (or record) schema: the encoding of each column.

    Dictionary encoding where values repeat (outcomes, reasons, statuses, the
    constant run columns, the strings of action items, scores, distances);
    integer facts as ``DELTA_BINARY_PACKED`` (as small as a dictionary,
    faster); float facts, seller ids and decision ids plain (mostly
    distinct: a dictionary would be tried and dropped). Statistics for
    ``seller_id`` and ``status`` only; Snappy compression.
    """
    dictionary: list[str] = []
    encoding: dict[str, str] = {}
    for field in schema:
        for path, kind in _leaves(field.name, field.type):
            if field.name == "facts":
                if pa.types.is_integer(kind):
                    encoding[path] = "DELTA_BINARY_PACKED"
            elif field.name not in ("seller_id", "decision_id"):
                dictionary.append(path)
    return {
        "compression": "snappy",
        "use_dictionary": dictionary,
        "column_encoding": encoding or None,
        "write_statistics": ["seller_id", "status"],
        "write_batch_size": 65_536,
    }


def _decoded(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(kind):
        return _decoded(kind.value_type)
    if pa.types.is_struct(kind):
        return pa.struct([f.with_type(_decoded(f.type)) for f in kind])
    if pa.types.is_list(kind):
        return pa.list_(kind.value_field.with_type(_decoded(kind.value_type)))
    return kind


def decoded_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every dictionary type, nested ones too, replaced by its value type."""
    return pa.schema([f.with_type(_decoded(f.type)) for f in schema], metadata=schema.metadata)


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


class _ArrowFile:
    def __init__(self, writer: pa.ipc.RecordBatchFileWriter, schema: pa.Schema) -> None:
        self._writer, self._schema = writer, schema

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(pa.Table.from_batches([batch]).cast(self._schema).to_batches()[0])


class _Parquet:
    def __init__(self, path: Path, pack: CompiledPack, compression: str | None) -> None:
        self._path, self._pack, self._compression = path, pack, compression
        self.writer: pq.ParquetWriter | None = None

    def write_batch(self, batch: pa.RecordBatch) -> None:
        records = record_batch(batch, self._pack)
        if self.writer is None:
            options = {
                **parquet_options(records.schema),
                "compression": self._compression or "snappy",
            }
            self.writer = pq.ParquetWriter(self._path, records.schema, **options)
        self.writer.write_batch(records)


class _JsonLines:
    def __init__(self, file: IO[bytes], pack: CompiledPack) -> None:
        self._file, self._pack = file, pack

    def write_batch(self, batch: pa.RecordBatch) -> None:
        for chunk in json_line_chunks(record_batch(batch, self._pack), self._pack):
            self._file.write(text_bytes(chunk))


class _Csv:
    def __init__(self, path: Path, pack: CompiledPack) -> None:
        self._path, self._pack = path, pack
        self.writer: pa_csv.CSVWriter | None = None

    def write_batch(self, batch: pa.RecordBatch) -> None:
        for table in csv_chunks(record_batch(batch, self._pack), self._pack):
            self._write(table)

    def _write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pa_csv.CSVWriter(str(self._path), table.schema)
        self.writer.write_table(neutralise_formulas(table))

    def finish(self) -> None:
        if self.writer is None:  # no row at all: what the CSV sink writes for no record
            self._write(pa.table({}))


@contextlib.contextmanager
def open_output(
    path: Path,
    schema: pa.Schema,
    *,
    kind: str,
    pack: CompiledPack | None,
    compression: str | None,
) -> Iterator[BatchWriter]:
    """A writer of decision batches of ``schema`` on ``path``, in the format ``kind``."""
    if kind in RECORD_SUFFIXES and pack is None:
        raise ValueError(f"{path}: {kind} records are rendered with the pack: give it")
    if kind == ".parquet":
        assert pack is not None
        parquet = _Parquet(path, pack, compression)
        try:
            yield parquet
        finally:
            if parquet.writer is not None:
                parquet.writer.close()
        return
    if kind == ".jsonl":
        assert pack is not None
        with path.open("wb") as text:
            yield _JsonLines(text, pack)
        return
    if kind == ".csv":
        assert pack is not None
        table = _Csv(path, pack)
        try:
            yield table
            table.finish()
        finally:
            if table.writer is not None:
                table.writer.close()
        return
    ipc = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.OSFile(str(path), "wb") as sink:
        if kind == ".arrows":
            with pa.ipc.new_stream(sink, schema, options=ipc) as stream:
                yield stream
            return
        decoded = decoded_schema(schema)
        with pa.ipc.new_file(sink, decoded, options=ipc) as file:
            yield _ArrowFile(file, decoded)
