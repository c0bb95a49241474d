"""``sellerpolicy explain``: one seller's decision, rule by rule, for a person."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sellerpolicy.engine.cli.output import FormatOption, SummaryFormat, print_json
from sellerpolicy.engine.cli.root import app, check_out_folder, err_console, out_console

from .evaluate import parse_as_of

EPILOG = """\
Example:

  sellerpolicy explain --pack amazon --source data/ --seller S000123 \\
      --as-of 2026-11-01

For each rule the report gives the value with its counts (27 of 2,000
orders), the window dates, the threshold, what the rule does, and the
distance to compliance: for a breach, the date it clears if nothing new goes
wrong; for a pass, how many more bad orders it can take. Rejected input rows
are left out of the numbers: the report says how many, and --rejects FILE
writes them all.
"""


@app.command("explain", epilog=EPILOG)
def explain_command(
    *,
    pack: Annotated[str, typer.Option(help="Pack: shipped name (amazon), folder or pack.yaml.")],
    source: Annotated[Path, typer.Option(help="Source folder (or DuckDB file) of order events.")],
    seller: Annotated[str, typer.Option(help="The seller_id to explain.")],
    as_of: Annotated[
        str, typer.Option("--as-of", help="Evaluation date (00:00 UTC) or ISO timestamp.")
    ],
    store: Annotated[
        str | None,
        typer.Option(help="Decision store to read escalation history from (never written)."),
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Write rejected source rows here (JSON lines).")
    ] = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Explain one seller's decision: numbers, windows, thresholds, distance to compliance."""
    if rejects is not None:
        check_out_folder(rejects, "--rejects")
    from sellerpolicy.engine.api import Policy
    from sellerpolicy.engine.sources.rejects import write_rejects
    from sellerpolicy.engine.store.decisions import DecisionStore

    when = parse_as_of(as_of)
    policy = Policy.load(pack)
    if store is None:
        explained = policy.explain_seller(source, seller, as_of=when)
    else:
        with DecisionStore(store) as history:
            explained = policy.explain_seller(source, seller, as_of=when, store=history)
    if output_format is SummaryFormat.JSON:
        print_json(
            {
                "decision": explained.decision.to_json(),
                "report": explained.report,
                "rejects": len(explained.rejects),
                "rejects_path": rejects,
            }
        )
    else:
        out_console().print(explained.report, markup=False, highlight=False)
    if explained.rejects:
        first = explained.rejects[0]
        where = f"written to {rejects}" if rejects else "write them with --rejects FILE"
        err_console().print(
            f"note: {len(explained.rejects):,} rejected source rows were left out "
            f"(first: {first.table} row {first.row}: {first.reason}); {where}",
            markup=False,
            highlight=False,
        )
    if rejects is not None:
        write_rejects(explained.rejects, rejects)
