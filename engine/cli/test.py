"""``sellerpolicy test [PATH...]``: run the fixtures beside each pack.

Without a path every shipped pack is tested; a path may be a pack file, a
pack folder or a folder of pack folders. ``--generate-edges`` adds the cases
derived from the pack itself (see :mod:`sellerpolicy.engine.evaluation.packtest`).
Output: a Rich text report (default), JSON, or JUnit XML for CI. Exit 1 when
any case fails.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sellerpolicy.engine.cli.root import EXIT_FINDINGS, app
from sellerpolicy.engine.evaluation.backends.protocol import BackendName

if TYPE_CHECKING:
    from sellerpolicy.engine.evaluation.packtest import CaseResult, PackReport


class ReportFormat(StrEnum):
    """How ``test`` prints its results."""

    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"


TEST_EPILOG = """\
Examples:

  # every shipped pack's test cases
  sellerpolicy test

  sellerpolicy test policies/amazon --generate-edges

  # a JUnit report for CI, the durable back end (Python 3.11 and 3.12 only)
  sellerpolicy test my-packs/ --format junit --out pack-tests.xml --backend durable
"""


@app.command("test", epilog=TEST_EPILOG)
def pack_tests(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Pack files, pack folders or folders of packs (default: shipped)."),
    ] = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="text, json or junit (XML).")
    ] = ReportFormat.TEXT,
    generate_edges: Annotated[
        bool,
        typer.Option(
            "--generate-edges",
            help="Also check every rate threshold exactly at, one order above and below it.",
        ),
    ] = False,
    backend: Annotated[
        BackendName,
        typer.Option(
            "--backend", help="Evaluation back end (auto: pure Python for fixtures; they agree)."
        ),
    ] = BackendName.AUTO,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the report to this file.")
    ] = None,
) -> None:
    """Run pack tests (fixtures in <pack>/tests/*.yaml); exit 1 when any case fails."""
    from sellerpolicy.engine.batch.backends import select_backend
    from sellerpolicy.engine.evaluation.packtest import discover, run_pack

    try:
        engine = select_backend(backend, small=True)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--backend") from exc
    reports = [
        run_pack(path, backend=engine, generate_edges=generate_edges)
        for path in discover(paths or [])
    ]
    if output_format is ReportFormat.TEXT:
        console = Console(file=out.open("w", encoding="utf-8") if out else None)
        try:
            print_text(reports, console, show_generated=generate_edges)
        finally:
            if out:
                console.file.close()
    else:
        text = to_json(reports) if output_format is ReportFormat.JSON else to_junit(reports)
        if out:
            out.write_text(text + "\n", encoding="utf-8")
        else:
            typer.echo(text)
    if any(report.failed for report in reports):
        raise typer.Exit(EXIT_FINDINGS)


def print_text(reports: Sequence[PackReport], console: Console, *, show_generated: bool) -> None:
    """One line per pack with its counts, then every failure with expected vs got."""
    for report in reports:
        colour = "red" if report.failed else "green"
        generated = sum(case.generated for case in report.cases)
        extra = f" ({generated} generated)" if generated else ""
        if not report.cases:
            extra = " [yellow](no fixtures in tests/)[/yellow]"
        console.print(
            f"[bold]{escape(report.pack)}[/bold]: [{colour}]{report.passed} passed, "
            f"{report.failed} failed[/{colour}]{extra}"
        )
        for case in report.cases:
            if not case.passed:
                _print_failure(case, console)
            elif case.generated and show_generated:
                console.print(f"  [dim]ok[/dim] {escape(case.name)}", soft_wrap=True)
    total = sum(r.failed for r in reports)
    passed = sum(r.passed for r in reports)
    summary = f"{len(reports)} packs: {passed} passed, {total} failed"
    console.print(f"[bold {'red' if total else 'green'}]{summary}[/]")


def _print_failure(case: CaseResult, console: Console) -> None:
    where = f"{escape(_display(case.file))}:{case.line}"
    console.print(f"  [red]FAIL[/red] {where}: {escape(case.name)}", soft_wrap=True)
    for m in case.mismatches:
        console.print(
            f"    {escape(m.what)}: expected {escape(m.expected)}, got {escape(m.got)}",
            highlight=False,
            soft_wrap=True,
        )


def _display(file: str) -> str:
    """A path relative to the working directory when it lies below it."""
    path = Path(file)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return file


def _case_json(case: CaseResult) -> dict[str, object]:
    return {
        "name": case.name,
        "file": case.file,
        "line": case.line,
        "generated": case.generated,
        "passed": case.passed,
        "mismatches": [
            {"what": m.what, "expected": m.expected, "got": m.got} for m in case.mismatches
        ],
    }


def to_json(reports: Sequence[PackReport]) -> str:
    """The results as one JSON document."""
    return json.dumps(
        {
            "passed": sum(r.passed for r in reports),
            "failed": sum(r.failed for r in reports),
            "packs": [
                {
                    "pack": r.pack,
                    "path": r.path,
                    "passed": r.passed,
                    "failed": r.failed,
                    "cases": [_case_json(c) for c in r.cases],
                }
                for r in reports
            ],
        },
        indent=2,
    )


def to_junit(reports: Sequence[PackReport]) -> str:
    """The results as JUnit XML: one ``testsuite`` per pack, one ``testcase`` per case."""
    root = ET.Element(
        "testsuites",
        name="sellerpolicy pack tests",
        tests=str(sum(len(r.cases) for r in reports)),
        failures=str(sum(r.failed for r in reports)),
    )
    for report in reports:
        suite = ET.SubElement(
            root,
            "testsuite",
            name=report.pack,
            tests=str(len(report.cases)),
            failures=str(report.failed),
            file=report.path,
        )
        for case in report.cases:
            element = ET.SubElement(
                suite,
                "testcase",
                classname=report.pack + (".generated" if case.generated else ""),
                name=case.name,
                file=case.file,
                line=str(case.line),
            )
            if case.mismatches:
                failure = ET.SubElement(
                    element, "failure", message=f"{len(case.mismatches)} expectation(s) not met"
                )
                failure.text = "\n".join(
                    f"{m.what}: expected {m.expected}, got {m.got}" for m in case.mismatches
                )
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
