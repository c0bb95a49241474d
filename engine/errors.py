"""Errors of the runtime.

Hierarchy (rooted in :class:`sellerpolicy.rules.diagnostics.SellerPolicyError`)::

    SellerPolicyError
    +-- PackError                 (rules) the pack or a document is invalid
    +-- SourceError               the source cannot be read at all (exit 2)
    +-- FactsError                facts do not fit the pack (missing metric, bad file)
    +-- StoreError                the decision store cannot be used
    +-- AsOfError                 an as_of outside the supported range (also a ValueError)
    +-- StrictRejectsError        --strict and the source had rejects

Problems with one seller are never exceptions: they are decisions with
``not_evaluated`` or ``error`` outcomes, counted in the run summary.
"""

from __future__ import annotations

from sellerpolicy.rules.diagnostics import SellerPolicyError


class SourceError(SellerPolicyError):
    """A source that cannot be read at all: names the file and the problem."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class FactsError(SellerPolicyError):
    """Metric facts that cannot be evaluated with the pack (names the file/field)."""


class StoreError(SellerPolicyError):
    """The decision store cannot be opened, migrated or written."""


class AsOfError(SellerPolicyError, ValueError):
    """An ``as_of`` outside the range sellerpolicy evaluates (see ``metrics.facts``)."""


class StrictRejectsError(SellerPolicyError):
    """``--strict`` was given and the source had rejected rows."""

    def __init__(self, count: int, rejects_path: str) -> None:
        self.count = count
        self.rejects_path = rejects_path
        super().__init__(f"{count} rejected rows (see {rejects_path}); --strict forbids rejects")
