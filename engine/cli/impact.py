"""``sellerpolicy impact``: what a new pack would do to the sellers, against the pack in force."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from sellerpolicy.engine.cli.evaluate import parse_as_of
from sellerpolicy.engine.cli.root import app, check_out_folder, out_console

if TYPE_CHECKING:
    from datetime import date, datetime

    from sellerpolicy.engine.change.impact import ImpactReport
    from sellerpolicy.engine.change.population import Population
    from sellerpolicy.engine.store.decisions import DecisionStore
    from sellerpolicy.rules.model import CompiledPack

EPILOG = """\
Examples:

  # the current Amazon rules against the 2015 ones, on order events
  sellerpolicy impact --pack amazon --baseline amazon-2015 --source data/ \\
      --as-of 2026-11-01 --out impact.json --html impact.html

  # a draft pack against the version in force, on the facts of `sellerpolicy metrics`
  sellerpolicy impact --pack my-pack/ --baseline amazon --facts facts.parquet \\
      --as-of 2026-11-01 --out impact.json

  # no raw data: the facts stored with each seller's latest decision since a date
  sellerpolicy impact --pack amazon-seller-performance@2026.12.0 \\
      --baseline amazon-seller-performance@2026.11.0 --replay sellerpolicy.db \\
      --since 2026-10-01 --as-of 2026-11-01 --out impact.json

The report (JSON, and HTML with --html: one self-contained file, charts
inline) holds the status transition matrix, firings per rule and action
before and after, every seller whose status or enforced actions change with
both explanations, and the spread of each metric whose threshold moves.
Rejected input rows go to <out stem>.rejects.jsonl.
"""


@app.command("impact", epilog=EPILOG)
def impact_command(
    *,
    pack: Annotated[
        str, typer.Option(help="The new pack: shipped name, folder, pack.yaml or id@version.")
    ],
    baseline: Annotated[
        str, typer.Option(help="The pack in force: shipped name, folder, pack.yaml or id@version.")
    ],
    as_of: Annotated[
        str, typer.Option("--as-of", help="Evaluation date (00:00 UTC) or ISO timestamp.")
    ],
    out: Annotated[Path, typer.Option(help="The report, as JSON (.json).")],
    source: Annotated[
        Path | None, typer.Option(help="Source folder (or DuckDB file) of order events.")
    ] = None,
    facts: Annotated[
        Path | None,
        typer.Option(help="Metric facts file holding every field both packs read."),
    ] = None,
    replay: Annotated[
        str | None,
        typer.Option(
            help="Decision store whose sellers' latest decisions (and their facts) are the"
            " population."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="With --replay: only decisions as of this date or later."),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="Decision store for id@version packs and escalation history [default: the"
            " --replay store]."
        ),
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write the report as one self-contained HTML page.")
    ] = None,
    explain_limit: Annotated[
        int,
        typer.Option(
            min=0, help="Changed sellers explained in full, most serious first (all are listed)."
        ),
    ] = 1_000,
) -> None:
    """What a new pack would do to every seller, against the pack in force."""
    from sellerpolicy.engine.change.html import render_html
    from sellerpolicy.engine.change.impact import impact
    from sellerpolicy.engine.change.refs import resolve_pack
    from sellerpolicy.engine.store.decisions import DecisionStore

    if sum(x is not None for x in (source, facts, replay)) != 1:
        raise typer.BadParameter("give exactly one of --source, --facts and --replay")
    if since is not None and replay is None:
        raise typer.BadParameter("--since applies to --replay only", param_hint="--since")
    if out.suffix.lower() != ".json":
        raise typer.BadParameter(f"{out}: the report is written as .json", param_hint="--out")
    check_out_folder(out)
    if html is not None:
        check_out_folder(html, "--html")
    when = parse_as_of(as_of)
    after = parse_as_of(since) if since is not None else None
    target = store or replay
    opened = DecisionStore(target) if target else None
    try:
        new, old = resolve_pack(pack, opened), resolve_pack(baseline, opened)
        population = _population(
            [new, old],
            when,
            source=source,
            facts=facts,
            replay=opened if replay else None,
            since=after,
            rejects=out.with_name(f"{out.stem}.rejects.jsonl"),
        )
        report = impact(new, old, population, when, store=opened, explain_limit=explain_limit)
    finally:
        if opened is not None:
            opened.close()
    out.write_text(json.dumps(report.to_json(), indent=1, ensure_ascii=False) + "\n", "utf-8")
    if html is not None:
        html.write_text(render_html(report), encoding="utf-8")
    print_impact(out_console(), report, out, html, population.rejects_path)


def _population(
    packs: list[CompiledPack],
    as_of: date | datetime,
    *,
    source: Path | None,
    facts: Path | None,
    replay: DecisionStore | None,
    since: date | datetime | None,
    rejects: Path,
) -> Population:
    from datetime import UTC, datetime, time

    from sellerpolicy.engine.change.population import (
        population_from_facts,
        population_from_replay,
        population_from_source,
    )
    from sellerpolicy.engine.metrics.facts import as_of_instant

    instant = as_of_instant(as_of)
    if source is not None:
        return population_from_source(source, packs, instant, rejects_path=rejects)
    if facts is not None:
        return population_from_facts(facts, packs, instant, rejects_path=rejects)
    assert replay is not None
    start = None
    if since is not None:
        start = (
            since if isinstance(since, datetime) else datetime.combine(since, time.min, tzinfo=UTC)
        )
    return population_from_replay(replay, packs, since=start)


def print_impact(
    console: Console, report: ImpactReport, out: Path, html: Path | None, rejects: Path | None
) -> None:
    """The report's transition matrix, changed rules and first changed sellers, and its files."""
    console.print(
        f"impact of {report.new.id} {report.new.version} against {report.baseline.id} "
        f"{report.baseline.version}, as of {report.as_of}: {report.sellers:,} sellers "
        f"({report.population})",
        highlight=False,
    )
    matrix = Table(
        title=f"What the policy change does: {report.baseline.version} (rows) -> "
        f"{report.new.version} (columns)"
    )
    matrix.add_column("before \\ after")
    for label in report.statuses:
        matrix.add_column(label, justify="right")
    for label, row in zip(report.statuses, report.matrix, strict=True):
        matrix.add_row(label, *(f"{n:,}" for n in row))
    console.print(matrix)
    rules = Table(title="Rules that fire differently")
    rules.add_column("rule", no_wrap=True)
    for column in ("fired before", "fired after", "not assessed before", "after"):
        rules.add_column(column, justify="right")
    for count in report.rules:
        if (count.fired_before, count.not_assessed_before) == (
            count.fired_after,
            count.not_assessed_after,
        ):
            continue
        rules.add_row(
            count.rule,
            *(
                "-" if n is None else f"{n:,}"
                for n in (
                    count.fired_before,
                    count.fired_after,
                    count.not_assessed_before,
                    count.not_assessed_after,
                )
            ),
        )
    if rules.row_count:
        console.print(rules)
    changed = report.changed.num_rows
    console.print(f"sellers whose status or enforced actions change: {changed:,}", highlight=False)
    for row in report.changed.slice(0, 10).to_pylist():
        console.print(
            f"  {row['seller_id']}: {row['status_before']} -> {row['status_after']} "
            f"[{', '.join(row['actions_before']) or 'no action'} -> "
            f"{', '.join(row['actions_after']) or 'no action'}]",
            markup=False,
            highlight=False,
        )
    if changed > 10:
        console.print(f"  ... and {changed - 10:,} more in the report", highlight=False)
    if rejects is not None:
        console.print(
            f"rejected input rows: {report.rejects:,} (written to {rejects})", highlight=False
        )
    console.print(f"report written to {out}" + (f" and {html}" if html else ""), highlight=False)
