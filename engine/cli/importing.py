"""``sellerpolicy import``: marketplaces' own reports to a source or to metric facts.

``import amazon-reports`` writes a source folder from Amazon's order, feedback
and returns reports; ``import amazon-account-health`` and ``import
ebay-seller-standards`` write the metric facts a marketplace reported, for a
pack. Each report format is read through its mapping file
(``engine/formats/mappings``; another with ``--mapping``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from sellerpolicy.engine.cli.root import EXIT_FINDINGS, app, check_out_folder, err_console
from sellerpolicy.engine.sources.tables import Format

if TYPE_CHECKING:
    from sellerpolicy.engine.importers.reported import FactsResult, Reported
    from sellerpolicy.rules.model import CompiledPack

import_app = typer.Typer(
    help=(
        "Marketplaces' own reports in: Amazon's order, feedback and returns reports to a "
        "source, "
        "Amazon's Account Health and eBay's seller standards to metric facts."
    ),
    no_args_is_help=True,
    epilog=(
        "Examples:\n\n"
        "  sellerpolicy import amazon-reports --help\n\n"
        "  sellerpolicy import ebay-seller-standards --help"
    ),
)
app.add_typer(import_app, name="import")

_SHOWN = 5

AS_OF = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Date the facts are as of (default: the day the reported windows end).",
    ),
]
SELLER = Annotated[
    str | None,
    typer.Option(
        "--seller-id",
        help="The account the report is of (reports name none; default: each file's name "
        "up to its first dot).",
    ),
]

REPORTS_EPILOG = """\
Examples:

  # one account
  sellerpolicy import amazon-reports --seller-id A1B2C3 --orders orders.txt \\
      --feedback feedback.txt --returns returns.txt --out source/

  # many accounts: reports/<seller id>/orders.txt (feedback.txt, returns.txt) each
  sellerpolicy import amazon-reports --accounts reports/ --out source/ --format csv

Writes <out>/orders.<format>, <out>/feedback.<format>, <out>/returns.<format> and
<out>/import.json (what was imported, which metrics the reports carry and which
they leave not assessable, warnings such as an unlisted return reason code read
as `other`); rejected report lines go to <out>.rejects.jsonl beside the folder,
each with its file, line, column and reason. Exit 1 with --strict and rejects.
"""


@import_app.command("amazon-reports", epilog=REPORTS_EPILOG)
def amazon_reports_command(
    *,
    out: Annotated[Path, typer.Option("--out", help="Source folder to write (new or empty).")],
    orders: Annotated[
        list[Path] | None,
        typer.Option("--orders", help="All Orders report (flat file); repeat for more."),
    ] = None,
    feedback: Annotated[
        list[Path] | None,
        typer.Option("--feedback", help="Flat File Feedback Report; repeat for more."),
    ] = None,
    returns: Annotated[
        list[Path] | None,
        typer.Option("--returns", help="Flat File Returns Report by return date; repeat."),
    ] = None,
    seller_id: Annotated[
        str | None, typer.Option("--seller-id", help="The account of the report files.")
    ] = None,
    accounts: Annotated[
        Path | None,
        typer.Option(
            "--accounts",
            help="Folder of <seller id>/orders.txt (and feedback.txt, returns.txt).",
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Table file format.")] = Format.PARQUET,
    orders_mapping: Annotated[
        Path | None, typer.Option("--orders-mapping", help="Another order report mapping file.")
    ] = None,
    feedback_mapping: Annotated[
        Path | None,
        typer.Option("--feedback-mapping", help="Another feedback report mapping file."),
    ] = None,
    returns_mapping: Annotated[
        Path | None,
        typer.Option("--returns-mapping", help="Another returns report mapping file."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 (and keep no source) if a line is rejected.")
    ] = False,
) -> None:
    """Amazon's order, feedback and returns reports to a source folder of the data contract."""
    import shutil

    from sellerpolicy.engine.formats.registry import flat_mapping
    from sellerpolicy.engine.importers.amazon_reports import (
        AccountReports,
        account_folders,
        import_amazon_reports,
    )
    from sellerpolicy.engine.importers.report_files import write_report_rejects
    from sellerpolicy.engine.sources.rejects import rejects_path_for

    check_out_folder(out)
    if accounts is not None:
        if orders or feedback or returns or seller_id:
            raise typer.BadParameter("give --accounts, or --orders with --seller-id; not both")
        try:
            found = account_folders(accounts)
        except (ValueError, OSError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--accounts") from exc
    elif orders and seller_id:
        found = [
            AccountReports(seller_id, tuple(orders), tuple(feedback or ()), tuple(returns or ()))
        ]
    else:
        raise typer.BadParameter("give --accounts DIR, or --orders FILE with --seller-id ID")
    try:
        summary = import_amazon_reports(
            found,
            out,
            fmt=fmt,
            orders_mapping=flat_mapping("amazon-all-orders", orders_mapping),
            feedback_mapping=flat_mapping("amazon-seller-feedback", feedback_mapping),
            returns_mapping=flat_mapping("amazon-returns", returns_mapping),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--out") from exc
    rejects_path = rejects_path_for(out)
    if summary.rejects:
        write_report_rejects(summary.rejects, rejects_path)
    console = err_console()
    table = Table("", "", title=f"{out} ({fmt.value})", show_header=False)
    for report, lines in summary.lines.items():
        table.add_row(f"{report} lines", f"{lines:,}")
    for name, rows in summary.rows.items():
        table.add_row(f"{name} rows", f"{rows:,}")
    where = f" ({rejects_path})" if summary.rejects else ""
    table.add_row("rejected lines", f"{len(summary.rejects):,}{where}")
    table.add_row("carried", ", ".join(c.metric for c in summary.carried))
    table.add_row("not assessable", ", ".join(n.metric for n in summary.not_assessable))
    table.add_row("seconds", f"{summary.seconds:.2f}")
    console.print(table)
    for reject in summary.rejects[:_SHOWN]:
        _say(console, f"rejected: {reject.file}:{reject.line}: {reject.reason}")
    if len(summary.rejects) > _SHOWN:
        _say(console, f"... and {len(summary.rejects) - _SHOWN:,} more in {rejects_path}")
    for warning in summary.warnings:
        _say(console, f"warning: {warning}")
    if strict and summary.rejects:
        shutil.rmtree(out, ignore_errors=True)
        err_console().print(
            f"error: {len(summary.rejects):,} rejected lines (see {rejects_path}); "
            "--strict forbids rejects, no source written",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(EXIT_FINDINGS)


HEALTH_EPILOG = """\
Examples:

  sellerpolicy import amazon-account-health A1B2C3.json --out reported.jsonl
  sellerpolicy evaluate --pack amazon --facts reported.jsonl --as-of 2020-11-20 \\
      --out decisions.jsonl

Writes one facts row per account for the pack (every use; null where the report
says nothing, so those rules are not assessed) and <out stem>.windows.jsonl: the
reporting window, JSON path and definition behind each value. A wrong type, a
missing field or an unknown key is one error naming the file and JSON path (exit 2).
"""


@import_app.command("amazon-account-health", epilog=HEALTH_EPILOG)
def amazon_health_command(
    reports: Annotated[list[Path], typer.Argument(help="Account Health reports (JSON).")],
    *,
    out: Annotated[Path, typer.Option("--out", help="Facts file: .jsonl, .csv or .parquet.")],
    pack: Annotated[str, typer.Option("--pack", help="Pack the facts are for.")] = "amazon",
    seller_id: SELLER = None,
    marketplace: Annotated[
        str | None,
        typer.Option("--marketplace", help="Marketplace id, when a report has several."),
    ] = None,
    as_of: AS_OF = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="Another Account Health mapping file.")
    ] = None,
) -> None:
    """Amazon's Account Health report to metric facts for a pack."""
    from sellerpolicy.engine.formats.registry import amazon_health_mapping
    from sellerpolicy.engine.importers.amazon_health import read_account_health

    compiled, loaded = _prepare(out, pack)
    chosen = amazon_health_mapping(mapping)
    reported: list[Reported] = []
    ignored = 0
    for path, seller in _sellers(reports, seller_id):
        report = read_account_health(path, seller, chosen, marketplace)
        reported += report.reported
        ignored += report.ignored
    notes = [f"{ignored:,} fields of the reports are read by no metric (statuses, targets, ...)"]
    _write(_facts(reported, compiled, as_of, reports), out, notes, loaded)


EBAY_EPILOG = """\
Examples:

  sellerpolicy import ebay-seller-standards SELLER1.json \\
      --customer-service SELLER1.inr.json --out reported.jsonl --as-of 2026-11-01

Seller standards: a getSellerStandardsProfile response, or a findSellerStandardsProfiles
response (the profile chosen by --program, default the seller's default program,
and --cycle). Customer service responses of an account are matched to it by the
file name up to its first dot (or --seller-id).
"""


@import_app.command("ebay-seller-standards", epilog=EBAY_EPILOG)
def ebay_command(
    profiles: Annotated[list[Path], typer.Argument(help="Seller standards profiles (JSON).")],
    *,
    out: Annotated[Path, typer.Option("--out", help="Facts file: .jsonl, .csv or .parquet.")],
    customer_service: Annotated[
        list[Path] | None,
        typer.Option("--customer-service", help="getCustomerServiceMetric response; repeat."),
    ] = None,
    pack: Annotated[str, typer.Option("--pack", help="Pack the facts are for.")] = "ebay",
    seller_id: SELLER = None,
    program: Annotated[
        str | None, typer.Option("--program", help="PROGRAM_US, PROGRAM_UK, PROGRAM_DE...")
    ] = None,
    cycle: Annotated[str, typer.Option("--cycle", help="CURRENT or PROJECTED.")] = "CURRENT",
    as_of: AS_OF = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="Another seller standards mapping file.")
    ] = None,
    service_mapping: Annotated[
        Path | None,
        typer.Option("--customer-service-mapping", help="Another customer service mapping."),
    ] = None,
) -> None:
    """eBay's seller standards profile (and customer service metrics) to metric facts."""
    from sellerpolicy.engine.formats.registry import ebay_service_mapping, ebay_standards_mapping
    from sellerpolicy.engine.importers.ebay import read_customer_service, read_seller_standards

    compiled, loaded = _prepare(out, pack)
    standards = ebay_standards_mapping(mapping)
    service = ebay_service_mapping(service_mapping)
    reported: list[Reported] = []
    notes: list[str] = []
    ignored = 0
    sellers = set()
    for path, seller in _sellers(profiles, seller_id):
        report = read_seller_standards(path, seller, standards, program=program, cycle=cycle)
        reported += report.reported
        ignored += report.ignored
        sellers.add(seller)
    for path in customer_service or []:
        seller = seller_id or path.name.split(".", 1)[0]
        if seller not in sellers:
            raise typer.BadParameter(
                f"{path}: account {seller!r} has no seller standards profile here",
                param_hint="--customer-service",
            )
        found = read_customer_service(path, seller, service)
        reported += found.reported
        notes += found.warnings
    if ignored:
        notes.append(f"{ignored:,} metrics of the profiles are read by nothing")
    _write(_facts(reported, compiled, as_of, profiles), out, notes, loaded)


def _prepare(out: Path, pack: str) -> tuple[CompiledPack, str]:
    """The pack, once the output is known to be writable; and how it was named."""
    from sellerpolicy.engine.batch.sinks import format_for
    from sellerpolicy.rules import load_pack, resolve_pack

    check_out_folder(out)
    try:
        format_for(out)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--out") from exc
    return load_pack(resolve_pack(pack)), pack


def _sellers(paths: Sequence[Path], seller_id: str | None) -> list[tuple[Path, str]]:
    """Each report and its account: ``--seller-id`` (one report), else its file name up
    to the first dot. Two reports of one account are refused (one facts row each)."""
    if seller_id is not None and len(paths) > 1:
        raise typer.BadParameter("--seller-id names the account of one report only")
    pairs = [(p, seller_id or p.name.split(".", 1)[0]) for p in paths]
    seen: dict[str, Path] = {}
    for path, seller in pairs:
        if seller in seen:
            raise typer.BadParameter(
                f"{path} and {seen[seller]} are both of account {seller!r}: a facts file "
                "holds one row per account"
            )
        seen[seller] = path
    return pairs


def _facts(
    reported: Sequence[Reported],
    pack: CompiledPack,
    as_of: datetime | None,
    paths: Sequence[Path],
) -> FactsResult:
    """The facts of ``reported`` as of ``--as-of`` or the day the windows end."""
    from datetime import UTC, time

    from sellerpolicy.engine.importers.reported import derived_as_of, to_facts

    if as_of is None:
        days = {derived_as_of([r for r in reported if r.file == str(p)]) for p in paths}
        days.discard(None)
        if len(days) != 1:
            found = ", ".join(sorted(str(d) for d in days)) or "none"
            raise typer.BadParameter(
                f"the reports' windows end on different days ({found}): give --as-of"
            )
        day = days.pop()
        assert day is not None
        instant = datetime.combine(day, time.min, UTC)
    else:
        instant = as_of.replace(tzinfo=UTC)
    return to_facts(reported, pack, instant)


def _write(result: FactsResult, out: Path, notes: Sequence[str], pack: str) -> None:
    """Write the facts and their windows; print what was written and every warning."""
    import json

    from sellerpolicy.engine.batch.sinks import write_table

    written = write_table(result.table, out)
    windows = out.with_name(f"{out.stem}.windows.jsonl")
    windows.write_text(
        "".join(json.dumps(w.to_dict(), ensure_ascii=False) + "\n" for w in result.windows),
        encoding="utf-8",
    )
    console = err_console()
    as_of = result.table.column("as_of")[0].as_py() if written else "-"
    table = Table("", "", title=f"reported facts for {pack}", show_header=False)
    table.add_row("accounts", f"{written:,}")
    table.add_row("as of", str(as_of))
    reported = sorted({w.name for w in result.windows})
    table.add_row("metrics reported", ", ".join(reported) or "(none)")
    table.add_row("output", f"{out} (windows: {windows})")
    console.print(table)
    for line in [*result.warnings, *notes]:
        _say(console, f"warning: {line}")


def _say(console: Console, message: str) -> None:
    console.print(message, markup=False, highlight=False, soft_wrap=True)
