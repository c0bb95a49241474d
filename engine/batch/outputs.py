"""The per-seller path's decision outputs: record sinks, and Parquet in the typed layout.

Decisions evaluated one seller at a time (durable-rules, the plain Python
back end, ``explain=full``) are written by :func:`open_decision_sink`:
JSON lines and CSV through the record sinks of :mod:`.sinks`, ``.parquet``
in the typed record layout every run writes
(:mod:`~sellerpolicy.engine.columnar.typed`), so a Parquet output has one
layout whatever the back end. The file appears atomically (a temporary
file beside the target, renamed on a clean close, removed on error).

The facts struct of such a file is typed from the first chunk of decisions:
``int64`` for a fact whose values there are all whole Python ints,
``float64`` otherwise (a later whole number in a float fact stays a float).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from sellerpolicy.engine.columnar.formats import parquet_options
from sellerpolicy.engine.columnar.typed_rows import records_from_decisions
from sellerpolicy.engine.evaluation.decision import Decision
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.compute import fact_columns
from sellerpolicy.rules.model import CompiledPack

from .sinks import OutputFormat, format_for, open_sink

__all__ = ["DecisionSink", "facts_type", "open_decision_sink"]


class DecisionSink(Protocol):
    """Takes chunks of decisions; a context manager that finishes (or discards) the file."""

    def write(self, data: Sequence[Decision]) -> int: ...

    def __enter__(self) -> DecisionSink: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def facts_type(decisions: Sequence[Decision]) -> pa.StructType:
    """The facts struct of a chunk of decisions (see the module's docstring)."""
    whole: dict[str, bool] = {}
    seen: set[str] = set()
    for decision in decisions:
        for name, value in decision.facts.items():
            if value is None:
                whole.setdefault(name, True)
            else:
                seen.add(name)
                number = isinstance(value, int) and not isinstance(value, bool)
                whole[name] = whole.get(name, True) and number
    return pa.struct(
        [(n, pa.int64() if ok and n in seen else pa.float64()) for n, ok in whole.items()]
    )


class _RecordParquet(AbstractContextManager["_RecordParquet"]):
    """Decisions written as typed records to a Parquet file, chunk by chunk."""

    def __init__(self, path: Path, pack: CompiledPack, explain: ExplainLevel) -> None:
        self.path, self.rows = path, 0
        self._pack, self._explain = pack, explain
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._writer: pq.ParquetWriter | None = None
        self._facts: pa.StructType | None = None
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, data: Sequence[Decision]) -> int:
        if self._facts is None:
            if not data:
                return 0
            self._facts = facts_type(data)
        batch = records_from_decisions(data, self._pack, self._facts, self._explain)
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self._tmp, batch.schema, **parquet_options(batch.schema)
            )
        self._writer.write_batch(batch)
        written: int = batch.num_rows
        self.rows += written
        return written

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is None and exc_type is None:  # no decision: the pack's facts, floats
            names = [c for c in fact_columns(self._pack.metrics) if c not in ("seller_id", "as_of")]
            self._facts = pa.struct([(name, pa.float64()) for name in names])
            empty = records_from_decisions([], self._pack, self._facts, self._explain)
            self._writer = pq.ParquetWriter(self._tmp, empty.schema)
        if self._writer is not None:
            self._writer.close()
        if exc_type is None:
            self._tmp.replace(self.path)
        else:
            self._tmp.unlink(missing_ok=True)


def open_decision_sink(
    path: Path, pack: CompiledPack, explain: ExplainLevel = ExplainLevel.SUMMARY
) -> DecisionSink:
    """A sink for ``path``'s format (ValueError for an unknown extension)."""
    if format_for(path) is OutputFormat.PARQUET:
        return _RecordParquet(path, pack, explain)
    return open_sink(path)
