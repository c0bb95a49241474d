"""``sellerpolicy metrics``: compute a pack's metric facts from a source and write them."""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sellerpolicy.engine.cli.output import FormatOption, SummaryFormat, print_json
from sellerpolicy.engine.cli.root import EXIT_FINDINGS, app, check_out_folder, err_console

EPILOG = """\
Examples:

  sellerpolicy metrics --source data/ --pack amazon --as-of 2026-11-01 --out facts.jsonl

  sellerpolicy metrics --source big/ --pack policies/ebay --as-of 2026-11-01 \\
      --out facts.parquet --memory-limit 2GB --strict

Writes one record per seller (seller_id, as_of, orders, one field per metric use
and <name>__num / <name>__den for rates); rejected input rows go to
<out without extension>.rejects.jsonl beside the output.
"""

_WARNINGS_SHOWN = 5


@app.command("metrics", epilog=EPILOG)
def metrics_command(
    *,
    source: Annotated[
        Path, typer.Option("--source", help="Source folder (<table>.csv|parquet|jsonl) or DB.")
    ],
    pack: Annotated[str, typer.Option("--pack", help="Pack file, folder, or shipped name.")],
    as_of: Annotated[
        datetime,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
            help="Evaluation instant; a date means 00:00 UTC.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output file: .jsonl, .csv or .parquet.")],
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 (and write no facts) if any row is rejected.")
    ] = False,
    memory_limit: Annotated[
        str | None,
        typer.Option("--memory-limit", help="DuckDB memory limit, e.g. 4GB; larger work spills."),
    ] = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Compute the metric facts a pack needs, per seller, as of a date."""
    import duckdb

    from sellerpolicy.engine.batch.sinks import format_for, write_table
    from sellerpolicy.engine.metrics.compute import compute_metrics, configure_connection
    from sellerpolicy.engine.metrics.facts import as_of_instant, as_of_label
    from sellerpolicy.engine.sources.reader import load_source
    from sellerpolicy.engine.sources.rejects import rejects_path_for, write_rejects
    from sellerpolicy.rules import load_pack, resolve_pack

    check_out_folder(out)
    try:
        format_for(out)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--out") from exc
    started = time.perf_counter()
    compiled = load_pack(resolve_pack(pack))
    instant = as_of_instant(as_of)
    console = err_console()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with (
        tempfile.TemporaryDirectory(prefix="sellerpolicy-spill-") as spill,
        duckdb.connect() as con,
        Progress(*columns, console=console, transient=True) as progress,
    ):
        try:
            configure_connection(con, memory_limit=memory_limit, temp_directory=Path(spill))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--memory-limit") from exc
        task = progress.add_task(f"loading {source}")
        report = load_source(source, con)
        rejects_path = rejects_path_for(out)
        if report.rejects:
            out.parent.mkdir(parents=True, exist_ok=True)
            write_rejects(report.rejects, rejects_path)
        if strict and report.rejects:
            err_console().print(
                f"error: {report.reject_count:,} rejected rows (see {rejects_path}); "
                "--strict forbids rejects",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(EXIT_FINDINGS)
        progress.update(task, description=f"computing {len(compiled.metrics)} metric uses")
        result = compute_metrics(con, compiled.metrics, instant)
        progress.update(task, description=f"writing {out}")
        written = write_table(result.table, out)
    if output_format is SummaryFormat.JSON:
        print_json(
            {
                "pack": compiled.id,
                "pack_version": compiled.version,
                "as_of": as_of_label(instant),
                "sellers": written,
                "orders": report.rows_valid.get("orders", 0),
                "rejects": report.reject_count,
                "rejects_path": rejects_path if report.rejects else None,
                "warnings": [
                    {"seller_id": w.seller_id, "metric": w.metric, "message": w.message}
                    for w in result.warnings
                ],
                "seconds": round(time.perf_counter() - started, 3),
                "output": out,
            }
        )
        return
    summary = Table("", "", title=f"metrics of {compiled.id} {compiled.version}", show_header=False)
    summary.add_row("sellers", f"{written:,}")
    summary.add_row("orders", f"{report.rows_valid.get('orders', 0):,}")
    summary.add_row(
        "rejects", f"{report.reject_count:,}" + (f" ({rejects_path})" if report.rejects else "")
    )
    summary.add_row("warnings", f"{len(result.warnings):,}")
    summary.add_row("seconds", f"{time.perf_counter() - started:.2f}")
    summary.add_row("output", str(out))
    console.print(summary)
    for warning in result.warnings[:_WARNINGS_SHOWN]:
        console.print(
            f"warning: {warning.seller_id}: {warning.message}", markup=False, highlight=False
        )
    if len(result.warnings) > _WARNINGS_SHOWN:
        console.print(f"... and {len(result.warnings) - _WARNINGS_SHOWN:,} more warnings")
