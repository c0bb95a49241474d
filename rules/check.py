"""The semantic checks of a pack, run in one fixed order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .diagnostics import Diagnostic
from .loader import LoadedDocument
from .semantic import (
    Checker,
    check_actions,
    check_dates,
    check_metric_uses,
    check_rules,
    check_unused,
)
from .semantic_scores import check_scores


def check_semantics(document: LoadedDocument, refused: Iterable[str] = ()) -> list[Diagnostic]:
    """Every semantic finding of a pack document, sorted.

    ``refused`` are the JSON paths of the schema's findings: the parts under
    them are skipped (:class:`Checker`). A document whose top level or
    ``spec`` is no mapping has nothing to check.
    """
    data = document.data
    if not (isinstance(data, Mapping) and isinstance(data.get("spec"), Mapping)):
        return []
    checker = Checker(document, frozenset(refused))
    check_actions(checker)
    check_metric_uses(checker)
    check_rules(checker)
    check_scores(checker)
    check_dates(checker)
    check_unused(checker)
    return sorted(checker.found)
