"""Browsing stored decisions: the read side of the workbench's seller and decision pages.

Every query here is shaped to an index, so that a page stays fast on a store
of millions of decisions:

* the seller search is a prefix range on ``seller_id`` (``seller_id >= q AND
  seller_id < q || U+10FFFF``, read from ``ix_decisions_seller_as_of``), never
  a ``LIKE '%q%'`` scan;
* a seller's decisions are read newest first from the same index;
* the decision list, its counts and the export read
  ``ix_decisions_as_of_browse`` (migration 0006): newest ``as_of`` first, then
  pack id, version, seller id and decision id, with the status, so a page of
  a day range is read in index order without sorting and the counts by
  status read the index alone;
* the rule and action filters and the counts by action read its twin
  ``ix_decisions_fired_browse``, which holds only the decisions in which a
  rule fired (about one in six; :data:`FIRED` repeats its ``WHERE``, which
  is how a query selects it), and look each one up in ``decision_rules`` by
  its primary key (decision id first);
* counts stop at :data:`COUNT_LIMIT` decisions: a range holding more
  (weeks of a large marketplace) is listed and exported, not counted;
* the days that have decisions (:meth:`DecisionBrowser.latest_days`) are
  found by stepping down the same index, one lookup per day.

Decisions of runs that did not complete (``started`` or ``failed``) are left
out, as escalation leaves them out: each such run excludes only the rows of
its own pack version and ``as_of``, so the check costs nothing elsewhere.
The export pages through the filtered set by keyset (the index order),
a chunk per query, so it streams any number of decisions.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
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

from .reads import read_decisions
from .records import RuleRecord, StoredDecision, aware_utc, naive_utc
from .runs import RunState

__all__ = [
    "COUNT_LIMIT",
    "STATUSES",
    "DecisionBrowser",
    "DecisionCounts",
    "DecisionFilter",
    "DecisionRow",
    "SellerHit",
]

#: The statuses a decision can have, best first.
STATUSES = ("healthy", "at_risk", "critical")
#: The most decisions :meth:`DecisionBrowser.counts` counts (beyond: "more than").
COUNT_LIMIT = 100_000
#: The highest code point: ``prefix + _TOP`` sorts after every id starting with the prefix.
_TOP = "\U0010ffff"

_D = decisions_table.c
_R = decision_rules_table.c
_RUN = runs_table.c
_ORDER = (_D.as_of.desc(), _D.pack_id, _D.pack_version, _D.seller_id, _D.decision_id)
#: The decisions in which a rule fired: the ``WHERE`` of ``ix_decisions_fired_browse``,
#: word for word (``FIRED_ROWS``), with the pattern a literal, so a query using it can
#: read that index.
FIRED = or_(cast(_D.rules, Text).like(literal_column("'%,true,%'")), _D.rules.is_(None))


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
    """One decision in the list: who, which pack, when, the status and the rules that fired."""

    decision_id: str
    seller_id: str
    pack_id: str
    pack_version: str
    as_of: datetime
    status: str
    fired: tuple[RuleRecord, ...]

    @property
    def actions(self) -> tuple[str, ...]:
        """The enforced actions, each once, in rule order."""
        return tuple(dict.fromkeys(a for rule in self.fired for a in rule.actions))


@dataclass(frozen=True, slots=True)
class DecisionCounts:
    """How many decisions match, by status and by enforced action.

    A decision that enforces an action through two rules counts once for it.
    When more than :data:`COUNT_LIMIT` match, ``total`` is ``COUNT_LIMIT + 1``,
    ``limited`` is true and nothing is counted by status or action.
    """

    total: int
    by_status: dict[str, int]
    by_action: dict[str, int]
    limited: bool = False


@dataclass(frozen=True, slots=True)
class SellerHit:
    """A seller found by the search, with its newest decision per pack (pack id order)."""

    seller_id: str
    current: tuple[tuple[str, datetime, str], ...]  # (pack id, as_of, status)


@dataclass(frozen=True, slots=True)
class _Incomplete:
    """A run that did not complete: its decisions are left out."""

    run_id: str
    pack_id: str
    pack_version: str
    as_of: datetime


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min)  # naive UTC, as the table holds it


@lru_cache(maxsize=4096)
def _parsed(actions: str | None) -> tuple[str, ...]:
    """The action list of a ``decision_rules`` row's JSON text (few distinct texts)."""
    return tuple(json.loads(actions)) if actions else ()


def _plain(connection: Connection) -> Callable[[ColumnElement[str]], ColumnElement[str]]:
    """How a filter names a column so that no index is chosen for it (SQLite).

    Without statistics SQLite's planner prefers an equality on the leading
    column of ``ix_decisions_pack_seller_as_of`` (a pack id: half the store)
    to the ``as_of`` range of the browse index; ``pack_id || ''`` is the same
    value but no index term, leaving the range to choose the index.
    """
    if connection.dialect.name == "sqlite":
        return lambda column: column + ""
    return lambda column: column


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class DecisionBrowser:
    """Index-shaped reads of the decision store for the workbench (see the module doc)."""

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self._where = where

    def _fail(self, exc: SQLAlchemyError) -> StoreError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return StoreError(f"cannot read the decision store {self._where}: {detail}")

    @staticmethod
    def _incomplete(connection: Connection) -> list[_Incomplete]:
        query = select(_RUN.run_id, _RUN.pack_id, _RUN.pack_version, _RUN.as_of).where(
            _RUN.state.in_([s.value for s in RunState if s is not RunState.COMPLETE])
        )  # an IN list, so ix_runs_state is read (a service makes a run per request)
        return [_Incomplete(*row) for row in connection.execute(query)]

    @staticmethod
    def _complete_only(incomplete: list[_Incomplete]) -> list[ColumnElement[bool]]:
        """Conditions leaving out the decisions of ``incomplete`` runs.

        Each condition names the run's ``as_of`` and pack version first, so
        rows of other days are kept on index columns alone.
        """
        return [
            not_(
                and_(
                    _D.as_of == run.as_of,
                    _D.pack_id == run.pack_id,
                    _D.pack_version == run.pack_version,
                    _D.run_id == run.run_id,
                )
            )
            for run in incomplete
        ]

    def _conditions(
        self, connection: Connection, chosen: DecisionFilter
    ) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if chosen.as_of_from is not None:
            where.append(_D.as_of >= _day_start(chosen.as_of_from))
        if chosen.as_of_to is not None:
            where.append(_D.as_of < _day_start(chosen.as_of_to + timedelta(days=1)))
        plain = _plain(connection)
        if chosen.pack_id is not None:
            where.append(plain(_D.pack_id) == chosen.pack_id)
        if chosen.pack_version is not None:
            where.append(plain(_D.pack_version) == chosen.pack_version)
        if chosen.status is not None:
            where.append(plain(_D.status) == chosen.status)
        if chosen.rule_id is not None or chosen.action is not None:
            rule = decision_rules_table.alias("fired_rule")
            fired = select(literal(1)).where(
                rule.c.decision_id == _D.decision_id, rule.c.fired == true()
            )
            if chosen.rule_id is not None:
                fired = fired.where(rule.c.rule_id == chosen.rule_id)
            if chosen.action is not None:
                pattern = f'%"{_escape_like(chosen.action)}"%'
                fired = fired.where(cast(rule.c.actions, Text).like(pattern, escape="\\"))
            where.extend((FIRED, fired.exists()))
        where.extend(self._complete_only(self._incomplete(connection)))
        return where

    def latest_days(self, count: int) -> list[date]:
        """The newest ``count`` days (UTC) that have decisions, newest first."""
        days: list[date] = []
        bound: datetime | None = None
        try:
            with self._engine.connect() as connection:
                while len(days) < count:
                    query = select(func.max(_D.as_of))
                    if bound is not None:
                        query = query.where(_D.as_of < bound)
                    newest = connection.execute(query).scalar()
                    if newest is None:
                        break
                    day = aware_utc(newest).date()
                    days.append(day)
                    bound = _day_start(day)
        except SQLAlchemyError as exc:
            raise self._fail(exc) from exc
        return days

    def pack_ids(self) -> list[str]:
        """Every pack id that has decisions, in order (one index lookup per pack id)."""
        found: list[str] = []
        try:
            with self._engine.connect() as connection:
                query: Select[Any] = select(func.min(_D.pack_id))
                while (pack_id := connection.execute(query).scalar()) is not None:
                    found.append(pack_id)
                    query = select(func.min(_D.pack_id)).where(_D.pack_id > pack_id)
        except SQLAlchemyError as exc:
            raise self._fail(exc) from exc
        return found

    def counts(self, chosen: DecisionFilter, *, limit: int = COUNT_LIMIT) -> DecisionCounts:
        """How many decisions ``chosen`` matches, by status and by enforced action.

        Reads at most ``limit + 1`` index entries: beyond ``limit`` matches
        the counts are :attr:`DecisionCounts.limited`.
        """
        try:
            with self._engine.connect() as connection:
                where = self._conditions(connection, chosen)
                capped = select(literal(1)).where(*where).limit(limit + 1).subquery()
                total = connection.execute(select(func.count()).select_from(capped)).scalar_one()
                if total > limit:
                    return DecisionCounts(limit + 1, {}, {}, limited=True)
                sums = [func.sum(case((_D.status == status, 1), else_=0)) for status in STATUSES]
                known = connection.execute(select(*sums).where(*where)).one()
                actions = (
                    select(_D.decision_id, cast(_R.actions, Text))
                    .join(decision_rules_table, _R.decision_id == _D.decision_id)
                    .where(*where, FIRED, _R.fired == true())
                )
                by_action = _count_actions(connection.execute(actions))
        except SQLAlchemyError as exc:
            raise self._fail(exc) from exc
        by_status = {s: int(n or 0) for s, n in zip(STATUSES, known, strict=True) if n}
        if sum(by_status.values()) < total:  # a status this engine does not make
            by_status["other"] = total - sum(by_status.values())
        return DecisionCounts(total, by_status, by_action)

    def rows(self, chosen: DecisionFilter, *, offset: int, limit: int) -> list[DecisionRow]:
        """``limit`` decisions of ``chosen`` from ``offset``, newest ``as_of`` first."""
        columns = (_D.decision_id, _D.seller_id, _D.pack_id, _D.pack_version, _D.as_of, _D.status)
        try:
            with self._engine.connect() as connection:
                where = self._conditions(connection, chosen)
                query = select(*columns).where(*where).order_by(*_ORDER)
                found = connection.execute(query.offset(offset).limit(limit)).all()
                fired: dict[str, list[RuleRecord]] = {row.decision_id: [] for row in found}
                if fired:
                    rules = (
                        select(_R.decision_id, _R.rule_id, _R.outcome, cast(_R.actions, Text))
                        .where(_R.decision_id.in_(list(fired)), _R.fired == true())
                        .order_by(_R.decision_id, _R.rule_id)
                    )
                    for decision_id, rule_id, outcome, actions in connection.execute(rules):
                        fired[decision_id].append(
                            RuleRecord(rule_id, outcome, True, _parsed(actions))
                        )
        except SQLAlchemyError as exc:
            raise self._fail(exc) from exc
        return [
            DecisionRow(
                row.decision_id,
                row.seller_id,
                row.pack_id,
                row.pack_version,
                aware_utc(row.as_of),
                row.status,
                tuple(fired[row.decision_id]),
            )
            for row in found
        ]

    def export(
        self, chosen: DecisionFilter, *, chunk: int = 1_000
    ) -> Iterator[list[StoredDecision]]:
        """Every decision of ``chosen`` in list order, ``chunk`` at a time (one query each).

        Each chunk continues after the last decision of the one before: first
        the rest of its ``as_of``, then the older days, both seeks on the index.
        """
        last: StoredDecision | None = None
        while True:
            try:
                with self._engine.connect() as connection:
                    where = self._conditions(connection, chosen)
                    found = self._export_chunk(connection, where, last, chunk)
            except SQLAlchemyError as exc:
                raise self._fail(exc) from exc
            if not found:
                return
            yield found
            if len(found) < chunk:
                return
            last = found[-1]

    @staticmethod
    def _export_chunk(
        connection: Connection,
        where: list[ColumnElement[bool]],
        last: StoredDecision | None,
        chunk: int,
    ) -> list[StoredDecision]:
        base = select(decisions_table).where(*where).order_by(*_ORDER)
        if last is None:
            return read_decisions(connection, base.limit(chunk))
        as_of = naive_utc(last.as_of)
        after = (last.pack_id, last.pack_version, last.seller_id, last.decision_id)
        same_day = base.where(
            _D.as_of == as_of,
            tuple_(_D.pack_id, _D.pack_version, _D.seller_id, _D.decision_id) > tuple_(*after),
        )
        found = read_decisions(connection, same_day.limit(chunk))
        if len(found) < chunk:
            older = base.where(_D.as_of < as_of).limit(chunk - len(found))
            found.extend(read_decisions(connection, older))
        return found

    def sellers(self, prefix: str, *, limit: int) -> list[SellerHit]:
        """The first ``limit`` seller ids starting with ``prefix`` (in order), each with its
        newest decision per pack."""
        in_range = and_(
            _D.seller_id >= prefix,
            _D.seller_id < prefix + _TOP,
            func.substr(_D.seller_id, 1, len(prefix)) == prefix,
        )
        try:
            with self._engine.connect() as connection:
                where = self._complete_only(self._incomplete(connection))
                ids_query = (
                    select(_D.seller_id)
                    .where(in_range, *where)
                    .group_by(_D.seller_id)
                    .order_by(_D.seller_id)
                    .limit(limit)
                )
                ids = list(connection.execute(ids_query).scalars())
                if not ids:
                    return []
                latest = (
                    select(_D.seller_id, _D.pack_id, _D.as_of, _D.evaluated_at, _D.status)
                    .where(_D.seller_id.in_(ids), *where)
                    .order_by(_D.seller_id, _D.pack_id, _D.as_of, _D.evaluated_at)
                )
                current: dict[str, dict[str, tuple[str, datetime, str]]] = {i: {} for i in ids}
                for seller_id, pack_id, as_of, _at, status in connection.execute(latest):
                    current[seller_id][pack_id] = (pack_id, aware_utc(as_of), status)
        except SQLAlchemyError as exc:
            raise self._fail(exc) from exc
        return [SellerHit(i, tuple(current[i].values())) for i in ids]

    def seller_decisions(self, seller_id: str, *, limit: int) -> list[StoredDecision]:
        """A seller's newest ``limit`` decisions, every pack, newest ``as_of`` first."""
        try:
            with self._engine.connect() as connection:
                where = self._complete_only(self._incomplete(connection))
                query = (
                    select(decisions_table)
                    .where(_D.seller_id == seller_id, *where)
                    .order_by(_D.as_of.desc(), _D.evaluated_at.desc(), _D.decision_id.desc())
                    .limit(limit)
                )
                return read_decisions(connection, query)
        except SQLAlchemyError as exc:
            raise self._fail(exc) from exc


def _count_actions(rows: Any) -> dict[str, int]:
    """Decisions per enforced action, from ``(decision id, actions)`` rows of fired rules."""
    counts: Counter[str] = Counter()
    seen: dict[str, set[str]] = {}
    for decision_id, actions in rows:
        for action in _parsed(actions):
            taken = seen.setdefault(decision_id, set())
            if action not in taken:
                taken.add(action)
                counts[action] += 1
    return dict(counts.most_common())
