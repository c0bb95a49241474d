"""How much explaining a decision carries (``--explain``, ``?explain=``).

Its own module, without the explanation code, so that the command line can
offer the choice without importing it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ExplainLevel"]


class ExplainLevel(StrEnum):
    """How much explaining a decision carries.

    ``none``: outcomes only (fastest, for bulk runs). ``summary``: rendered
    templates for firing rules and actions, reasons, distances. ``full``: also
    a plain sentence for every rule that did not fire.
    """

    NONE = "none"
    SUMMARY = "summary"
    FULL = "full"
