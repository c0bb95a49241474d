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
on :data:`RENDERERS` threads while the writer's thread consumes what was
rendered before, without a pause between decision batches: typed records
batch by batch for Parquet (one row group each), text slice by slice
(:data:`SLICE_ROWS` decisions) for JSON lines and CSV, whose bytes go to the
file on a thread of their own (:class:`_Spool`), all in order. CSV text
cells a spreadsheet would run as a formula are quoted
(:func:`neutralise_formulas`).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import IO, Any, Generic, Protocol, TypeVar

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
#: Chunks of record text waiting for the file (each a few thousand records).
SPOOLED = 4
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
    ``seller_id`` and ``status`` only. Snappy compression, but for decision
    ids (random: Snappy saves a tenth of their bytes for most of the
    writer's time on them).
    """
    dictionary: list[str] = []
    encoding: dict[str, str] = {}
    compression: dict[str, str] = {}
    for field in schema:
        for path, kind in _leaves(field.name, field.type):
            compression[path] = "none" if field.name == "decision_id" else "snappy"
            if field.name == "facts":
                if pa.types.is_integer(kind):
                    encoding[path] = "DELTA_BINARY_PACKED"
            elif field.name not in ("seller_id", "decision_id"):
                dictionary.append(path)
    return {
        "compression": compression,
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
            parquet.finish()
        except BaseException:
            parquet.pipeline.drop()
            raise
        finally:
            if parquet.writer is not None:
                parquet.writer.close()
        return
    with path.open("wb") as text:
        spool = _Spool(text)
        lines = _JsonLines(spool, pack, threads) if kind == ".jsonl" else _Csv(spool, pack, threads)
        try:
            yield lines
            lines.pipeline.finish()
        except BaseException:
            lines.pipeline.drop()
            spool.close(check=False)
            raise
        spool.close()


class _ArrowFile:
    def __init__(self, writer: pa.ipc.RecordBatchFileWriter, schema: pa.Schema) -> None:
        self._writer, self._schema = writer, schema

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(pa.Table.from_batches([batch]).cast(self._schema).to_batches()[0])


class _Spool:
    """Bytes written to a file in order on a thread of their own.

    Copying a record format's text into the file (fresh pages of the page
    cache) costs about as much as gathering it: the two overlap. At most
    :data:`SPOOLED` chunks (a few MB each) wait; a write error is raised by
    the next :meth:`write` or by :meth:`close`.
    """

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._queue: queue.Queue[memoryview | bytes | None] = queue.Queue(maxsize=SPOOLED)
        self._failures: list[BaseException] = []
        self._thread = threading.Thread(target=self._drain, name="decision-spool", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while (data := self._queue.get()) is not None:
                self._file.write(data)
        except BaseException as exc:  # raised in the writer's thread by write() or close()
            self._failures.append(exc)
            while self._queue.get() is not None:
                pass

    def write(self, data: memoryview | bytes) -> None:
        """Queue ``data`` (kept alive until written)."""
        if self._failures:
            raise self._failures[0]
        self._queue.put(data)

    def close(self, *, check: bool = True) -> None:
        """Wait for every queued write; raise the first write error unless ``check`` is false."""
        self._queue.put(None)
        self._thread.join()
        if check and self._failures:
            raise self._failures[0]


class _Pipeline(Generic[_T]):
    """Slices rendered on the pool, consumed in order, rendering running ahead across batches.

    Rendering is mostly Arrow and NumPy kernels, which release the GIL: up to
    ``RENDERERS`` slices are prepared (typed, their pieces worked out) while
    the caller consumes (gathers and writes) the one before, and the pipeline
    never drains between decision batches (it did: a batch's last slice was
    consumed with nothing rendering beside it). :meth:`finish` consumes what
    is left; a writer leaving on an error drops it.
    """

    def __init__(
        self,
        threads: ThreadPoolExecutor,
        render: Callable[[pa.RecordBatch], _T],
        consume: Callable[[_T], None],
        *,
        whole: bool = False,
    ) -> None:
        self._threads, self._render, self._consume, self._whole = threads, render, consume, whole
        self._pending: deque[Future[_T]] = deque()

    def add(self, batch: pa.RecordBatch) -> None:
        """Render ``batch``'s slices; consume the oldest ones once enough run ahead."""
        rows = max(1, batch.num_rows) if self._whole else SLICE_ROWS
        for start in range(0, batch.num_rows, rows):
            self._pending.append(self._threads.submit(self._render, batch.slice(start, rows)))
            while len(self._pending) > RENDERERS:
                self._consume(self._pending.popleft().result())

    def finish(self) -> None:
        """Consume every slice still pending, in order."""
        while self._pending:
            self._consume(self._pending.popleft().result())

    def drop(self) -> None:
        """Forget what is pending (on an error): cancelled, or left to finish unread."""
        while self._pending:
            self._pending.popleft().cancel()


class _Parquet:
    """Typed records to Parquet: a decision batch is typed on the pool while the one
    before is encoded (one row group per decision batch)."""

    def __init__(
        self, path: Path, pack: CompiledPack, compression: str | None, threads: ThreadPoolExecutor
    ) -> None:
        self._path, self._pack, self._compression = path, pack, compression
        self.writer: pq.ParquetWriter | None = None
        self._empty: pa.RecordBatch | None = None  # a batch without rows, for the schema
        # one slice per decision batch: typing a batch whole costs less than in slices
        self.pipeline = _Pipeline(
            threads, partial(record_batch, pack=pack), self._write, whole=True
        )

    def write_batch(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            self._empty = batch
        self.pipeline.add(batch)

    def finish(self) -> None:
        """Write what is pending; without any decision, a file of the records' schema."""
        self.pipeline.finish()
        if self.writer is None and self._empty is not None:
            self._write(record_batch(self._empty, self._pack))

    def _write(self, records: pa.RecordBatch) -> None:
        if self.writer is None:
            options = parquet_options(records.schema)
            if self._compression is not None:
                options["compression"] = self._compression
            self.writer = pq.ParquetWriter(self._path, records.schema, **options)
        self.writer.write_batch(records, row_group_size=max(1, records.num_rows))


def _json_lines(batch: pa.RecordBatch, pack: CompiledPack) -> Iterable[pa.StringArray]:
    return json_line_chunks(record_batch(batch, pack), pack)


class _JsonLines:
    def __init__(self, file: _Spool, pack: CompiledPack, threads: ThreadPoolExecutor) -> None:
        self._file = file
        self.pipeline = _Pipeline(threads, partial(_json_lines, pack=pack), self._write)

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self.pipeline.add(batch)

    def _write(self, chunks: Iterable[pa.StringArray]) -> None:
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

    def __init__(self, file: _Spool, pack: CompiledPack, threads: ThreadPoolExecutor) -> None:
        self._file = file
        self._header = False
        self.pipeline = _Pipeline(threads, partial(_csv_lines, pack=pack), self._write)

    def write_batch(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        if not self._header:
            self._file.write(HEADER.encode())
            self._header = True
        self.pipeline.add(batch)

    def _write(self, parts: Iterable[pa.Array | pa.Buffer]) -> None:
        for part in parts:
            self._file.write(memoryview(part) if isinstance(part, pa.Buffer) else text_bytes(part))


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
