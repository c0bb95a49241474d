"""The semantic checks of a pack, run in one fixed order."""

from __future__ import annotations

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


def check_semantics(document: LoadedDocument) -> list[Diagnostic]:
    """Every semantic finding of a schema-valid pack document, sorted."""
    checker = Checker(document)
    check_actions(checker)
    check_metric_uses(checker)
    check_rules(checker)
    check_scores(checker)
    check_dates(checker)
    check_unused(checker)
    return sorted(checker.found)
