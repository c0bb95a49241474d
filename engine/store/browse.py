"""Browsing stored decisions: the read side of the workbench's decision page.

Every query here is shaped to an index, so that a page stays fast on a store
of millions of decisions:

* the list, its counts by status and the export read
  ``ix_decisions_as_of_browse`` (migration 0006): newest ``as_of`` first, then
  pack id, version, seller id and decision id, with the status; a page of a
  day range is read in index order without sorting, the counts by status
  from the index alone;
* the rule and action filters and the counts by action read its twin
  ``ix_decisions_fired_browse``, which holds only the decisions in which a
  rule fired (about one in six; :data:`FIRED` repeats its ``WHERE``, which is
  how a query selects it) and, on SQLite, their ``rules``: the compact list
  ``[rule, outcome, fired, actions]`` of each decision. A rule fired where
  the list holds ``["rule","matched",true,``; an action filter keeps the
  lists that name the action, then checks ``decision_rules`` (by its primary
  key) that a fired rule enforced it. Decisions written before 0002 have no
  list: their ``decision_rules`` rows answer instead;
* counts are made only over days holding at most :data:`COUNT_LIMIT`
  decisions (the index entries a count reads): wider ranges are listed and
  exported, not counted;
* the days that have decisions (:meth:`DecisionBrowser.latest_days`) and the
  pack ids are found by stepping along an index, one lookup per value.

Decisions of runs that did not complete (``started`` or ``failed``) are left
out, as escalation leaves them out (:func:`complete_only`). The export pages
through the filtered set by keyset in index order, a chunk per query.
Seller-side reads are in :mod:`.browse_sellers`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.exc import SQLAlchemyError

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.store.migrations.schema import (
    decision_rules_table,
    decisions_table,
    runs_table,
)

from .records import RuleRecord, aware_utc
from .runs import RunState

__all__ = [
    "COUNT_LIMIT",
    "FIRED",
    "STATUSES",
    "DecisionBrowser",
    "DecisionCounts",
    "DecisionFilter",
    "DecisionRow",
    "complete_only",
    "store_error",
]

#: The statuses a decision can have, best first.
STATUSES = ("healthy", "at_risk", "critical")
#: The most decisions the chosen days may hold for :meth:`DecisionBrowser.counts`.
COUNT_LIMIT = 100_000

_D = decisions_table.c
_R = decision_rules_table.c
_RUN = runs_table.c
_ORDER = (_D.as_of.desc(), _D.pack_id, _D.pack_version, _D.seller_id, _D.decision_id)
_RULES = cast(_D.rules, Text)
#: The decisions in which a rule fired: the ``WHERE`` of ``ix_decisions_fired_browse``
#: word for word (``FIRED_ROWS``), its pattern a literal, so that a query can use it.
FIRED = or_(_RULES.like(literal_column("'%,true,%'")), _D.rules.is_(None))


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


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One decision of the list or the export: who, which pack, when, status, fired rules.

    ``document`` (the stored decision document as JSON text) is read for the
    JSON-lines export only.
    """

    decision_id: str
    run_id: str
    seller_id: str
    pack_id: str
    pack_version: str
    as_of: datetime
    status: str
    evaluated_at: datetime
    fired: tuple[RuleRecord, ...]
    document: str | None = None

    @property
    def actions(self) -> tuple[str, ...]:
        """The enforced actions, each once, in rule order."""
        return tuple(dict.fromkeys(a for rule in self.fired for a in rule.actions))


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


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min)  # naive UTC, as the table holds it


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
def _fired(rules: str | None) -> tuple[RuleRecord, ...]:
    """The fired rules of a ``rules`` list's JSON text (few distinct texts: remembered)."""
    if not rules:
        return ()
    return tuple(
        RuleRecord(str(r), str(o), True, tuple(a)) for r, o, f, a in json.loads(rules) if f
    )


def _conditions(
    connection: Connection, chosen: DecisionFilter, *, exact: bool = True
) -> list[ColumnElement[bool]]:
    """The ``WHERE`` of ``chosen``. Not ``exact``: a decision with a ``rules`` list
    passes the action filter when the list names the action (its caller checks the
    list), and one without a list passes the rule and action filters."""
    where: list[ColumnElement[bool]] = []
    if chosen.as_of_from is not None:
        where.append(_D.as_of >= _day_start(chosen.as_of_from))
    if chosen.as_of_to is not None:
        where.append(_D.as_of < _day_start(chosen.as_of_to + timedelta(days=1)))
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
                _RULES.like(f"%{_escape_like(element)}%", escape="\\"),
                and_(_D.rules.is_(None), legacy),
            )
        )
    if chosen.action is not None:
        named = f"%{_escape_like(json.dumps(chosen.action, ensure_ascii=False))}%"
        where.append(or_(_RULES.like(named, escape="\\"), _D.rules.is_(None)))
        if exact:
            where.append(_fired_rule(action=chosen.action))
    where.extend(complete_only(connection))
    return where


def _matches(fired: tuple[RuleRecord, ...], chosen: DecisionFilter) -> bool:
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


def _legacy_rules(connection: Connection, ids: Sequence[str]) -> dict[str, list[RuleRecord]]:
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


class DecisionBrowser:
    """Index-shaped reads of the decision store for the decision page (see the module)."""

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self._where = where

    def latest_days(self, count: int) -> list[date]:
        """The newest ``count`` days (UTC) that have decisions, newest first."""
        days: list[date] = []
        query: Select[Any] = select(func.max(_D.as_of))
        try:
            with self._engine.connect() as connection:
                while len(days) < count:
                    newest = connection.execute(query).scalar()
                    if newest is None:
                        break
                    days.append(aware_utc(newest).date())
                    query = select(func.max(_D.as_of)).where(_D.as_of < _day_start(days[-1]))
        except SQLAlchemyError as exc:
            raise store_error(self._where, exc) from exc
        return days

    def pack_ids(self) -> list[str]:
        """Every pack id that has decisions, in order."""
        found: list[str] = []
        query: Select[Any] = select(func.min(_D.pack_id))
        try:
            with self._engine.connect() as connection:
                while (pack_id := connection.execute(query).scalar()) is not None:
                    found.append(pack_id)
                    query = select(func.min(_D.pack_id)).where(_D.pack_id > pack_id)
        except SQLAlchemyError as exc:
            raise store_error(self._where, exc) from exc
        return found

    def counts(self, chosen: DecisionFilter, *, limit: int = COUNT_LIMIT) -> DecisionCounts:
        """How many decisions ``chosen`` matches, by status and by enforced action.

        The chosen days must hold at most ``limit`` decisions (of any pack or
        status: the index entries counting reads); else the counts are
        :attr:`DecisionCounts.limited`.
        """
        days = DecisionFilter(as_of_from=chosen.as_of_from, as_of_to=chosen.as_of_to)
        try:
            with self._engine.connect() as connection:
                span = select(literal(1)).where(*_conditions(connection, days)).limit(limit + 1)
                held = connection.execute(select(func.count()).select_from(span.subquery()))
                if held.scalar_one() > limit:
                    return DecisionCounts(limit + 1, {}, {}, limited=True)
                if chosen.rule_id is None and chosen.action is None:
                    by_status, by_action = _counts(connection, _conditions(connection, chosen))
                else:
                    by_status, by_action = _fired_counts(connection, chosen)
        except SQLAlchemyError as exc:
            raise store_error(self._where, exc) from exc
        return DecisionCounts(sum(by_status.values()), by_status, by_action)

    def rows(self, chosen: DecisionFilter, *, offset: int, limit: int) -> list[DecisionRow]:
        """``limit`` decisions of ``chosen`` from ``offset``, in index order (newest first)."""
        try:
            with self._engine.connect() as connection:
                query = _rows_query(_conditions(connection, chosen), documents=False)
                return _read_rows(connection, query.offset(offset).limit(limit))
        except SQLAlchemyError as exc:
            raise store_error(self._where, exc) from exc

    def export(
        self, chosen: DecisionFilter, *, documents: bool, chunk: int = 2_000
    ) -> Iterator[list[DecisionRow]]:
        """Every decision of ``chosen`` in list order, ``chunk`` at a time (the first chunk
        a tenth of that, so the first bytes leave soon), each chunk one connection;
        with ``documents``, each one's stored document as JSON text.

        A chunk continues after the last row of the one before: first the rest
        of its ``as_of``, then the older days, both seeks on the index.
        """
        last: tuple[Any, ...] | None = None
        size = max(chunk // 10, 1)
        while True:
            try:
                with self._engine.connect() as connection:
                    query = _rows_query(_conditions(connection, chosen), documents=documents)
                    if last is None:
                        found = _read_rows(connection, query.limit(size))
                    else:
                        as_of, after = last[0], last[1:]
                        same_day = query.where(
                            _D.as_of == as_of,
                            tuple_(_D.pack_id, _D.pack_version, _D.seller_id, _D.decision_id)
                            > tuple_(*after),
                        )
                        found = _read_rows(connection, same_day.limit(size))
                        if len(found) < size:
                            older = query.where(_D.as_of < as_of).limit(size - len(found))
                            found += _read_rows(connection, older)
            except SQLAlchemyError as exc:
                raise store_error(self._where, exc) from exc
            if found:
                yield found
            if len(found) < size:
                return
            size = chunk
            end = found[-1]
            last = (
                end.as_of.replace(tzinfo=None),
                end.pack_id,
                end.pack_version,
                end.seller_id,
                end.decision_id,
            )


def _rows_query(where: list[ColumnElement[bool]], *, documents: bool) -> Select[Any]:
    columns = [
        _D.decision_id, _D.run_id, _D.seller_id, _D.pack_id, _D.pack_version, _D.as_of,
        _D.status, _D.evaluated_at, _RULES,
    ]  # fmt: skip
    if documents:
        columns.append(cast(_D.decision, Text))
    return select(*columns).where(*where).order_by(*_ORDER)


def _read_rows(connection: Connection, query: Select[Any]) -> list[DecisionRow]:
    found = connection.execute(query).all()
    legacy = _legacy_rules(connection, [row[0] for row in found if row[8] is None])
    return [
        DecisionRow(
            decision_id=row[0],
            run_id=row[1],
            seller_id=row[2],
            pack_id=row[3],
            pack_version=row[4],
            as_of=aware_utc(row[5]),
            status=row[6],
            evaluated_at=aware_utc(row[7]),
            fired=_fired(row[8]) if row[8] is not None else tuple(legacy[row[0]]),
            document=row[9] if len(row) > 9 else None,
        )
        for row in found
    ]


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
    lists = select(_RULES, func.count()).where(*where, FIRED).group_by(_RULES)
    by_action: Counter[str] = Counter()
    for rules, n in connection.execute(lists):
        if rules is not None:
            by_action.update(dict.fromkeys(_actions(_fired(rules)), n))
    _add_legacy(connection, [*where, FIRED], Counter(), by_action)
    return by_status, dict(by_action.most_common())


def _fired_counts(
    connection: Connection, chosen: DecisionFilter
) -> tuple[dict[str, int], dict[str, int]]:
    """Counts under a rule or action filter, from the fired index alone: one row per
    distinct (status, ``rules`` list), each list checked against the filter here."""
    where = _conditions(connection, chosen, exact=False)
    groups = select(_D.status, _RULES, func.count()).where(*where).group_by(_D.status, _RULES)
    by_status: Counter[str] = Counter()
    by_action: Counter[str] = Counter()
    for status, rules, n in connection.execute(groups):
        if rules is not None and _matches(fired := _fired(rules), chosen):
            by_status[status] += n
            by_action.update(dict.fromkeys(_actions(fired), n))
    _add_legacy(connection, _conditions(connection, chosen), by_status, by_action)
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
        fired = _legacy_rules(connection, [i for i, _s in found[start : start + 2_000]])
        for rules in fired.values():
            by_action.update(_actions(tuple(rules)))
