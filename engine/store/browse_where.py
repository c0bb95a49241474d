"""The ``WHERE`` of the workbench's decision queries: filters, runs left out, fired rules.

:func:`conditions` turns a :class:`DecisionFilter` into conditions shaped to
the browse indexes of migration 0006 (see :mod:`.browse`): the ``as_of`` range
first; pack, version and status as plain values (:func:`_plain`); a rule
filter as the exact text a fired rule leaves in a decision's compact
``rules`` list (``["rule","matched",true,``), an action filter as the lists
that name the action, checked in ``decision_rules`` (or, by a caller
holding the lists, by :func:`matches`). :data:`FIRED` is the ``WHERE`` of
``ix_decisions_fired_browse`` word for word, so that a query using it can read
that index. Decisions written before 0002 have no list: their
``decision_rules`` rows answer instead (:func:`legacy_rules`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from sqlalchemy import (
    ColumnElement,
    Connection,
    Text,
    and_,
    cast,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.exc import SQLAlchemyError

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.store.migrations.schema import (
    decision_rules_table,
    decisions_table,
    runs_table,
)

from .records import RuleRecord
from .runs import RunState

__all__ = [
    "FIRED",
    "RULES",
    "STATUSES",
    "DecisionFilter",
    "complete_only",
    "conditions",
    "day_start",
    "fired_rules",
    "legacy_rules",
    "matches",
    "store_error",
]

#: The statuses a decision can have, best first.
STATUSES = ("healthy", "at_risk", "critical")

_D = decisions_table.c
_R = decision_rules_table.c
_RUN = runs_table.c
#: A decision's compact ``rules`` list as text (``[rule, outcome, fired, actions]``...).
RULES = cast(_D.rules, Text)
#: The decisions in which a rule fired: the ``WHERE`` of ``ix_decisions_fired_browse``
#: word for word (``FIRED_ROWS``), its pattern a literal, so that a query can use it.
FIRED = or_(RULES.like(literal_column("'%,true,%'")), _D.rules.is_(None))


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    """Which decisions a page shows: each field narrows the set; None leaves it open.

    ``rule_id`` keeps decisions in which that rule fired; ``action`` those
    that enforced the action; ``as_of_from`` and ``as_of_to`` are inclusive
    days (UTC).
    """

    pack_id: str | None = None
    pack_version: str | None = None
    status: str | None = None
    rule_id: str | None = None
    action: str | None = None
    as_of_from: date | None = None
    as_of_to: date | None = None


def store_error(where: str, exc: SQLAlchemyError) -> StoreError:
    """The store error of a failed read."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return StoreError(f"cannot read the decision store {where}: {detail}")


def complete_only(connection: Connection) -> list[ColumnElement[bool]]:
    """Conditions leaving out the decisions of runs that did not complete.

    The runs are found by ``ix_runs_state`` (a service makes a run per
    request, so ``runs`` can be large); each condition names the run's
    ``as_of`` and pack version first, so other rows are kept on index columns.
    """
    unfinished = [s.value for s in RunState if s is not RunState.COMPLETE]
    query = select(_RUN.run_id, _RUN.pack_id, _RUN.pack_version, _RUN.as_of).where(
        _RUN.state.in_(unfinished)
    )
    return [
        not_(
            and_(
                _D.as_of == as_of,
                _D.pack_id == pack_id,
                _D.pack_version == pack_version,
                _D.run_id == run_id,
            )
        )
        for run_id, pack_id, pack_version, as_of in connection.execute(query)
    ]


def day_start(day: date) -> datetime:
    """The first instant of ``day``, naive UTC as the table holds it."""
    return datetime.combine(day, time.min)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _plain(connection: Connection, column: ColumnElement[str]) -> ColumnElement[str]:
    """``column`` written so that no index is chosen for it (on SQLite).

    Without statistics SQLite's planner prefers an equality on the leading
    column of ``ix_decisions_pack_seller_as_of`` (a pack id: half the store)
    to the ``as_of`` range of the browse indexes; ``pack_id || ''`` is the
    same value but no index term.
    """
    return column + "" if connection.dialect.name == "sqlite" else column


@lru_cache(maxsize=4096)
def fired_rules(rules: str | None) -> tuple[RuleRecord, ...]:
    """The fired rules of a ``rules`` list's JSON text (few distinct texts: remembered)."""
    if not rules:
        return ()
    return tuple(
        RuleRecord(str(r), str(o), True, tuple(a)) for r, o, f, a in json.loads(rules) if f
    )


def conditions(
    connection: Connection, chosen: DecisionFilter, *, exact: bool = True
) -> list[ColumnElement[bool]]:
    """The ``WHERE`` of ``chosen``. Not ``exact``: a decision with a ``rules`` list
    passes the action filter when the list names the action (its caller checks the
    list), and one without a list passes the rule and action filters."""
    where: list[ColumnElement[bool]] = []
    if chosen.as_of_from is not None:
        where.append(_D.as_of >= day_start(chosen.as_of_from))
    if chosen.as_of_to is not None:
        where.append(_D.as_of < day_start(chosen.as_of_to + timedelta(days=1)))
    for column, value in (
        (_D.pack_id, chosen.pack_id),
        (_D.pack_version, chosen.pack_version),
        (_D.status, chosen.status),
    ):
        if value is not None:
            where.append(_plain(connection, column) == value)
    if chosen.rule_id is not None or chosen.action is not None:
        where.append(FIRED)
    if chosen.rule_id is not None:
        element = f'[{json.dumps(chosen.rule_id, ensure_ascii=False)},"matched",true,'
        legacy = _fired_rule(rule_id=chosen.rule_id) if exact else true()
        where.append(
            or_(
                RULES.like(f"%{_escape_like(element)}%", escape="\\"),
                and_(_D.rules.is_(None), legacy),
            )
        )
    if chosen.action is not None:
        named = f"%{_escape_like(json.dumps(chosen.action, ensure_ascii=False))}%"
        where.append(or_(RULES.like(named, escape="\\"), _D.rules.is_(None)))
        if exact:
            where.append(_fired_rule(action=chosen.action))
    where.extend(complete_only(connection))
    return where


def matches(fired: tuple[RuleRecord, ...], chosen: DecisionFilter) -> bool:
    """Whether fired rules pass the rule and action filters of ``chosen``."""
    return (chosen.rule_id is None or any(r.rule_id == chosen.rule_id for r in fired)) and (
        chosen.action is None or any(chosen.action in r.actions for r in fired)
    )


def _fired_rule(*, rule_id: str | None = None, action: str | None = None) -> ColumnElement[bool]:
    """EXISTS a ``decision_rules`` row of the decision: fired, this rule, this action."""
    rule = decision_rules_table.alias("fired_rule")
    query = select(literal(1)).where(rule.c.decision_id == _D.decision_id, rule.c.fired == true())
    if rule_id is not None:
        query = query.where(rule.c.rule_id == rule_id)
    if action is not None:
        named = f"%{_escape_like(json.dumps(action, ensure_ascii=False))}%"
        query = query.where(cast(rule.c.actions, Text).like(named, escape="\\"))
    return query.exists()


def legacy_rules(connection: Connection, ids: Sequence[str]) -> dict[str, list[RuleRecord]]:
    """The fired rules of decisions written before 0002, from ``decision_rules``."""
    found: dict[str, list[RuleRecord]] = {i: [] for i in ids}
    if ids:
        query = (
            select(_R.decision_id, _R.rule_id, _R.outcome, cast(_R.actions, Text))
            .where(_R.decision_id.in_(list(ids)), _R.fired == true())
            .order_by(_R.decision_id, _R.rule_id)
        )
        for decision_id, rule_id, outcome, actions in connection.execute(query):
            found[decision_id].append(
                RuleRecord(rule_id, outcome, True, tuple(json.loads(actions)))
            )
    return found
