"""Escalation history: how many times in a row a rule has fired for a seller.

Ladders (``escalation`` in a pack) choose a rule's actions by its streak of
consecutive firings; :func:`streak_length` is the one place where a lapse is
decided, shared by the decision store and the in-memory history of pack
fixtures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from sellerpolicy.rules.model import CompiledPack, Rule

__all__ = ["Firing", "HistoryFromRecords", "HistoryLookup", "ladder_actions", "streak_length"]


class HistoryLookup(Protocol):
    """Earlier firings of a rule, as the decision store remembers them."""

    def streak(self, seller_id: str, rule_id: str, as_of: date) -> int:
        """Consecutive firings of the rule before ``as_of``, the streak not lapsed."""
        ...


def streak_length(firings: Iterable[date], as_of: date, lapse: timedelta) -> int:
    """Count consecutive earlier firings: the one place where lapse is decided.

    Walking back from ``as_of``, each earlier firing (strictly before
    ``as_of``; one per day) extends the streak while the gap to the later
    one (or to ``as_of``) is at most ``lapse``; a longer gap ends it (the
    rule "has not fired for" the lapse only once more than ``lapse`` has
    passed: a firing exactly 180 days after the last one still escalates).
    """
    count, cursor = 0, as_of
    for day in sorted({d for d in firings if d < as_of}, reverse=True):
        if cursor - day > lapse:
            break
        count, cursor = count + 1, day
    return count


@dataclass(frozen=True, slots=True)
class Firing:
    """One remembered firing: the rule fired for the seller as of that date."""

    seller_id: str
    rule: str
    as_of: date


class HistoryFromRecords:
    """An in-memory :class:`HistoryLookup` over firing records (tests, pack fixtures)."""

    def __init__(self, records: Iterable[Firing], pack: CompiledPack) -> None:
        dates: dict[tuple[str, str], list[date]] = {}
        for record in records:
            dates.setdefault((record.seller_id, record.rule), []).append(record.as_of)
        self._dates = {key: tuple(value) for key, value in dates.items()}
        self._lapse = {r.id: r.escalation.lapse for r in pack.rules if r.escalation is not None}

    def streak(self, seller_id: str, rule_id: str, as_of: date) -> int:
        """Consecutive earlier firings (rules without a ladder never lapse)."""
        lapse = self._lapse.get(rule_id, timedelta.max)
        return streak_length(self._dates.get((seller_id, rule_id), ()), as_of, lapse)


def ladder_actions(rule: Rule, firing: int) -> tuple[str, ...]:
    """The actions of a rule on its ``firing``-th consecutive firing."""
    if rule.escalation is None:
        return rule.actions
    reached = [step for step in rule.escalation.steps if step.after <= firing]
    if not reached:
        return rule.actions
    return max(reached, key=lambda step: step.after).actions
