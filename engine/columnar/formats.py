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

The record formats need the pack that made the decisions; they are rendered
slice by slice (:data:`SLICE_ROWS` decisions) on :data:`RENDERERS` threads
and written in order. CSV text cells a spreadsheet would run as a formula
are quoted (:func:`neutralise_formulas`).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from sellerpolicy.rules.model import CompiledPack

from .records import json_line_chunks, text_bytes
from .records_csv import FORMULA_START, HEADER, csv_chunks, csv_line_chunks, neutralise_formulas
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
#: Decisions per slice rendered as records, and slices prepared ahead (threads): one is
#: enough beside the caller's gathering and writing (two, on two busy cores, ran slower).
SLICE_ROWS = 65_536
RENDERERS = 1
_T = TypeVar("_T")


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


def _records(
    path: Path, kind: str, pack: CompiledPack, compression: str | None, threads: ThreadPoolExecutor
) -> Iterator[BatchWriter]:
    if kind == ".parquet":
        parquet = _Parquet(path, pack, compression, threads)
        try:
            yield parquet
        finally:
            if parquet.writer is not None:
                parquet.writer.close()
    elif kind == ".jsonl":
        with path.open("wb") as text:
            yield _JsonLines(text, pack, threads)
    else:
        with path.open("wb") as text:
            yield _Csv(text, pack, threads)


class _ArrowFile:
    def __init__(self, writer: pa.ipc.RecordBatchFileWriter, schema: pa.Schema) -> None:
        self._writer, self._schema = writer, schema

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(pa.Table.from_batches([batch]).cast(self._schema).to_batches()[0])


def _rendered(
    batch: pa.RecordBatch, render: Callable[[pa.RecordBatch], _T], threads: ThreadPoolExecutor
) -> Iterator[_T]:
    """``render`` of each slice of ``batch``, in order, a few slices rendering at once.

    Rendering is mostly Arrow and NumPy kernels, which release the GIL: the
    next ``RENDERERS`` slices are prepared (typed, their pieces worked out)
    while the caller gathers and writes the rows of this one, a few thousand
    at a time (so a slice's text never all stands in memory: fresh pages
    cost more than the gather).
    """
    pending: deque[Future[_T]] = deque()
    for start in range(0, batch.num_rows, SLICE_ROWS):
        pending.append(threads.submit(render, batch.slice(start, SLICE_ROWS)))
        if len(pending) > RENDERERS:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class _Parquet:
    def __init__(
        self, path: Path, pack: CompiledPack, compression: str | None, threads: ThreadPoolExecutor
    ) -> None:
        self._path, self._pack, self._compression = path, pack, compression
        self._threads = threads
        self.writer: pq.ParquetWriter | None = None

    def write_batch(self, batch: pa.RecordBatch) -> None:
        slices = list(_rendered(batch, partial(record_batch, pack=self._pack), self._threads))
        records = pa.Table.from_batches(slices) if slices else record_batch(batch, self._pack)
        if self.writer is None:
            options = {
                **parquet_options(records.schema),
                "compression": self._compression or "snappy",
            }
            self.writer = pq.ParquetWriter(self._path, records.schema, **options)
        # one row group per decision batch, whatever the slices
        self.writer.write_table(records, row_group_size=max(1, records.num_rows))


def _json_lines(batch: pa.RecordBatch, pack: CompiledPack) -> Iterable[pa.StringArray]:
    return json_line_chunks(record_batch(batch, pack), pack)


class _JsonLines:
    def __init__(self, file: IO[bytes], pack: CompiledPack, threads: ThreadPoolExecutor) -> None:
        self._file, self._pack, self._threads = file, pack, threads

    def write_batch(self, batch: pa.RecordBatch) -> None:
        for chunks in _rendered(batch, partial(_json_lines, pack=self._pack), self._threads):
            for chunk in chunks:
                self._file.write(text_bytes(chunk))


def _csv_lines(batch: pa.RecordBatch, pack: CompiledPack) -> Iterable[pa.Array | pa.Buffer]:
    records = record_batch(batch, pack)
    if records.column("seller_id").null_count:  # Arrow writes a null cell unquoted: let it
        out = pa.BufferOutputStream()
        options = pa_csv.WriteOptions(include_header=False)
        for table in csv_chunks(records, pack):
            pa_csv.write_csv(table, out, options)
        return [out.getvalue()]
    return csv_line_chunks(records, pack)


class _Csv:
    """CSV lines as the CSV sink's Arrow writer writes them: the header before the first row
    (no row at all: an empty file, as the sink writes no record)."""

    def __init__(self, file: IO[bytes], pack: CompiledPack, threads: ThreadPoolExecutor) -> None:
        self._file, self._pack, self._threads = file, pack, threads
        self._header = False

    def write_batch(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        if not self._header:
            self._file.write(HEADER.encode())
            self._header = True
        for parts in _rendered(batch, partial(_csv_lines, pack=self._pack), self._threads):
            for part in parts:
                self._file.write(part if isinstance(part, pa.Buffer) else text_bytes(part))


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
    if kind in RECORD_SUFFIXES:
        if pack is None:
            raise ValueError(f"{path}: {kind} records are rendered with the pack: give it")
        with ThreadPoolExecutor(RENDERERS, thread_name_prefix="decision-records") as threads:
            yield from _records(path, kind, pack, compression, threads)
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
