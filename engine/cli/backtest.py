"""``sellerpolicy backtest``: a pack replayed date after date, ladders included."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sellerpolicy.engine.cli.evaluate import parse_as_of
from sellerpolicy.engine.cli.root import app, check_out_folder, err_console, out_console

if TYPE_CHECKING:
    from datetime import date, datetime

    from rich.console import Console
    from rich.table import Table

    from sellerpolicy.engine.change.backtest import Backtest, PackBacktest

EPILOG = """\
Examples:

  # 8 weekly dates of the current pack, with the history each date leaves behind
  sellerpolicy backtest --pack amazon --source data/ --from 2026-09-06 --to 2026-10-25 \\
      --out backtest/

  # a new pack version against the one it replaces, and what the store recorded
  sellerpolicy backtest --pack my-pack/ --baseline amazon --source data/ \\
      --from 2026-09-06 --to 2026-10-25 --every 7d --out backtest/ --store sellerpolicy.db

Each date is evaluated with the escalation history of the earlier dates of
the same backtest (per pack, in memory), as `sellerpolicy evaluate --store`
runs made in date order would: ladders climb and lapse. With --store, the
decisions stored for each day under the pack's id (complete runs only) are
shown beside: what actually happened. Nothing is written to the store.

--out gets backtest.json (counts per date and pack), timelines.jsonl (one
line per seller whose enforced actions ever changed) and rejects.jsonl (the
source's rejected rows).

Exit codes: 0 ok; 1 an invalid pack; 2 unusable input (source, store, dates,
--every, more than 400 dates).
"""


def _date(text: str, option: str) -> date | datetime:
    """:func:`parse_as_of` with the option's own name in its message."""
    try:
        return parse_as_of(text)
    except typer.BadParameter as exc:
        raise typer.BadParameter(exc.message, param_hint=option) from exc


def _check_out(out: Path) -> None:
    """A usage error unless ``out`` is a folder, or can be made in one that exists."""
    check_out_folder(out)
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file, not a folder", param_hint="--out")


def _check_store(store: str) -> None:
    """A usage error for a SQLite file that does not exist: a backtest creates no store."""
    from sellerpolicy.engine.store.decisions import resolve_store_url

    url = resolve_store_url(store)
    database = url.database
    in_file = url.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
    if in_file and not Path(str(database)).is_file():
        raise typer.BadParameter(f"no decision store at {database}", param_hint="--store")


@app.command("backtest", epilog=EPILOG)
def backtest_command(
    *,
    pack: Annotated[
        str, typer.Option(help="The pack to backtest: shipped name, folder or pack.yaml.")
    ],
    source: Annotated[Path, typer.Option(help="Source folder (or DuckDB file) of order events.")],
    start: Annotated[str, typer.Option("--from", help="First date (00:00 UTC) or ISO timestamp.")],
    end: Annotated[str, typer.Option("--to", help="Last date (inclusive) or ISO timestamp.")],
    out: Annotated[
        Path,
        typer.Option(
            help="Folder for backtest.json, timelines.jsonl and rejects.jsonl (made if missing)."
        ),
    ],
    every: Annotated[str, typer.Option(help="Step between dates: whole days (7d, 14d).")] = "7d",
    baseline: Annotated[
        str | None, typer.Option(help="A pack to compare with, over the same dates and source.")
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(help="Decision store (SQLAlchemy URL or SQLite file): what was stored."),
    ] = None,
) -> None:
    """Replay a pack over a range of dates, with escalation history; compare with a baseline."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from sellerpolicy.engine.change.backtest import (
        backtest,
        backtest_dates,
        parse_every,
        write_backtest,
    )
    from sellerpolicy.engine.store.decisions import DecisionStore
    from sellerpolicy.rules import load_pack

    first, last = _date(start, "--from"), _date(end, "--to")
    try:
        parse_every(every)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--every") from exc
    try:
        dates = backtest_dates(first, last, every)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--from/--to") from exc
    _check_out(out)
    if store is not None:
        _check_store(store)
    new = load_pack(pack)
    old = load_pack(baseline) if baseline is not None else None
    out.mkdir(exist_ok=True)
    rejects = out / "rejects.jsonl"
    with ExitStack() as stack:
        opened = stack.enter_context(DecisionStore(store)) if store is not None else None
        bar = stack.enter_context(
            Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console(),
                transient=True,
                disable=not err_console().is_terminal,
            )
        )
        task = bar.add_task("evaluating dates", total=len(dates))
        report = backtest(
            new,
            source=source,
            start=first,
            end=last,
            every=every,
            baseline=old,
            store=opened,
            rejects_path=rejects,
            on_date=lambda _: bar.advance(task),
        )
    document, timelines = write_backtest(report, out)
    console = out_console()
    for result in report.packs:
        console.print(_table(result, stored=report.store is not None))
    console.print(
        f"{len(report.dates)} dates every {report.every} from {report.source}"
        + (f"; stored decisions read from {report.store}" if report.store else ""),
        highlight=False,
    )
    _files(console, report, document, timelines, rejects)


def _table(result: PackBacktest, *, stored: bool) -> Table:
    """Dates down, sellers per status across; with a store, what was stored that day."""
    from rich.table import Table

    statuses = list(result.points[0].counts.statuses) if result.points else []
    table = Table(
        title=f"{result.role}: {result.id} {result.version}",
        caption=f"stored: {' / '.join(statuses)} that day (-: none stored)" if stored else None,
    )
    table.add_column("as of", no_wrap=True)
    for status in statuses:
        table.add_column(status, justify="right")
    table.add_column("enforced", justify="right")
    if stored:
        table.add_column("stored", justify="right", no_wrap=True)
    for point in result.points:
        counts = point.counts
        enforced = sum(n for actions in counts.actions.values() for n in actions.values())
        row = [point.as_of, *(f"{counts.statuses[s]:,}" for s in statuses), f"{enforced:,}"]
        if point.stored is not None:
            seen = point.stored
            row.append(
                " / ".join(f"{seen.statuses[s]:,}" for s in statuses) if seen.sellers else "-"
            )
        table.add_row(*row)
    return table


def _files(
    console: Console, report: Backtest, document: Path, timelines: Path, rejects: Path
) -> None:
    """Where the report, the timelines and the rejects were written."""
    console.print(f"report written to {document}", highlight=False)
    console.print(
        f"timelines of {len(report.timelines):,} seller(s) written to {timelines}",
        highlight=False,
    )
    console.print(
        f"rejected input rows: {report.rejects:,} (written to {rejects})", highlight=False
    )
