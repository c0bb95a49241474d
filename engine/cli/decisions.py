"""``sellerpolicy decisions``: records (JSON lines, CSV, Parquet) from columnar decisions."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sellerpolicy.engine.cli.root import app, check_out_folder

if TYPE_CHECKING:
    import pyarrow as pa

EPILOG = """\
Examples:

  # a fast run writes columns; read two sellers' full decisions from it
  sellerpolicy evaluate --pack amazon --source data/ --as-of 2026-11-01 \\
      --out decisions.arrows
  sellerpolicy decisions decisions.arrows --pack amazon --seller S000123 \\
      --seller S000456

  # every decision of a distributed run's folder, as JSON lines
  sellerpolicy decisions decisions/ --pack amazon --out decisions.jsonl

The columnar layout keeps codes and the facts; explanations, reasons and
distances to compliance are rebuilt with the pack that made the decisions
(its digest is checked), exactly as evaluate writes them in JSON lines.
"""


@app.command("decisions", epilog=EPILOG)
def decisions_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="Columnar decisions: an .arrows file, a columnar .parquet file, or the"
            " folder of a distributed run (part-*.parquet)."
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
    """Full decision records from columnar decisions, for every seller or the ones asked."""
    if out is not None:
        check_out_folder(out)
    import pyarrow as pa

    from sellerpolicy.engine.batch.sinks import dumps, open_sink
    from sellerpolicy.engine.columnar.decisions import decisions_from_batch
    from sellerpolicy.rules import load_pack

    compiled = load_pack(pack)
    wanted = pa.array(sorted(set(seller)), pa.string()) if seller else None
    batches = _batches(path)
    found: set[str] = set()
    try:
        if out is None:
            for batch in _selected(batches, wanted):
                for decision in decisions_from_batch(batch, compiled):
                    sys.stdout.write(dumps(decision) + "\n")
                    found.add(decision.seller_id)
        else:
            with open_sink(out) as sink:
                for batch in _selected(batches, wanted):
                    decisions = decisions_from_batch(batch, compiled)
                    sink.write(decisions)
                    found.update(d.seller_id for d in decisions)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--pack") from exc
    missing = sorted(set(seller or ()) - found)
    if missing:
        raise typer.BadParameter(
            f"no decision in {path} for seller(s) {', '.join(missing[:10])}"
            + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""),
            param_hint="--seller",
        )


def _batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The decision batches of ``path``; a usage error when it holds no columnar decisions."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.is_dir():
        files = sorted(path.glob("part-*.parquet"))
        if not files:
            raise typer.BadParameter(f"{path}: no part-*.parquet files in this folder")
    elif path.suffix.lower() not in (".arrows", ".parquet"):
        raise typer.BadParameter(
            f"{path}: give an .arrows or columnar .parquet file, or a distributed run's folder"
            " (JSON lines and CSV from evaluate already hold full decisions)"
        )
    elif path.is_file():
        files = [path]
    else:
        raise typer.BadParameter(f"{path}: no such file or folder")
    for file in files:
        try:
            if file.suffix.lower() == ".arrows":
                with pa.ipc.open_stream(file) as reader:
                    _check(file, reader.schema)
                    yield from reader
            else:
                parquet = pq.ParquetFile(file)
                _check(file, parquet.schema_arrow)
                yield from parquet.iter_batches()
        except (pa.ArrowInvalid, OSError) as exc:
            raise typer.BadParameter(f"{file}: not columnar decisions: {exc}") from exc


def _check(file: Path, schema: pa.Schema) -> None:
    """A usage error unless ``schema`` is the columnar decision layout (its metadata says)."""
    from sellerpolicy.engine.columnar.read import EXPLAIN_KEY

    if EXPLAIN_KEY not in (schema.metadata or {}):
        raise typer.BadParameter(
            f"{file}: not columnar decisions (records from evaluate, JSON lines, CSV or"
            " Parquet, already hold full decisions)"
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
