"""The backtest report's values (counts per date and pack, timelines) and its files.

:func:`~sellerpolicy.engine.change.backtest.backtest` computes a
:class:`Backtest`; :func:`write_backtest` writes ``backtest.json`` and
``timelines.jsonl``, each under a temporary name renamed when complete.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sellerpolicy.rules.model import Status

__all__ = [
    "Backtest",
    "Counts",
    "PackBacktest",
    "Pair",
    "Point",
    "Step",
    "Timeline",
    "write_backtest",
]

Pair = tuple[str, str]  # (rule or score, action)


@dataclass(frozen=True, slots=True)
class Counts:
    """Sellers of one date, by status (every label, worst last) and enforced action."""

    sellers: int
    statuses: Mapping[str, int]
    actions: Mapping[str, Mapping[str, int]]  # rule -> enforced action -> sellers

    @classmethod
    def of(
        cls,
        sellers: int,
        statuses: Mapping[str, int],
        actions: Mapping[str, Mapping[str, int]],
    ) -> Counts:
        """Counts in a stable order: every status label, rules and actions sorted."""
        return cls(
            sellers,
            {s.label: int(statuses.get(s.label, 0)) for s in sorted(Status)},
            {rule: dict(sorted(c.items())) for rule, c in sorted(actions.items()) if c},
        )

    def to_json(self) -> dict[str, object]:
        """``sellers``, ``statuses`` and ``actions`` ({rule: {action: sellers}})."""
        return {
            "sellers": self.sellers,
            "statuses": dict(self.statuses),
            "actions": {rule: dict(c) for rule, c in self.actions.items()},
        }


@dataclass(frozen=True, slots=True)
class Point:
    """One pack on one date: what it decided and, with a store, what was stored."""

    as_of: str
    counts: Counts
    stored: Counts | None = None

    def to_json(self) -> dict[str, object]:
        """The counts, and ``stored`` when a store was read."""
        document: dict[str, object] = {"as_of": self.as_of, **self.counts.to_json()}
        if self.stored is not None:
            document["stored"] = self.stored.to_json()
        return document


@dataclass(frozen=True, slots=True)
class PackBacktest:
    """One pack through every date: ``role`` is ``new`` or ``baseline``."""

    role: str
    id: str
    version: str
    digest: str
    points: tuple[Point, ...]

    def to_json(self) -> dict[str, object]:
        """Identity and one entry per date."""
        return {
            "role": self.role,
            "id": self.id,
            "version": self.version,
            "digest": self.digest,
            "dates": [p.to_json() for p in self.points],
        }


@dataclass(frozen=True, slots=True)
class Step:
    """A change of a seller's enforced actions on one date, and its status then."""

    as_of: str
    status: str
    added: tuple[Pair, ...]
    removed: tuple[Pair, ...]

    def to_json(self) -> dict[str, object]:
        """Actions as ``{"rule": ..., "action": ...}`` objects, sorted."""
        return {
            "as_of": self.as_of,
            "status": self.status,
            "added": [{"rule": r, "action": a} for r, a in self.added],
            "removed": [{"rule": r, "action": a} for r, a in self.removed],
        }


@dataclass(frozen=True, slots=True)
class Timeline:
    """One seller's enforced actions under one pack: every change, in date order."""

    role: str
    pack: str
    seller_id: str
    steps: tuple[Step, ...]

    def to_json(self) -> dict[str, object]:
        """One line of ``timelines.jsonl``."""
        return {
            "role": self.role,
            "pack": self.pack,
            "seller_id": self.seller_id,
            "steps": [s.to_json() for s in self.steps],
        }


@dataclass(frozen=True, slots=True)
class Backtest:
    """The whole backtest: its dates, each pack's counts per date, the timelines."""

    dates: tuple[str, ...]
    every: str
    source: str
    rejects: int
    store: str | None
    packs: tuple[PackBacktest, ...]
    timelines: tuple[Timeline, ...] = field(repr=False)

    def to_json(self) -> dict[str, object]:
        """The ``backtest.json`` document (timelines are counted, not listed)."""
        return {
            "dates": list(self.dates),
            "every": self.every,
            "source": self.source,
            "rejects": self.rejects,
            "store": self.store,
            "packs": [p.to_json() for p in self.packs],
            "timelines": len(self.timelines),
        }


def write_backtest(report: Backtest, folder: Path) -> tuple[Path, Path]:
    """Write ``backtest.json`` and ``timelines.jsonl`` into ``folder``; return their paths.

    Each file is written under a temporary name and renamed when complete.
    """
    document, lines = folder / "backtest.json", folder / "timelines.jsonl"
    _replace(document, json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    _replace(
        lines,
        "".join(json.dumps(t.to_json(), ensure_ascii=False) + "\n" for t in report.timelines),
    )
    return document, lines


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
