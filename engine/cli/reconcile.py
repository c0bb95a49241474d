"""``sellerpolicy reconcile``: computed metrics against the metrics a marketplace reported."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sellerpolicy.engine.cli.root import EXIT_FINDINGS, app, check_out_folder, out_console

if TYPE_CHECKING:
    from sellerpolicy.engine.importers.reconcile import ReconcileResult, Side

EPILOG = """\
Examples:

  sellerpolicy import amazon-account-health A1B2C3.json --out reported.jsonl
  sellerpolicy reconcile --source data/ --reported reported.jsonl --pack amazon \\
      --as-of 2020-11-20 --out reconcile.jsonl

Per account and metric use: equal, within the tolerance (absolute for rates and
averages, relative for counts and amounts), different (both values and both
counts), not reported, not computed, or not carried (the source was imported
from reports that do not carry the metric). Then where the definitions differ:
the reported window (from <reported stem>.windows.jsonl) against the pack's, and
what the report counts against the pack's knobs.

Exit codes: 0 no difference beyond the tolerance; 1 differences; 2 unusable input.
"""

_SHOWN = 10


@app.command("reconcile", epilog=EPILOG)
def reconcile_command(
    *,
    source: Annotated[Path, typer.Option("--source", help="Source folder or DuckDB file.")],
    reported: Annotated[
        Path, typer.Option("--reported", help="Reported facts: .jsonl, .csv or .parquet.")
    ],
    pack: Annotated[str, typer.Option("--pack", help="Pack file, folder, or shipped name.")],
    as_of: Annotated[
        datetime,
        typer.Option("--as-of", formats=["%Y-%m-%d"], help="Date both sides are as of."),
    ],
    tolerance: Annotated[
        float, typer.Option("--tolerance", min=0.0, help="Largest difference still agreeing.")
    ] = 0.0005,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write every comparison here (JSON lines).")
    ] = None,
) -> None:
    """Compare the metrics computed from a source with the metrics a marketplace reported."""
    from datetime import UTC

    from sellerpolicy.engine.importers.reconcile import reconcile
    from sellerpolicy.engine.sources.rejects import rejects_path_for, write_rejects
    from sellerpolicy.rules import load_pack, resolve_pack

    if out is not None:
        check_out_folder(out)
    compiled = load_pack(resolve_pack(pack))
    result = reconcile(source, reported, compiled, as_of.replace(tzinfo=UTC), tolerance=tolerance)
    console = out_console()
    if out is not None:
        with out.open("w", encoding="utf-8") as fh:
            for row in result.rows:
                fh.write(row.to_json() + "\n")
        if result.source.rejects:
            write_rejects(result.source.rejects, rejects_path_for(out))
    for table in _tables(result, compiled.id):
        console.print(table)
    for row in result.different[:_SHOWN]:
        ours, theirs = row.computed, row.reported
        console.print(
            f"different: {row.seller_id} {row.metric}: computed {_side(ours)}, "
            f"reported {_side(theirs)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if len(result.different) > _SHOWN:
        more = len(result.different) - _SHOWN
        console.print(f"... and {more:,} more" + (f" in {out}" if out else ""), highlight=False)
    if result.different:
        raise typer.Exit(EXIT_FINDINGS)


def _side(side: Side) -> str:
    """``0.0123 (12 of 975)``, or ``null``."""
    counts = ""
    if side.num is not None and side.den is not None:
        counts = f" ({side.num:g} of {side.den:g})"
    return f"{side.value:.6g}{counts}" if side.value is not None else "null"


def _tables(result: ReconcileResult, pack: str) -> list[Table]:
    from sellerpolicy.engine.importers.reconcile import Status

    counts = Table(
        title=(
            f"{pack}: {result.sellers_computed:,} accounts computed, "
            f"{result.sellers_reported:,} reported"
        )
    )
    counts.add_column("metric")
    for status in Status:
        counts.add_column(status.value.replace("_", " "), justify="right")
    for metric, by_status in result.counts.items():
        counts.add_row(metric, *(f"{by_status[s]:,}" for s in Status))
    definitions = Table(title="Where the definitions differ")
    for column in ("metric", "aspect", "pack", "reported", "accounts"):
        definitions.add_column(column, justify="right" if column == "accounts" else "left")
    for note in result.definitions:
        definitions.add_row(
            note.metric,
            note.aspect,
            note.pack,
            note.reported,
            f"{note.sellers:,}" if note.sellers else "",
        )
    if not result.definitions:
        definitions.add_row("(none)", "", "", "", "")
    return [counts, definitions]
