"""File sinks: JSONL, CSV or Parquet chosen by the output's extension, written in batches.

:func:`open_sink` returns a :class:`Sink` (a context manager) that takes Arrow
tables or record batches, or records (mappings, or objects with a
``to_json()`` method such as decisions), batch after batch, so output of any
size streams through bounded memory. The file appears atomically: rows go to
a temporary file beside the target, renamed over it on a clean close and
removed on error, so a failed run never leaves half a file.

Records are flat in CSV and Parquet: a nested value (a list or a mapping) is
written as its JSON text. The columns are fixed by the first write; a later
record with an unknown field is an error, a missing field is null. In CSV, a
text cell that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) is prefixed with ``'``
(:func:`neutralise_formulas`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

# One rule for every CSV output (records rendered in bulk too): defined with the formats.
from sellerpolicy.engine.columnar.formats import FORMULA_START, neutralise_formulas

__all__ = [
    "FORMULA_START",
    "OutputFormat",
    "Sink",
    "SupportsToJson",
    "dumps",
    "format_for",
    "neutralise_formulas",
    "open_sink",
    "write_table",
]


class OutputFormat(StrEnum):
    """Output formats, by file extension."""

    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


_EXTENSIONS = {
    ".jsonl": OutputFormat.JSONL,
    ".csv": OutputFormat.CSV,
    ".parquet": OutputFormat.PARQUET,
}


@runtime_checkable
class SupportsToJson(Protocol):
    """A value that knows its JSON record form (decisions do)."""

    def to_json(self) -> dict[str, object]:
        """The record as JSON-compatible values."""
        ...


Item = Mapping[str, object] | SupportsToJson


def format_for(path: Path) -> OutputFormat:
    """The format named by ``path``'s extension; ValueError naming the choices otherwise."""
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        choices = ", ".join(sorted(_EXTENSIONS))
        raise ValueError(f"{path}: unknown output extension {path.suffix!r} (use {choices})")
    return fmt


def _to_json(value: object) -> dict[str, object] | None:
    """``value.to_json()`` for a value that has one, else ``None``.

    (Not ``isinstance(value, SupportsToJson)``: a runtime protocol check
    costs ~30 us a call, more than encoding a whole decision.)
    """
    method = getattr(value, "to_json", None)
    return method() if callable(method) else None


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    record = _to_json(value)
    if record is not None:
        return record
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def dumps(value: object) -> str:
    return json.dumps(value, default=_json_default, allow_nan=False, separators=(",", ":"))


def _record(item: Item) -> Mapping[str, object]:
    record = None if isinstance(item, Mapping) else _to_json(item)
    return item if record is None else record  # type: ignore[return-value]


def _flat(value: object) -> object:
    if isinstance(value, Mapping | list | tuple):
        return dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot write the non-finite number {value}")
    return value


class Sink(AbstractContextManager["Sink"]):
    """An output file being written; use as a context manager (see :func:`open_sink`)."""

    def __init__(self, path: Path, batch_size: int = 10_000) -> None:
        self.path = path
        self.format = format_for(path)
        self.rows = 0
        self._batch_size = batch_size
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._text: IO[str] | None = None
        self._writer: pa_csv.CSVWriter | pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._closed = False
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.format is OutputFormat.JSONL:
            self._text = self._tmp.open("w", encoding="utf-8")

    def write(self, data: pa.Table | pa.RecordBatch | Iterable[Item]) -> int:
        """Append an Arrow table/batch or records; return the rows written by this call."""
        if isinstance(data, pa.Table | pa.RecordBatch):
            written = self._write_arrow(data)
            self.rows += written
            return written
        written = 0
        chunk: list[Mapping[str, object]] = []
        for item in data:
            chunk.append(_record(item))
            if len(chunk) >= self._batch_size:
                written += self._write_records(chunk)
                self.rows += len(chunk)
                chunk = []
        if chunk:
            written += self._write_records(chunk)
            self.rows += len(chunk)
        return written

    def _write_arrow(self, data: pa.Table | pa.RecordBatch) -> int:
        if self._text is not None:
            batches = data.to_batches() if isinstance(data, pa.Table) else [data]
            for batch in batches:
                self._write_lines(batch.to_pylist())
            return int(data.num_rows)
        table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
        self._columnar(table)
        return int(data.num_rows)

    def _write_records(self, records: list[Mapping[str, object]]) -> int:
        if self._text is not None:
            self._write_lines(records)
            return len(records)
        if self._schema is None:
            self._schema = _schema_of(records)
        known = set(self._schema.names)
        columns: dict[str, list[object]] = {name: [] for name in self._schema.names}
        for index, record in enumerate(records):
            extra = set(record) - known
            if extra:
                raise ValueError(
                    f"{self.path}: record {self.rows + index + 1} has new fields "
                    f"{sorted(extra)} (columns are fixed by the first record)"
                )
            for name in self._schema.names:
                columns[name].append(_flat(record.get(name)))
        arrays = [
            _array(self.path, name, values, self._schema.field(name).type)
            for name, values in columns.items()
        ]
        self._columnar(pa.Table.from_arrays(arrays, schema=self._schema))
        return len(records)

    def _write_lines(self, records: Iterable[Mapping[str, object]]) -> None:
        if self._text is None:
            raise RuntimeError(f"{self.path}: not a JSONL sink")
        self._text.writelines(dumps(record) + "\n" for record in records)

    def _columnar(self, table: pa.Table) -> None:
        if self._writer is None:
            self._schema = table.schema
            if self.format is OutputFormat.CSV:
                self._writer = pa_csv.CSVWriter(str(self._tmp), table.schema)
            else:
                self._writer = pq.ParquetWriter(str(self._tmp), table.schema)
        elif table.schema != self._schema:
            table = table.cast(self._schema)
        if self.format is OutputFormat.CSV:
            table = neutralise_formulas(table)
        self._writer.write_table(table)

    def close(self, *, keep: bool = True) -> None:
        """Finish the file (renamed into place) or, with ``keep=False``, discard it.

        Closing twice does nothing the second time.
        """
        if self._closed:
            return
        self._closed = True
        if self._text is not None:
            self._text.close()
        if self._writer is not None:
            self._writer.close()
        if not keep:
            self._tmp.unlink(missing_ok=True)
            return
        if not self._tmp.exists():  # no write at all: an empty output
            if self.format is OutputFormat.JSONL:
                self._tmp.touch()
            else:
                self._columnar(pa.table({}))
                if self._writer is not None:
                    self._writer.close()
        self._tmp.replace(self.path)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(keep=exc_type is None)


def _array(path: Path, name: str, values: list[object], typ: pa.DataType) -> pa.Array:
    """One column of records in the sink's fixed type (strings take any scalar's text)."""
    if typ == pa.string():
        values = [v if v is None or isinstance(v, str) else str(v) for v in values]
    try:
        return pa.array(values, typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(
            f"{path}: field {name!r} does not fit its column type {typ}: {exc}"
        ) from exc


def _schema_of(records: list[Mapping[str, object]]) -> pa.Schema:
    """Column types from the first batch of records (all-null columns become strings)."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    fields = []
    for name in names:
        values = [_flat(r.get(name)) for r in records]
        kinds = {type(v) for v in values if v is not None}
        if kinds == {bool}:
            typ = pa.bool_()
        elif kinds == {int}:
            typ = pa.int64()
        elif kinds and kinds <= {int, float}:
            typ = pa.float64()
        else:
            typ = pa.string()
        fields.append(pa.field(name, typ))
    return pa.schema(fields)


def open_sink(path: Path | str, batch_size: int = 10_000) -> Sink:
    """A sink writing ``path`` in the format of its extension (ValueError if unknown)."""
    return Sink(Path(path), batch_size)


def write_table(data: pa.Table | pa.RecordBatchReader, path: Path | str) -> int:
    """Write an Arrow table or a stream of batches to ``path``; return the row count."""
    with open_sink(path) as sink:
        if isinstance(data, pa.RecordBatchReader):
            return sum(sink.write(batch) for batch in data)
        return sink.write(data)
