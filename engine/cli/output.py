"""``--format text|json`` of the commands that print a summary or a result.

With ``json`` the summary is one JSON document on stdout and nothing else is
written there: progress, notes and warnings stay on stderr, so that
``sellerpolicy evaluate ... --format json | jq .statuses`` works.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["FormatOption", "SummaryFormat", "plain", "print_json"]


class SummaryFormat(StrEnum):
    """How a command prints its summary or result on stdout."""

    TEXT = "text"
    JSON = "json"


FormatOption = Annotated[
    SummaryFormat,
    typer.Option(
        "--format", help="text (for people) or json (one document on stdout, for scripts)."
    ),
]


def plain(value: object) -> object:
    """``value`` as JSON-ready data: dataclasses and mappings as objects, paths as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def print_json(data: object) -> None:
    """One JSON document (sorted keys as given, indented) and a newline on stdout."""
    sys.stdout.write(json.dumps(plain(data), indent=2, ensure_ascii=False, allow_nan=False))
    sys.stdout.write("\n")
    sys.stdout.flush()
