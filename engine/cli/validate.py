"""``sellerpolicy validate PATH...``: check packs, exemptions and pack tests.

Folders are searched recursively for ``*.yaml`` / ``*.yml``; each document is
checked by its ``kind`` (a file under a ``tests/`` folder without a usable
``kind`` is taken for a ``PackTest``, anything else for a ``PolicyPack``).
Every diagnostic is printed as ``file:line:col: code: json_path: message
(hint)``, then one summary line. Exit 1 on any error; warnings do not fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sellerpolicy.engine.cli.root import EXIT_FINDINGS, app
from sellerpolicy.engine.errors import SourceError
from sellerpolicy.rules.diagnostics import Diagnostic, Level

_SUFFIXES = (".yaml", ".yml")


class OutputFormat(StrEnum):
    """How ``validate`` prints its findings."""

    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class DocumentReport:
    """The findings for one file."""

    file: str
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> int:
        """How many findings are errors."""
        return sum(d.level is Level.ERROR for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        """How many findings are warnings."""
        return sum(d.level is Level.WARNING for d in self.diagnostics)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The findings of one ``validate`` run, file by file."""

    documents: tuple[DocumentReport, ...]

    @property
    def errors(self) -> int:
        """Errors over all files."""
        return sum(doc.errors for doc in self.documents)

    @property
    def warnings(self) -> int:
        """Warnings over all files."""
        return sum(doc.warnings for doc in self.documents)

    def summary(self) -> str:
        """One line: how many documents, errors and warnings."""
        failed = sum(doc.errors > 0 for doc in self.documents)
        return (
            f"validated {len(self.documents)} document(s): {self.errors} error(s), "
            f"{self.warnings} warning(s); {failed} document(s) invalid"
        )

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping: documents, every diagnostic, and the totals."""
        return {
            "documents": [
                {"file": doc.file, "valid": doc.errors == 0, "errors": doc.errors}
                for doc in self.documents
            ],
            "diagnostics": [d.to_json() for doc in self.documents for d in doc.diagnostics],
            "summary": {
                "documents": len(self.documents),
                "errors": self.errors,
                "warnings": self.warnings,
            },
        }


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """The YAML files named or found (recursively, hidden folders skipped) under ``paths``.

    A path that does not exist, or a folder without YAML files, is unusable input.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = (
                p
                for p in path.rglob("*")
                if p.suffix in _SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            listed = sorted(found)
            if not listed:
                raise SourceError(str(path), "no .yaml or .yml files in this folder")
            files.extend(listed)
        else:
            raise SourceError(str(path), "no such file or directory")
    return files


def default_kind(path: Path) -> str:
    """The kind a file is read as when its own ``kind`` is missing or unknown."""
    from sellerpolicy.rules.api import PACK_KIND, PACKTEST_KIND

    return PACKTEST_KIND if "tests" in path.parent.parts else PACK_KIND


def validate_paths(paths: Sequence[Path]) -> ValidationReport:
    """Check every document under ``paths``."""
    from sellerpolicy.rules.api import check_document, exemption_diagnostics
    from sellerpolicy.rules.model import CompiledPack, Exemption

    checked = [(file, *check_document(file, default_kind(file))) for file in collect_files(paths)]
    packs = [doc for _, doc, _ in checked if isinstance(doc, CompiledPack)]
    reports = []
    for file, doc, found in checked:
        crossed = (
            exemption_diagnostics(file, doc, packs)  # validated with its pack: cross-check
            if packs and isinstance(doc, Exemption)
            else []
        )
        reports.append(DocumentReport(str(file), tuple(sorted([*found, *crossed]))))
    return ValidationReport(tuple(reports))


VALIDATE_EPILOG = """\
Examples:

  sellerpolicy validate policies/amazon/pack.yaml

  # every pack, pack test and exemption under a folder, as JSON for a CI step
  sellerpolicy validate policies/ --format json
"""


@app.command("validate", epilog=VALIDATE_EPILOG)
def validate(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Pack, exemption or pack-test files, or folders to search."),
    ],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="text (one line per finding) or json.")
    ] = OutputFormat.TEXT,
) -> None:
    """Validate rule packs, exemptions and pack tests; exit 1 on any error."""
    report = validate_paths(paths)
    if output_format is OutputFormat.JSON:
        typer.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        for doc in report.documents:
            for diagnostic in doc.diagnostics:
                typer.echo(diagnostic.render())
        typer.echo(report.summary())
    if report.errors:
        raise typer.Exit(EXIT_FINDINGS)
