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
out, as escalation leaves them out (:func:`.browse_where.complete_only`). The
export pages through the filtered set by keyset in index order, a chunk per
query. The filters' conditions are in :mod:`.browse_where`, the counting in
:mod:`.browse_counts`, the seller-side reads in :mod:`.browse_sellers`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    Text,
    cast,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.exc import SQLAlchemyError

from sellerpolicy.engine.store.migrations.schema import decisions_table

from .browse_counts import DecisionCounts, count_decisions
from .browse_where import (
    FIRED,
    RULES,
    STATUSES,
    DecisionFilter,
    conditions,
    day_start,
    fired_rules,
    legacy_rules,
    store_error,
)
from .records import RuleRecord, aware_utc

__all__ = [
    "COUNT_LIMIT",
    "FIRED",
    "STATUSES",
    "DecisionBrowser",
    "DecisionCounts",
    "DecisionFilter",
    "DecisionRow",
]

#: The most decisions the chosen days may hold for :meth:`DecisionBrowser.counts`.
COUNT_LIMIT = 100_000

_D = decisions_table.c
_ORDER = (_D.as_of.desc(), _D.pack_id, _D.pack_version, _D.seller_id, _D.decision_id)


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
                    query = select(func.max(_D.as_of)).where(_D.as_of < day_start(days[-1]))
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
                span = select(literal(1)).where(*conditions(connection, days)).limit(limit + 1)
                held = connection.execute(select(func.count()).select_from(span.subquery()))
                if held.scalar_one() > limit:
                    return DecisionCounts(limit + 1, {}, {}, limited=True)
                by_status, by_action = count_decisions(connection, chosen)
        except SQLAlchemyError as exc:
            raise store_error(self._where, exc) from exc
        return DecisionCounts(sum(by_status.values()), by_status, by_action)

    def rows(self, chosen: DecisionFilter, *, offset: int, limit: int) -> list[DecisionRow]:
        """``limit`` decisions of ``chosen`` from ``offset``, in index order (newest first)."""
        try:
            with self._engine.connect() as connection:
                query = _rows_query(conditions(connection, chosen), documents=False)
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
                    query = _rows_query(conditions(connection, chosen), documents=documents)
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
        _D.status, _D.evaluated_at, RULES,
    ]  # fmt: skip
    if documents:
        columns.append(cast(_D.decision, Text))
    return select(*columns).where(*where).order_by(*_ORDER)


def _read_rows(connection: Connection, query: Select[Any]) -> list[DecisionRow]:
    found = connection.execute(query).all()
    legacy = legacy_rules(connection, [row[0] for row in found if row[8] is None])
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
            fired=fired_rules(row[8]) if row[8] is not None else tuple(legacy[row[0]]),
            document=row[9] if len(row) > 9 else None,
        )
        for row in found
    ]
