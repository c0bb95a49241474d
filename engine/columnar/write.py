"""Streaming decision batches to one file in any output format, encoding on a second core.

Encoding (Parquet, records) is the slowest stage of the bulk path, so the
file is written by a thread that encodes batch ``k`` while the caller's
iterator computes batch ``k + 1`` (Arrow's and NumPy's kernels release the
GIL). The formats themselves are :mod:`.formats`.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from sellerpolicy.rules.model import CompiledPack

from .formats import RECORD_SUFFIXES, SUFFIXES, open_output, parquet_options

__all__ = ["parquet_options", "write_decisions"]  # parquet_options: from .formats


def write_decisions(
    chunks: Iterable[pa.RecordBatch],
    out: str | Path,
    *,
    compression: str | None = None,
    pack: CompiledPack | None = None,
) -> int:
    """Stream decision batches to one file; returns the number of decisions.

    The format is the extension's (:mod:`.formats`): ``.arrows`` (an Arrow
    IPC stream, the batches as they are, uncompressed unless ``compression``
    says ``lz4`` or ``zstd``: the fastest to write and to read, zero-copy
    with Arrow tools), ``.arrow`` / ``.feather`` (the IPC file format,
    dictionaries decoded), and, rendered with ``pack``, the typed records
    of ``.parquet`` (``compression`` Snappy unless given), JSON lines
    (``.jsonl``) and ``.csv``.

    A writer thread encodes batch ``k`` while the caller's iterator computes
    batch ``k + 1`` (the encoders release the GIL); at most two batches wait
    in between, so memory stays bounded. ValueError for another extension,
    a record format without ``pack``, or no batch at all; on any error the
    partial file is removed.
    """
    path = Path(out)
    kind = path.suffix.lower()
    if kind not in SUFFIXES:
        raise ValueError(
            f"{path}: decisions are written as {', '.join(SUFFIXES)} files, not {kind!r}"
        )
    if kind in RECORD_SUFFIXES and pack is None:
        raise ValueError(f"{path}: {kind} records are rendered with the pack that made them")
    iterator = iter(chunks)
    first = next(iterator, None)
    if first is None:
        raise ValueError(f"{path}: no decision batches to write (empty input)")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name beside the target, renamed when complete: a
    # run stopped at any point (even killed) never leaves a partial file at ``out``.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    schema = first.schema
    pending: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=2)
    failures: list[BaseException] = []

    def drain() -> None:
        try:
            with open_output(
                temporary, schema, kind=kind, pack=pack, compression=compression
            ) as writer:
                while (batch := pending.get()) is not None:
                    writer.write_batch(batch)
        except BaseException as exc:  # handed to the caller's thread below
            failures.append(exc)
            while pending.get() is not None:
                pass

    thread = threading.Thread(target=drain, name="decision-writer", daemon=True)
    thread.start()
    rows = 0
    try:
        for chunk in itertools.chain([first], iterator):
            if failures:
                break
            batch = chunk
            if batch.schema != schema:
                batch = pa.Table.from_batches([batch]).cast(schema).to_batches()[0]
            pending.put(batch)
            rows += batch.num_rows
    except BaseException:
        pending.put(None)
        thread.join()
        temporary.unlink(missing_ok=True)
        raise
    pending.put(None)
    thread.join()
    if failures:
        temporary.unlink(missing_ok=True)
        raise failures[0]
    temporary.replace(path)
    return rows
