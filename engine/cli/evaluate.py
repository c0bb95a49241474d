"""``sellerpolicy evaluate``: every seller of a source (or a facts file) against a pack."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from sellerpolicy.engine.cli.output import FormatOption, SummaryFormat, plain, print_json
from sellerpolicy.engine.cli.root import (
    EXIT_FINDINGS,
    app,
    check_out_folder,
    err_console,
    out_console,
)
from sellerpolicy.engine.errors import AsOfError, StrictRejectsError
from sellerpolicy.engine.evaluation.backends.protocol import BackendName
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.logs import LogFormat, configure_logging
from sellerpolicy.engine.metrics.facts import check_as_of

if TYPE_CHECKING:
    from sellerpolicy.engine.batch.distributed import DistributedSummary
    from sellerpolicy.engine.batch.summary import Progress as RunProgress
    from sellerpolicy.engine.batch.summary import RunSummary
    from sellerpolicy.rules.model import CompiledPack, Exemption

EPILOG = """\
Examples:

  # metrics and decisions straight from order events, history kept in SQLite
  sellerpolicy evaluate --pack amazon --source data/ --as-of 2026-11-01 \\
      --out decisions.jsonl --store sellerpolicy.db

  # from a facts file written by `sellerpolicy metrics`, typed Parquet records
  # (query them with DuckDB, Polars or pandas: no JSON columns)
  sellerpolicy evaluate --pack amazon --facts facts.parquet --as-of 2026-11-01 \\
      --out decisions.parquet

  # a large batch: the columnar layout (Arrow IPC stream), written as evaluated
  sellerpolicy evaluate --pack amazon --source data/ --as-of 2026-11-01 \\
      --out decisions.arrows

  # partitioned over a local Dask cluster of 2 worker processes; --out is a folder
  # of part-*.parquet files plus manifest.json (or --cluster tcp://host:8786)
  sellerpolicy evaluate --pack amazon --source data/ --as-of 2026-11-01 \\
      --out decisions/ --workers 2

Without --store every run is judged alone: escalation ladders (warn, then
restrict...) need the history the store keeps. Rejected input rows are written
to <out stem>.rejects.jsonl beside the output.

Exit codes: 0 ok; 1 --strict and the source had rejects, an invalid pack, or
a partition of a distributed run that failed after its retries; 2 unusable
input (source, facts file, store, option values).
"""


def parse_as_of(text: str) -> date | datetime:
    """``2026-11-01`` (00:00 UTC) or an ISO timestamp (``2026-11-01T12:00:00Z``)."""
    try:
        value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{text!r} is not a date (2026-11-01) or an ISO timestamp", param_hint="--as-of"
        ) from exc
    try:
        check_as_of(value)
    except AsOfError as exc:
        raise typer.BadParameter(str(exc), param_hint="--as-of") from exc
    return value


def load_exemptions(folder: Path | None, pack: CompiledPack) -> list[Exemption]:
    """Every exemption document (``*.yaml``, ``*.yml``) in a folder, sorted by file name.

    Each is checked against ``pack``: one naming a pack or rule that does not
    exist is an error (it would exempt nothing).
    """
    from sellerpolicy.rules import load_exemption

    if folder is None:
        return []
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder", param_hint="--exemptions")
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    return [load_exemption(path, pack) for path in files]


def summary_tables(summary: RunSummary) -> list[Table]:
    """The run summary as Rich tables: statuses, actions per rule, not assessed."""
    statuses = Table(title="Sellers by status")
    statuses.add_column("status")
    statuses.add_column("sellers", justify="right")
    for status, count in summary.statuses.items():
        statuses.add_row(status, f"{count:,}")
    statuses.add_section()
    statuses.add_row("total", f"{summary.sellers:,}")
    actions = Table(title="Actions per rule")
    for column in ("rule", "action", "enforced", "reported only"):
        actions.add_column(column, justify="left" if column in ("rule", "action") else "right")
    pairs = sorted(
        {
            (rule, action)
            for counts in (summary.actions, summary.reported)
            for rule in counts
            for action in counts[rule]
        }
    )
    for rule, action in pairs:
        enforced = summary.actions.get(rule, {}).get(action, 0)
        reported = summary.reported.get(rule, {}).get(action, 0)
        actions.add_row(rule, action, f"{enforced:,}", f"{reported:,}")
    if not pairs:
        actions.add_row("(none)", "", "0", "0")
    assessed = Table(title="Not assessed (not enough data)")
    assessed.add_column("rule")
    assessed.add_column("sellers", justify="right")
    for rule, count in summary.not_assessed.items():
        assessed.add_row(rule, f"{count:,}")
    if not summary.not_assessed:
        assessed.add_row("(none)", "0")
    return [statuses, actions, assessed]


def print_summary(console: Console, summary: RunSummary) -> None:
    """Print the summary tables, then rejects and where the files are."""
    console.print(
        f"pack {summary.pack} {summary.pack_version} ({summary.pack_digest}), "
        f"as of {summary.as_of}",
        highlight=False,
    )
    for table in summary_tables(summary):
        console.print(table)
    if summary.rejects_path is not None:
        console.print(
            f"rejected input rows: {summary.rejects:,} (written to {summary.rejects_path})",
            highlight=False,
        )
    console.print(f"decisions written to {summary.output}", highlight=False)
    if summary.store:
        console.print(f"decision history appended to {summary.store}", highlight=False)


@app.command("evaluate", epilog=EPILOG)
def evaluate_command(
    *,
    pack: Annotated[str, typer.Option(help="Pack: shipped name (amazon), folder or pack.yaml.")],
    as_of: Annotated[
        str, typer.Option("--as-of", help="Evaluation date (00:00 UTC) or ISO timestamp.")
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="Decisions file: .jsonl, .csv or .parquet (typed) records, or the columnar"
            " layout of the vectorized back end, fastest to write: .arrows (Arrow IPC stream)"
            " or .arrow (Arrow IPC file, Feather v2)."
        ),
    ],
    source: Annotated[
        Path | None, typer.Option(help="Source folder (or DuckDB file) of order events.")
    ] = None,
    facts: Annotated[
        Path | None, typer.Option(help="Metric facts file written by `sellerpolicy metrics`.")
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(help="Decision store: SQLAlchemy URL or SQLite file (keeps history)."),
    ] = None,
    explain: Annotated[
        ExplainLevel, typer.Option(help="How much each decision explains.")
    ] = ExplainLevel.SUMMARY,
    backend: Annotated[
        BackendName, typer.Option(help="Evaluation back end (they agree exactly).")
    ] = BackendName.AUTO,
    exemptions: Annotated[
        Path | None, typer.Option(help="Folder of PolicyExemption documents (*.yaml).")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when the source has rejected rows.")
    ] = False,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Sellers evaluated (and stored) per batch [default: 10,000; 131,072 for"
            " the vectorized back end without --store].",
        ),
    ] = None,
    log_format: Annotated[
        LogFormat, typer.Option(help="Logs on stderr: auto (console on a terminal), json.")
    ] = LogFormat.AUTO,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Run on a local Dask cluster of N worker processes."),
    ] = None,
    cluster: Annotated[
        str | None, typer.Option(help="Run on an existing Dask scheduler (tcp://host:8786).")
    ] = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Evaluate every seller against a pack; write decisions and print a summary."""
    from sellerpolicy.engine.batch.backends import select_backend
    from sellerpolicy.engine.batch.run import check_output, run_evaluation
    from sellerpolicy.rules import load_pack

    if (source is None) == (facts is None):
        raise typer.BadParameter("give exactly one of --source and --facts")
    check_out_folder(out)
    if workers is not None or cluster is not None:
        configure_logging(log_format)
        _distributed(
            pack, source, parse_as_of(as_of), out, workers, cluster, explain, store, output_format
        )
        return
    try:
        engine = select_backend(backend)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--backend") from exc
    try:
        check_output(out, engine, explain)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--out") from exc
    configure_logging(log_format)
    when = parse_as_of(as_of)
    compiled = load_pack(pack)
    documents = load_exemptions(exemptions, compiled)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
        disable=not err_console().is_terminal,
    ) as bar:
        task = bar.add_task("evaluating sellers", total=None)

        def advance(progress: RunProgress) -> None:
            bar.update(task, completed=progress.done, total=progress.total)

        try:
            summary = run_evaluation(
                compiled,
                source=source,
                facts_path=facts,
                as_of=when,
                out=out,
                store_url=store,
                backend=engine,
                explain=explain,
                exemptions=documents,
                strict=strict,
                chunk_size=chunk_size,
                progress=advance,
            )
        except StrictRejectsError as exc:
            err_console().print(f"error: {exc}", markup=False, highlight=False)
            raise typer.Exit(EXIT_FINDINGS) from exc
    if output_format is SummaryFormat.JSON:
        print_json(summary)
    else:
        print_summary(out_console(), summary)


def _distributed(  # noqa: PLR0917 - one call site, mirrors the options
    pack: str,
    source: Path | None,
    as_of: date | datetime,
    out: Path,
    workers: int | None,
    cluster: str | None,
    explain: ExplainLevel,
    store: str | None,
    output_format: SummaryFormat = SummaryFormat.TEXT,
) -> None:
    """``--workers`` / ``--cluster``: partitioned Parquet plus a run manifest."""
    if workers is not None and cluster is not None:
        raise typer.BadParameter("give at most one of --workers and --cluster")
    if source is None:
        raise typer.BadParameter("a distributed run reads --source, not --facts")
    if out.suffix:
        raise typer.BadParameter(
            "a distributed run writes a folder of partitions: give a folder", param_hint="--out"
        )
    try:
        from sellerpolicy.engine.batch.distributed import run_distributed
    except ImportError as exc:
        raise typer.BadParameter(
            f"distributed runs need Dask ({exc.name} is missing): "
            "pip install 'sellerpolicy[cluster]'"
        ) from exc

    try:
        summary = run_distributed(
            pack,
            source=source,
            as_of=as_of,
            out_dir=out,
            workers=workers,
            cluster=cluster,
            explain=explain,
            store_url=store,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if output_format is SummaryFormat.JSON:
        data = plain(summary)
        assert isinstance(data, dict)
        print_json({**data, "ok": summary.ok})
    else:
        _print_distributed(summary)
    for failure in summary.failures:
        err_console().print(
            f"error: partition {failure.index} failed: {failure.error}",
            markup=False,
            highlight=False,
        )
    if not summary.ok:
        raise typer.Exit(EXIT_FINDINGS)


def _print_distributed(summary: DistributedSummary) -> None:
    console = out_console()
    table = Table(title=f"{summary.pack} {summary.pack_version}, as of {summary.as_of}")
    table.add_column("status")
    table.add_column("sellers", justify="right")
    for status, count in summary.statuses.items():
        table.add_row(status, f"{count:,}")
    table.add_section()
    table.add_row("total", f"{summary.sellers:,}")
    console.print(table)
    console.print(
        f"{len(summary.partitions)} partitions in {summary.seconds:.1f} s; "
        f"manifest {summary.manifest}; rejected input rows: {summary.rejects or 0:,}"
        + (f"; decisions appended to {summary.store}" if summary.store else ""),
        highlight=False,
    )
