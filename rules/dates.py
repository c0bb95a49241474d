"""Calendar dates in documents: the schema checks the shape, this the calendar."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import date
from typing import Any

from .diagnostics import Diagnostic
from .jsonpath import child_path
from .loader import LoadedDocument

#: Keys whose values are dates in every document kind.
DATE_KEYS = frozenset({"effective_from", "effective_until", "checked", "expires", "as_of"})


def _date_fields(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            sub = child_path(path, key)
            if key in DATE_KEYS and isinstance(item, str):
                yield sub, item
            else:
                yield from _date_fields(item, sub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _date_fields(item, child_path(path, i))


def parse_date(text: str) -> date | None:
    """The date written ``YYYY-MM-DD``, or None when there is no such day."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def calendar_date_errors(
    document: LoadedDocument, refused: Collection[str] = frozenset()
) -> list[Diagnostic]:
    """``invalid_date`` for each date-shaped value that names no real day.

    Values at ``refused`` paths (the schema's findings: not date-shaped, or
    where no date belongs) are left to the schema.
    """
    found = []
    for path, text in _date_fields(document.data, "$"):
        if path not in refused and parse_date(text) is None:
            where = document.locate(path)
            found.append(
                Diagnostic(
                    document.file,
                    where.line,
                    where.column,
                    "invalid_date",
                    path,
                    f"{text!r} is not a calendar date",
                )
            )
    return found
