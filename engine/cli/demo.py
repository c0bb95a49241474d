"""``sellerpolicy demo``: a whole marketplace, two policy versions, in under a minute.

Generates a synthetic marketplace (fixed seed), evaluates it with the current
Amazon pack and the 2015 one through the same batch run the ``evaluate``
command uses, shows what the policy change does to the same sellers (the
impact report of ``sellerpolicy impact``, written as JSON and HTML), and
explains one seller that breaches the order defect rate.

``demo --serve`` builds a history instead and serves the workbench on it:
the marketplace is evaluated with the Amazon and Walmart packs on a dozen
weekly dates, oldest first, into a SQLite store (each run reads the earlier
ones' decisions, so escalation ladders climb), then an admin, an editor and
a reader key are made and printed with the URL, and the service runs until
interrupted (:mod:`.demo_serve`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from sellerpolicy.engine.cli.root import app, out_console
from sellerpolicy.engine.logs import LEVEL_VARIABLE, LogFormat, configure_logging

from .evaluate import print_summary
from .impact import print_impact

CURRENT, PREVIOUS = "amazon", "amazon-2015"
ODR_RULE = "odr-over-target"
SEED = 20261101
AS_OF = date(2026, 11, 1)
DAYS = 120

EPILOG = """\
Examples:

  sellerpolicy demo                    # 3,000 sellers, in a new temp folder
  sellerpolicy demo --out demo/ --sellers 500
  sellerpolicy demo --serve            # 12 weeks of decisions, then the workbench
  sellerpolicy demo --serve --port 8081 --sellers 3000

The folder then holds the generated source (source/), the decisions of each
pack (decisions-*.jsonl, with rejects beside them), the decision store
(history.db) and the impact of the policy change (impact.json, impact.html:
open it in a browser). With --serve it holds the source, each run's
decisions (runs/) and the store (workbench.db) instead. Try next:

  sellerpolicy explain --pack amazon --source <folder>/source \\
      --seller <id> --as-of 2026-11-01
"""


def _odr_breacher(path: Path) -> str | None:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if any(r["rule"] == ODR_RULE and r["outcome"] == "matched" for r in row["rules"]):
                return str(row["seller_id"])
    return None


@app.command("demo", epilog=EPILOG)
def demo_command(
    *,
    out: Annotated[
        Path | None, typer.Option(help="Folder for every file (default: a new temp folder).")
    ] = None,
    sellers: Annotated[
        int | None,
        typer.Option(
            min=1, help="How many sellers to simulate (default 3,000; 1,000 with --serve)."
        ),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Evaluate a dozen weekly dates into a store and serve the workbench on it.",
        ),
    ] = False,
    weeks: Annotated[
        int, typer.Option(min=1, max=52, help="With --serve: weekly dates evaluated.")
    ] = 12,
    host: Annotated[str, typer.Option(help="With --serve: address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="With --serve: port to listen on.")
    ] = 8080,
    log_format: Annotated[
        LogFormat, typer.Option(help="Logs on stderr: auto (console on a terminal), json.")
    ] = LogFormat.AUTO,
) -> None:
    """Generate a marketplace, evaluate it under two policy versions, explain one seller
    (with --serve: evaluate a dozen weeks and serve the workbench on them)."""
    from sellerpolicy.engine.api import Policy
    from sellerpolicy.engine.batch.run import run_evaluation
    from sellerpolicy.engine.batch.summary import RunSummary
    from sellerpolicy.engine.change.html import render_html
    from sellerpolicy.engine.change.impact import impact
    from sellerpolicy.engine.change.population import population_from_source
    from sellerpolicy.engine.generate.marketplace import generate
    from sellerpolicy.engine.metrics.facts import as_of_instant
    from sellerpolicy.rules import load_pack

    # With --serve the dozen runs' progress is the status line; their info events would
    # bury it (SELLERPOLICY_LOG_LEVEL still decides when it is set).
    quiet = serve and not os.environ.get(LEVEL_VARIABLE)
    configure_logging(log_format, level=logging.WARNING if quiet else None)
    console = out_console()
    started = time.perf_counter()
    folder = out or Path(tempfile.mkdtemp(prefix="sellerpolicy-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    if serve:
        from .demo_serve import serve_demo

        serve_demo(console, folder, sellers=sellers or 1_000, weeks=weeks, host=host, port=port)
        return
    sellers = sellers or 3_000
    source = folder / "source"
    with console.status("generating the marketplace"):
        generated = generate(sellers=sellers, days=DAYS, seed=SEED, as_of=AS_OF, out=source)
    console.print(
        f"Generated {sellers:,} sellers, {generated.orders:,} orders over {DAYS} days "
        f"before {AS_OF} (seed {SEED}) in {source}",
        highlight=False,
    )
    store = f"sqlite:///{folder / 'history.db'}"
    summaries: dict[str, RunSummary] = {}
    for name in (PREVIOUS, CURRENT):
        with console.status(f"evaluating with the {name} pack"):
            summaries[name] = run_evaluation(
                load_pack(name),
                source=source,
                as_of=AS_OF,
                out=folder / f"decisions-{name}.jsonl",
                store_url=store,
            )
        console.rule(f"{name} pack")
        print_summary(console, summaries[name])
    console.rule("policy change")
    with console.status("comparing the two packs on the same sellers"):
        current, previous = load_pack(CURRENT), load_pack(PREVIOUS)
        population = population_from_source(source, [current, previous], as_of_instant(AS_OF))
        report = impact(current, previous, population, AS_OF)
        (folder / "impact.json").write_text(json.dumps(report.to_json(), indent=1) + "\n")
        (folder / "impact.html").write_text(render_html(report), encoding="utf-8")
    print_impact(console, report, folder / "impact.json", folder / "impact.html", None)
    seller = _odr_breacher(summaries[CURRENT].output)
    if seller is not None:
        console.rule(f"seller {seller}, explained")
        explained = Policy.load(CURRENT).explain_seller(source, seller, as_of=AS_OF)
        console.print(explained.report, markup=False, highlight=False)
    console.rule()
    console.print(
        f"Done in {time.perf_counter() - started:.1f} s. Files are in {folder}", highlight=False
    )
    if seller is not None:
        console.print(
            f"Try: sellerpolicy explain --pack {CURRENT} --source {source} "
            f"--seller {seller} --as-of {AS_OF}",
            highlight=False,
            soft_wrap=True,
        )
