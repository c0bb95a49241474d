"""What the decision store takes and gives back, and how it encodes it.

Owns the record types of :mod:`.decisions` (:class:`DecisionRecord` and its
:class:`RuleRecord` going in, :class:`StoredDecision` and :class:`DecisionPage`
coming out), the compact JSON the store keeps documents in
(:func:`encode_json`) and the conversions between the naive UTC timestamps
the tables hold and the aware UTC datetimes callers see.

:meth:`DecisionRecord.of` encodes the document as it builds the record, so
an adapter that also sends the decision (the HTTP service) reuses that text.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sellerpolicy.engine.evaluation.decision import Decision, Outcome

__all__ = [
    "DecisionPage",
    "DecisionRecord",
    "RuleRecord",
    "StoredDecision",
    "aware_utc",
    "encode_json",
    "naive_utc",
]

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_json(value: object) -> str:
    """Compact JSON text, the form the store keeps documents in."""
    return _ENCODER.encode(value)


@dataclass(frozen=True, slots=True)
class RuleRecord:
    """One rule of a decision, as the store keeps it."""

    rule_id: str
    outcome: str
    fired: bool
    actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decision to append: its identity, status, rule outcomes and JSON document."""

    seller_id: str
    as_of: datetime
    status: str
    document: Mapping[str, object]
    rules: tuple[RuleRecord, ...]
    decision_id: str = ""  # empty: the store assigns a new UUID
    document_json: str = ""  # the document as compact JSON text; empty: encoded on append

    @classmethod
    def of(cls, decision: Decision) -> DecisionRecord:
        """The record of a decision; a rule *fired* when its condition held (``matched``)."""
        enforced: dict[str, list[str]] = defaultdict(list)
        for action in decision.enforced_actions:
            enforced[action.rule].append(action.action)
        document = decision.to_json()
        return cls(
            seller_id=decision.seller_id,
            as_of=aware_utc(datetime.fromisoformat(decision.as_of)),
            status=decision.status.label,
            document=document,
            rules=tuple(
                RuleRecord(
                    rule_id=result.rule,
                    outcome=result.outcome.value,
                    fired=result.outcome is Outcome.MATCHED,
                    actions=tuple(enforced.get(result.rule, ())),
                )
                for result in decision.rules
            ),
            decision_id=decision.decision_id,
            document_json=encode_json(document),
        )


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A decision read back from the store."""

    decision_id: str
    run_id: str
    seller_id: str
    pack_id: str
    pack_version: str
    pack_digest: str
    as_of: datetime
    status: str
    evaluated_at: datetime
    document: Mapping[str, object]
    rules: tuple[RuleRecord, ...]


@dataclass(frozen=True, slots=True)
class DecisionPage:
    """One page of a seller's decisions, newest first, and the cursor of the next page."""

    decisions: tuple[StoredDecision, ...]
    next_cursor: str | None


def naive_utc(value: datetime) -> datetime:
    """Aware -> naive UTC (naive values are taken as UTC already)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def aware_utc(value: datetime) -> datetime:
    """Naive UTC -> aware UTC; aware values are converted to UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
