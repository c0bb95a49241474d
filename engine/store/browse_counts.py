"""Counting the decisions of a filter by status and by enforced action.

Without a rule or action filter the statuses are summed from
``ix_decisions_as_of_browse`` alone, and the actions from one row per
distinct ``rules`` list of the decisions in which a rule fired (read from
``ix_decisions_fired_browse``, which on SQLite holds the lists): a day of
tens of thousands of decisions has a few hundred distinct lists, each parsed
once. With one, both come from one row per distinct (status, list), each
list checked against the filter here, so no decision is looked up one by
one. Decisions written before 0002 (no list) are counted from
``decision_rules``. A decision that enforces an action through two rules
counts once for it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, case, func, select

from sellerpolicy.engine.store.migrations.schema import decisions_table

from .browse_where import (
    FIRED,
    RULES,
    STATUSES,
    DecisionFilter,
    conditions,
    fired_rules,
    legacy_rules,
    matches,
)
from .records import RuleRecord

__all__ = ["DecisionCounts", "count_decisions"]

_D = decisions_table.c


@dataclass(frozen=True, slots=True)
class DecisionCounts:
    """How many decisions match, by status and by enforced action.

    A decision that enforces an action through two rules counts once for it.
    ``limited``: the chosen days hold more than the limit; nothing is counted.
    """

    total: int
    by_status: dict[str, int]
    by_action: dict[str, int]
    limited: bool = False


def count_decisions(
    connection: Connection, chosen: DecisionFilter
) -> tuple[dict[str, int], dict[str, int]]:
    """Decisions of ``chosen`` by status (best first) and by enforced action (most first)."""
    if chosen.rule_id is None and chosen.action is None:
        return _counts(connection, conditions(connection, chosen))
    return _fired_counts(connection, chosen)


def _counts(
    connection: Connection, where: list[ColumnElement[bool]]
) -> tuple[dict[str, int], dict[str, int]]:
    """Counts by status (the browse index) and by action (the fired index: one row per
    distinct ``rules`` list, checked here)."""
    sums = [func.sum(case((_D.status == status, 1), else_=0)) for status in STATUSES]
    known = connection.execute(select(func.count(), *sums).where(*where)).one()
    total, statuses = int(known[0]), [int(n or 0) for n in known[1:]]
    by_status = {s: n for s, n in zip(STATUSES, statuses, strict=True) if n}
    if sum(statuses) < total:  # a status this engine does not make
        by_status["other"] = total - sum(statuses)
    lists = select(RULES, func.count()).where(*where, FIRED).group_by(RULES)
    by_action: Counter[str] = Counter()
    for rules, n in connection.execute(lists):
        if rules is not None:
            by_action.update(dict.fromkeys(_actions(fired_rules(rules)), n))
    _add_legacy(connection, [*where, FIRED], Counter(), by_action)
    return by_status, dict(by_action.most_common())


def _fired_counts(
    connection: Connection, chosen: DecisionFilter
) -> tuple[dict[str, int], dict[str, int]]:
    """Counts under a rule or action filter, from the fired index alone: one row per
    distinct (status, ``rules`` list), each list checked against the filter here."""
    where = conditions(connection, chosen, exact=False)
    groups = select(_D.status, RULES, func.count()).where(*where).group_by(_D.status, RULES)
    by_status: Counter[str] = Counter()
    by_action: Counter[str] = Counter()
    for status, rules, n in connection.execute(groups):
        if rules is not None and matches(fired := fired_rules(rules), chosen):
            by_status[status] += n
            by_action.update(dict.fromkeys(_actions(fired), n))
    _add_legacy(connection, conditions(connection, chosen), by_status, by_action)
    ordered = {s: by_status.pop(s) for s in STATUSES if s in by_status} | dict(by_status)
    return ordered, dict(by_action.most_common())


def _actions(fired: tuple[RuleRecord, ...]) -> list[str]:
    return list(dict.fromkeys(a for rule in fired for a in rule.actions))


def _add_legacy(
    connection: Connection,
    where: list[ColumnElement[bool]],
    by_status: Counter[str],
    by_action: Counter[str],
) -> None:
    """Count the decisions of ``where`` written before 0002 (no ``rules`` list) from
    ``decision_rules``. The query reads the range of an index holding them (the fired
    index on SQLite, ``ix_decisions_without_rules`` where statistics find it empty)."""
    legacy = select(_D.decision_id, _D.status).where(*where, _D.rules.is_(None))
    found = connection.execute(legacy).all()
    if not found:
        return
    by_status.update(status for _id, status in found)
    for start in range(0, len(found), 2_000):
        fired = legacy_rules(connection, [i for i, _s in found[start : start + 2_000]])
        for rules in fired.values():
            by_action.update(_actions(tuple(rules)))
