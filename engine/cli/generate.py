"""``sellerpolicy generate``: write a synthetic marketplace: a source (every contract
table), or the same marketplace as Amazon's reports (``--format amazon-reports``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sellerpolicy.engine.cli.root import EXIT_INPUT, app, err_console, out_console
from sellerpolicy.engine.sources.tables import TABLES, Format

EPILOG = """\
Examples:

  sellerpolicy generate --sellers 1000 --days 90 --seed 7 --as-of 2026-11-01 --out data/

  sellerpolicy generate --sellers 100000 --days 100 --seed 1 --as-of 2026-11-01 \\
      --out big/ --format csv --broken-share 0

  # the same marketplace (same seed) as Amazon's reports: <out>/<seller id>/orders.txt,
  # feedback.txt and returns.txt, for `sellerpolicy import amazon-reports --accounts <out>`
  sellerpolicy generate --sellers 1000 --days 90 --seed 7 --as-of 2026-11-01 \\
      --out reports/ --format amazon-reports --broken-share 0
"""


class GenerateFormat(StrEnum):
    """What ``generate`` writes: contract tables in a file format, or Amazon's reports."""

    PARQUET = "parquet"
    CSV = "csv"
    JSONL = "jsonl"
    AMAZON_REPORTS = "amazon-reports"


@app.command("generate", epilog=EPILOG)
def generate_command(
    *,
    out: Annotated[
        Path, typer.Option("--out", metavar="FOLDER", help="Folder to write <table>.<format> into.")
    ],
    as_of: Annotated[
        datetime,
        typer.Option("--as-of", formats=["%Y-%m-%d"], help="Date the data ends (exclusive)."),
    ],
    sellers: Annotated[int, typer.Option("--sellers", min=1, help="Seller accounts.")] = 1000,
    days: Annotated[int, typer.Option("--days", min=1, help="Days of orders before --as-of.")] = 90,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 0,
    fmt: Annotated[
        GenerateFormat,
        typer.Option("--format", help="Table file format, or amazon-reports."),
    ] = GenerateFormat.PARQUET,
    rate: Annotated[
        float, typer.Option("--orders-per-seller-day", min=0.0, help="Mean daily orders.")
    ] = 1.0,
    broken_share: Annotated[
        float,
        typer.Option("--broken-share", min=0.0, max=0.49, help="Share of deliberately bad rows."),
    ] = 0.001,
) -> None:
    """Write a believable marketplace: orders and every event table, with a few bad rows."""
    if rate <= 0:
        err_console().print("error: --orders-per-seller-day must be above 0")
        raise typer.Exit(EXIT_INPUT)
    if fmt is GenerateFormat.AMAZON_REPORTS:
        _reports(out, as_of, sellers=sellers, days=days, seed=seed, rate=rate, broken=broken_share)
        return
    table_format = Format(fmt.value)
    console = out_console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("generating orders", total=len(TABLES))

        def advance(table: str, rows: int) -> None:
            progress.update(task, advance=1, description=f"wrote {table} ({rows:,} rows)")

        from sellerpolicy.engine.generate.marketplace import generate

        summary = generate(
            sellers=sellers,
            days=days,
            seed=seed,
            as_of=as_of.date(),
            out=out,
            fmt=table_format,
            orders_per_seller_day=rate,
            broken_share=broken_share,
            on_table=advance,
        )
    table = Table("table", "rows", "broken", title=f"{out} ({table_format.value}, seed {seed})")
    for name, rows in summary.rows.items():
        broken = sum(1 for row in summary.injected if row.table == name)
        table.add_row(name, f"{rows:,}", f"{broken:,}")
    console.print(table)
    console.print(f"{summary.orders:,} orders in {summary.seconds:.1f} s", highlight=False)


def _reports(
    out: Path, as_of: datetime, *, sellers: int, days: int, seed: int, rate: float, broken: float
) -> None:
    """Write the marketplace as Amazon's reports, one folder per account."""
    from sellerpolicy.engine.generate.amazon_reports import generate_amazon_reports

    console = out_console()
    summary = generate_amazon_reports(
        sellers=sellers,
        days=days,
        seed=seed,
        as_of=as_of.date(),
        out=out,
        orders_per_seller_day=rate,
        broken_share=broken,
    )
    table = Table("report", "lines", "broken", title=f"{out} (amazon-reports, seed {seed})")
    for report, lines in summary.lines.items():
        broken_lines = sum(1 for i in summary.injected if i.file.name.startswith(report))
        table.add_row(report, f"{lines:,}", f"{broken_lines:,}")
    console.print(table)
    console.print(
        f"{summary.accounts:,} account folders in {summary.seconds:.1f} s", highlight=False
    )
