"""``sellerpolicy decisions``: decision records (JSON lines, CSV, Parquet) from decision files."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sellerpolicy.engine.cli.root import app, check_out_folder

if TYPE_CHECKING:
    import pyarrow as pa

    from sellerpolicy.rules.model import CompiledPack

EPILOG = """\
Examples:

  # a fast run writes columns; read two sellers' full decisions from it
  sellerpolicy evaluate --pack amazon --source data/ --as-of 2026-11-01 \\
      --out decisions.arrows
  sellerpolicy decisions decisions.arrows --pack amazon --seller S000123 \\
      --seller S000456

  # every decision of a distributed run's folder, as JSON lines
  sellerpolicy decisions decisions/ --pack amazon --out decisions.jsonl

The columnar layout (.arrows, .arrow) keeps codes and the facts;
explanations, reasons and distances to compliance are rebuilt with the pack
that made the decisions (its digest is checked), exactly as evaluate writes
them in JSON lines. Parquet files hold typed records and read back the same.
"""

_SUFFIXES = (".arrows", ".arrow", ".feather", ".parquet")


@app.command("decisions", epilog=EPILOG)
def decisions_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="Decisions: an .arrows or .arrow file, a .parquet file written by evaluate,"
            " or the folder of a distributed run (part-*.parquet)."
        ),
    ],
    *,
    pack: Annotated[str, typer.Option(help="The pack that made them: name, folder or pack.yaml.")],
    seller: Annotated[
        list[str] | None, typer.Option(help="Only this seller (repeat for several).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write .jsonl, .csv or .parquet records here (default: JSON lines on stdout)."
        ),
    ] = None,
) -> None:
    """Full decision records from decision files, for every seller or the ones asked."""
    if out is not None:
        check_out_folder(out)
        if out.suffix.lower() not in (".jsonl", ".csv", ".parquet"):
            raise typer.BadParameter(
                f"{out}: write .jsonl, .csv or .parquet records", param_hint="--out"
            )
    import pyarrow as pa

    from sellerpolicy.engine.columnar.records import json_line_chunks, text_bytes
    from sellerpolicy.engine.columnar.typed import record_batch
    from sellerpolicy.engine.columnar.write import write_decisions
    from sellerpolicy.rules import load_pack

    compiled = load_pack(pack)
    wanted = pa.array(sorted(set(seller)), pa.string()) if seller else None
    found: set[str] = set()

    def records() -> Iterator[pa.RecordBatch]:
        for batch in _selected(_batches(path), wanted):
            typed = record_batch(batch, compiled)
            found.update(typed.column("seller_id").to_pylist() if wanted is not None else ())
            yield typed

    try:
        if out is None:
            for typed in records():
                for chunk in json_line_chunks(typed, compiled):
                    sys.stdout.write(bytes(text_bytes(chunk)).decode("ascii"))
        else:
            batches = records()
            first = next(batches, None)
            if first is None:
                first = _empty(path, compiled)
            write_decisions(_chain(first, batches), out, pack=compiled)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--pack") from exc
    missing = sorted(set(seller or ()) - found)
    if missing:
        raise typer.BadParameter(
            f"no decision in {path} for seller(s) {', '.join(missing[:10])}"
            + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""),
            param_hint="--seller",
        )


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _empty(path: Path, pack: CompiledPack) -> pa.RecordBatch:
    """No decision selected: an empty batch of the first file's layout, as records."""
    import pyarrow as pa

    from sellerpolicy.engine.columnar.typed import record_batch

    schema = next(_schemas(path))
    return record_batch(pa.RecordBatch.from_pylist([], schema=schema), pack)


def _files(path: Path) -> list[Path]:
    """The decision files of ``path``; a usage error when there are none."""
    if path.is_dir():
        files = sorted(path.glob("part-*.parquet"))
        if not files:
            raise typer.BadParameter(f"{path}: no part-*.parquet files in this folder")
        return files
    if path.suffix.lower() not in _SUFFIXES:
        raise typer.BadParameter(
            f"{path}: give an .arrows, .arrow or .parquet file of decisions, or a distributed"
            " run's folder (JSON lines and CSV from evaluate already hold full decisions)"
        )
    if not path.is_file():
        raise typer.BadParameter(f"{path}: no such file or folder")
    return [path]


def _schemas(path: Path) -> Iterator[pa.Schema]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for file in _files(path):
        kind = file.suffix.lower()
        if kind == ".parquet":
            yield pq.read_schema(file)
        elif kind == ".arrows":
            with pa.ipc.open_stream(file) as reader:
                yield reader.schema
        else:
            with pa.ipc.open_file(file) as opened:
                yield opened.schema


def _batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The decision (or record) batches of ``path``; a usage error for anything else."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for file in _files(path):
        kind = file.suffix.lower()
        try:
            if kind == ".arrows":
                with pa.ipc.open_stream(file) as reader:
                    _check(file, reader.schema)
                    yield from reader
            elif kind == ".parquet":
                parquet = pq.ParquetFile(file)
                _check(file, parquet.schema_arrow)
                yield from parquet.iter_batches()
            else:
                with pa.ipc.open_file(file) as opened:
                    _check(file, opened.schema)
                    for k in range(opened.num_record_batches):
                        yield opened.get_batch(k)
        except (pa.ArrowInvalid, OSError) as exc:
            raise typer.BadParameter(f"{file}: not decisions: {exc}") from exc


def _check(file: Path, schema: pa.Schema) -> None:
    """A usage error unless ``schema`` is a decision layout (its metadata says which)."""
    from sellerpolicy.engine.columnar.read import EXPLAIN_KEY

    if EXPLAIN_KEY not in (schema.metadata or {}):
        raise typer.BadParameter(
            f"{file}: not decisions written by evaluate (records from evaluate, JSON lines or"
            " CSV, already hold full decisions)"
        )


def _selected(
    batches: Iterator[pa.RecordBatch], wanted: pa.Array | None
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.compute as pc

    for batch in batches:
        if wanted is None:
            yield batch
        else:
            keep = pc.is_in(batch.column("seller_id").cast(pa.string()), value_set=wanted)
            picked = batch.filter(keep)
            if picked.num_rows:
                yield picked
