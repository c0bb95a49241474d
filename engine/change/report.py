"""The impact report's values: counts, changed sellers, moved thresholds, and their JSON.

:func:`~sellerpolicy.engine.change.impact.impact` computes an
:class:`ImpactReport`; the CLI, the HTML page, the Python API and the
service render it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sellerpolicy.engine.columnar.read import STATUS_LABELS
from sellerpolicy.rules.diff import Change
from sellerpolicy.rules.model import CompiledPack

__all__ = [
    "ActionCount",
    "ChangedSeller",
    "ImpactReport",
    "PackRef",
    "RuleCount",
    "Side",
    "ThresholdChange",
]


@dataclass(frozen=True, slots=True)
class PackRef:
    """Which pack: id, version and digest."""

    id: str
    version: str
    digest: str

    @classmethod
    def of(cls, pack: CompiledPack) -> PackRef:
        """The reference of a compiled pack."""
        return cls(pack.id, pack.version, pack.digest)

    def to_json(self) -> dict[str, str]:
        """A JSON-ready mapping."""
        return {"id": self.id, "version": self.version, "digest": self.digest}


@dataclass(frozen=True, slots=True)
class RuleCount:
    """One rule's firings and not-assessed sellers under each pack (None: not in that pack)."""

    rule: str
    fired_before: int | None
    fired_after: int | None
    not_assessed_before: int | None
    not_assessed_after: int | None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "rule": self.rule,
            "fired_before": self.fired_before,
            "fired_after": self.fired_after,
            "not_assessed_before": self.not_assessed_before,
            "not_assessed_after": self.not_assessed_after,
        }


@dataclass(frozen=True, slots=True)
class ActionCount:
    """Sellers on whom an action is enforced, before and after (``rule`` None: any rule)."""

    action: str
    rule: str | None
    before: int
    after: int

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "action": self.action,
            "rule": self.rule,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True, slots=True)
class ThresholdChange:
    """A threshold the new pack moves, and how the metric is spread over the population."""

    rule: str
    metric: str
    fact: str  # the facts column the leaf reads (the metric, or its __num count)
    op: str
    old: float
    new: float
    percent: bool
    measured: int  # sellers with a value
    between: int  # sellers whose value lies between the old and new thresholds
    edges: tuple[float, ...]
    counts: tuple[int, ...]

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping (the histogram, not every value)."""
        return {
            "rule": self.rule,
            "metric": self.metric,
            "fact": self.fact,
            "op": self.op,
            "old": self.old,
            "new": self.new,
            "percent": self.percent,
            "measured": self.measured,
            "between": self.between,
            "histogram": {"edges": list(self.edges), "counts": list(self.counts)},
        }


@dataclass(frozen=True, slots=True)
class Side:
    """One seller's decision under one pack, as the report shows it."""

    status: str
    actions: tuple[dict[str, object], ...]  # enforced: action, rule, explanation
    reasons: tuple[dict[str, object], ...]  # fired rules: rule, explanation, distance

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {"status": self.status, "actions": list(self.actions), "rules": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class ChangedSeller:
    """A seller whose status or enforced actions change, with both decisions explained."""

    seller_id: str
    before: Side
    after: Side

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "seller_id": self.seller_id,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
        }


@dataclass(frozen=True, slots=True)
class ImpactReport:
    """Everything the impact of ``new`` against ``baseline`` on one population shows."""

    new: PackRef
    baseline: PackRef
    as_of: str
    population: str
    sellers: int
    changes: tuple[Change, ...]
    matrix: tuple[tuple[int, ...], ...]  # [baseline status][new status], STATUS_LABELS order
    rules: tuple[RuleCount, ...]
    actions: tuple[ActionCount, ...]  # per (rule, action), then per action (rule None)
    changed: pa.Table  # seller_id, status_before, status_after, actions_before, actions_after
    explained: tuple[ChangedSeller, ...]
    thresholds: tuple[ThresholdChange, ...]
    rejects: int = 0

    @property
    def statuses(self) -> tuple[str, ...]:
        """The status labels, in the matrix's order."""
        return STATUS_LABELS

    def status_counts(self, *, after: bool) -> dict[str, int]:
        """Sellers per status under the new pack (``after``) or the baseline."""
        grid = np.array(self.matrix)
        totals = grid.sum(axis=0) if after else grid.sum(axis=1)
        return {label: int(n) for label, n in zip(STATUS_LABELS, totals, strict=True)}

    def to_json(self) -> dict[str, object]:
        """The whole report as a JSON-ready mapping (every changed seller listed)."""
        explained = {c.seller_id: c for c in self.explained}
        sellers = []
        for row in self.changed.to_pylist():
            entry: dict[str, object] = dict(row)
            found = explained.get(str(row["seller_id"]))
            if found is not None:
                entry["before"] = found.before.to_json()
                entry["after"] = found.after.to_json()
            sellers.append(entry)
        return {
            "new": self.new.to_json(),
            "baseline": self.baseline.to_json(),
            "as_of": self.as_of,
            "population": self.population,
            "sellers": self.sellers,
            "rejects": self.rejects,
            "changes": [c.to_json() for c in self.changes],
            "statuses": {
                "labels": list(STATUS_LABELS),
                "matrix": [list(row) for row in self.matrix],
                "before": self.status_counts(after=False),
                "after": self.status_counts(after=True),
            },
            "rules": [r.to_json() for r in self.rules],
            "actions": [a.to_json() for a in self.actions if a.rule is not None],
            "action_totals": [a.to_json() for a in self.actions if a.rule is None],
            "changed_sellers": {
                "count": self.changed.num_rows,
                "explained": len(self.explained),
                "sellers": sellers,
            },
            "thresholds": [t.to_json() for t in self.thresholds],
        }
