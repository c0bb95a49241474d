"""Diagnostics: problems found in a pack, as values.

Every stage of the pack language (load -> validate -> check -> compile)
returns a list of :class:`Diagnostic`; only the boundary
(:func:`sellerpolicy.rules.load_pack`) raises, once, with all of them.

Exception hierarchy (all of sellerpolicy's own errors)::

    SellerPolicyError
    +-- PackError            a pack, exemption or fixture document is invalid
    +-- (engine errors derive from SellerPolicyError in sellerpolicy.engine.errors)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """How bad a diagnostic is; only errors make a pack unusable."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One problem, located: ``file:line:column`` (1-based) and a JSON path."""

    file: str
    line: int
    column: int
    code: str
    json_path: str
    message: str
    hint: str | None = None
    level: Level = Level.ERROR

    def render(self) -> str:
        """Render as ``file:line:col: code: json_path: message (hint)``."""
        where = f"{self.file}:{self.line}:{self.column}"
        text = f"{where}: {self.code}: {self.json_path}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping with stable keys."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "json_path": self.json_path,
            "message": self.message,
            "hint": self.hint,
            "level": self.level.value,
        }


class SellerPolicyError(Exception):
    """Base of every error sellerpolicy raises on purpose."""


class PackError(SellerPolicyError):
    """A document failed to load; carries every diagnostic, sorted."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(sorted(diagnostics))
        first = self.diagnostics[0].render() if self.diagnostics else "invalid pack"
        more = len(self.diagnostics) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))


class PackNotFoundError(PackError):
    """The pack reference names no file, no folder with ``pack.yaml`` and no shipped pack.

    Unusable input rather than a broken pack: the CLI exits 2 on it, not 1.
    """


def errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics that are errors (warnings do not block a pack)."""
    return [d for d in diagnostics if d.level is Level.ERROR]
