"""``sellerpolicy sweep``: how many sellers a rule fires on as its threshold moves."""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sellerpolicy.engine.cli.evaluate import parse_as_of
from sellerpolicy.engine.cli.root import app, check_out_folder, err_console, out_console

if TYPE_CHECKING:
    from sellerpolicy.engine.change.charts import ChartFormat
    from sellerpolicy.engine.change.sweep import SweepResult
    from sellerpolicy.rules.model import CompiledPack

EPILOG = """\
Examples:

  # ODR from 0.5% to 2% in 16 steps, metrics computed from order events
  sellerpolicy sweep --pack amazon --rule odr-over-target --source data/ \\
      --as-of 2026-11-01 --from 0.5% --to 2% --steps 16 --chart odr.png

  # a rule of several comparisons: name the one that moves
  # (<name> for its value, <name>__num for its count)
  sellerpolicy sweep --pack ebay --rule below-standard-defects-12m \\
      --facts facts.parquet --as-of 2026-11-01 --format csv \\
      --metric transaction_defect_rate_12m__num --from 1 --to 12

A seller counts when the rule's outcome would be "matched", exactly as
`evaluate` decides it: every fact the rule reads present, its min_orders
volume met, and the condition true with the new threshold (the rule's other
comparisons keep theirs). The current threshold is always a row. Rates take
percentages (0.5%) or fractions (0.005); counts take whole numbers, and a
narrow range of counts gives fewer rows than --steps.

Rejected input rows are written to <chart stem>.rejects.jsonl beside the
chart, or to sweep.rejects.jsonl in the current folder without --chart.

Exit codes: 0 ok; 2 unusable input (unknown rule or metric, a rule of several
comparisons without --metric, an empty range, unreadable source or facts).
"""


class SweepFormat(StrEnum):
    """How ``sweep`` prints its table."""

    TEXT = "text"
    JSON = "json"
    CSV = "csv"


@app.command("sweep", epilog=EPILOG)
def sweep_command(
    *,
    pack: Annotated[str, typer.Option(help="Pack: shipped name (amazon), folder or pack.yaml.")],
    rule: Annotated[str, typer.Option(help="Id of the rule whose threshold moves.")],
    as_of: Annotated[
        str, typer.Option("--as-of", help="Evaluation date (00:00 UTC) or ISO timestamp.")
    ],
    start: Annotated[
        str,
        typer.Option("--from", help="Lowest threshold: 0.5% or 0.005 for a rate, 5 for a count."),
    ],
    stop: Annotated[str, typer.Option("--to", help="Highest threshold (above --from).")],
    source: Annotated[
        Path | None, typer.Option(help="Source folder (or DuckDB file) of order events.")
    ] = None,
    facts: Annotated[
        Path | None, typer.Option(help="Metric facts file written by `sellerpolicy metrics`.")
    ] = None,
    steps: Annotated[
        int,
        typer.Option(min=2, max=1000, help="Evenly spaced thresholds from --from to --to."),
    ] = 20,
    metric: Annotated[
        str | None,
        typer.Option(
            help="The comparison that moves, by the fact it reads (<name>, or <name>__num for"
            " its count); needed when the rule has several."
        ),
    ] = None,
    chart: Annotated[
        Path | None,
        typer.Option(help="Also draw the sweep: .svg or .png, the current threshold marked."),
    ] = None,
    output_format: Annotated[
        SweepFormat, typer.Option("--format", help="text (a table), json or csv.")
    ] = SweepFormat.TEXT,
) -> None:
    """Sellers a rule would fire on as one threshold moves from --from to --to."""
    from sellerpolicy.engine.metrics.facts import as_of_instant
    from sellerpolicy.rules import load_pack

    # every option is checked before Matplotlib and DuckDB are imported: a typo fails at once
    if (source is None) == (facts is None):
        raise typer.BadParameter("give exactly one of --source and --facts")
    when = as_of_instant(parse_as_of(as_of))
    compiled = load_pack(pack)
    thresholds = _thresholds(compiled, rule, metric, start=start, stop=stop, steps=steps)
    fmt = None
    if chart is not None:
        from sellerpolicy.engine.change.charts import chart_format

        check_out_folder(chart, "--chart")
        try:
            fmt = chart_format(chart.name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--chart") from exc
    from sellerpolicy.engine.change.population import (
        population_from_facts,
        population_from_source,
    )
    from sellerpolicy.engine.change.sweep import sweep

    rejects = Path("sweep.rejects.jsonl")
    if chart is not None:
        rejects = chart.with_name(f"{chart.stem}.rejects.jsonl")
    if source is not None:
        population = population_from_source(source, [compiled], when, rejects_path=rejects)
    else:
        assert facts is not None
        population = population_from_facts(facts, [compiled], when, rejects_path=rejects)
    result = sweep(compiled, rule, population.tables[0], when, thresholds, metric=metric)
    notes: list[str] = []
    if chart is not None and fmt is not None:
        chart.write_bytes(_chart(result, fmt))
        notes.append(f"chart written to {chart}")
    notes.append(f"rejected input rows: {population.rejects:,} (written to {rejects})")
    if output_format is SweepFormat.TEXT:
        console = out_console()
        console.print(sweep_table(result))
        for line in (sweep_summary(result), *notes):
            console.print(line, markup=False, highlight=False)
        return
    if output_format is SweepFormat.JSON:
        document = result.to_json() | {"rejects": population.rejects, "rejects_path": f"{rejects}"}
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        typer.echo(sweep_csv(result), nl=False)
    for note in notes:
        err_console().print(note, markup=False, highlight=False)


def _thresholds(
    pack: CompiledPack, rule_id: str, metric: str | None, *, start: str, stop: str, steps: int
) -> tuple[float, ...]:
    """The thresholds to try, each option checked before any data is read (exit 2)."""
    from sellerpolicy.engine.change import sweep as sweeping
    from sellerpolicy.engine.evaluation.plans import leaves

    try:
        rule = sweeping.find_rule(pack, rule_id)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--rule") from exc
    try:
        leaf = leaves(rule.when)[sweeping.pick_leaf(pack, rule, metric)]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--metric") from exc
    bounds = []
    for text, option in ((start, "--from"), (stop, "--to")):
        try:
            bounds.append(sweeping.parse_threshold(text, pack, leaf))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=option) from exc
    low, high = bounds
    if not low < high:
        raise typer.BadParameter(f"--from {start} is not below --to {stop}")
    try:
        return sweeping.sweep_thresholds(
            low, high, steps, leaf.threshold, whole=sweeping.is_whole_leaf(pack, leaf)
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _chart(result: SweepResult, fmt: ChartFormat) -> bytes:
    """The sweep drawn: sellers fired per threshold, the current threshold marked."""
    from sellerpolicy.engine.change.charts import sweep_chart

    return sweep_chart(
        [s.threshold for s in result.steps],
        [s.fired for s in result.steps],
        current=result.current,
        metric=result.metric,
        title=(
            f"{result.pack} {result.pack_version}, rule {result.rule}\n{_leaf(result)}:"
            f" {result.current_fired:,} of {result.assessed:,} assessed at {_current_label(result)}"
        ),
        percent=result.percent,
        fmt=fmt,
    )


def sweep_csv(result: SweepResult) -> str:
    """``threshold,fired`` rows: thresholds as fractions (``0.01``), whole for counts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["threshold", "fired"])
    for step in result.steps:
        writer.writerow([int(step.threshold) if result.whole else step.threshold, step.fired])
    return buffer.getvalue()


def _leaf(result: SweepResult) -> str:
    """``order_defect_rate >= threshold`` (``__num``: the count of the rate)."""
    from sellerpolicy.engine.change.sweep import OP_SYMBOLS

    return f"{result.metric} {OP_SYMBOLS[result.op]} threshold"


def _current_label(result: SweepResult) -> str:
    """The current threshold as the pack means it (``1%``, ``400``)."""
    from sellerpolicy.engine.change.sweep import threshold_labels

    return threshold_labels([result.current], percent=result.percent)[0]


def sweep_table(result: SweepResult) -> Table:
    """The sweep as a Rich table: threshold, sellers fired, change vs the current threshold."""
    current = result.current_fired
    table = Table(title=f"{result.pack} {result.pack_version}, rule {result.rule}: {_leaf(result)}")
    table.add_column("threshold", justify="right")
    table.add_column("sellers fired", justify="right")
    table.add_column("change vs current", justify="right")
    table.add_column("")
    for step, label in zip(result.steps, result.labels(), strict=True):
        if step.threshold == result.current:
            table.add_row(label, f"{step.fired:,}", "", "<- current", style="bold")
            continue
        change = step.fired - current
        share = f" ({change / current:+.0%})" if current and change else ""
        table.add_row(label, f"{step.fired:,}", f"{change:+,}{share}" if change else "0", "")
    return table


def sweep_summary(result: SweepResult) -> str:
    """One line under the table: the population, how many were assessed, the current count."""
    from sellerpolicy.engine.metrics.facts import as_of_label

    return (
        f"{result.sellers:,} sellers as of {as_of_label(result.as_of)};"
        f" {result.assessed:,} assessed (facts present, min_orders met); at the current"
        f" threshold {_current_label(result)} the rule fires on {result.current_fired:,}"
    )
