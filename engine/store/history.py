"""Escalation history read from the decision store, prefetched per batch.

:func:`load_history` reads, for a batch of sellers, the newest evaluations a
pack's longest ladder can use (one query; a cheaper one for a single seller)
and :class:`BatchHistory` answers ``HistoryLookup.streak`` from memory. The
lapse itself is decided by :func:`~sellerpolicy.engine.evaluation.history.streak_length`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.engine import Connection

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.evaluation.history import streak_length
from sellerpolicy.engine.store.migrations.schema import decision_rules_table, decisions_table
from sellerpolicy.rules.model import CompiledPack

from .runs import INCOMPLETE

__all__ = ["BatchHistory", "Evaluation", "SqliteSellerHistory", "load_history"]

_D = decisions_table.c
_R = decision_rules_table.c


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One earlier evaluation day of a seller and the rules that fired in it."""

    day: date
    fired: frozenset[str]


class BatchHistory:
    """Escalation history of a batch of sellers, prefetched: a ``HistoryLookup``.

    ``streak`` answers from memory, for any ``as_of`` up to the day the
    history was loaded for. The walk collects the firings back to the first
    earlier evaluation in which the rule did not fire; the lapse is then
    decided by :func:`~sellerpolicy.engine.evaluation.history.streak_length`, the one
    place that decides it.
    """

    def __init__(
        self,
        pack: CompiledPack,
        as_of: date,
        evaluations: Mapping[str, Sequence[Evaluation]],
    ) -> None:
        self._lapses = {r.id: r.escalation.lapse for r in pack.rules if r.escalation}
        self._as_of = as_of
        self._evaluations = evaluations

    def streak(self, seller_id: str, rule_id: str, as_of: date) -> int:
        """Consecutive earlier evaluations (newest first) in which ``rule_id`` fired."""
        if as_of > self._as_of:
            raise StoreError(
                f"history was loaded for as_of {self._as_of.isoformat()}, "
                f"not the later {as_of.isoformat()}"
            )
        firings: list[date] = []
        for evaluation in self._evaluations.get(seller_id, ()):
            if evaluation.day >= as_of:
                continue
            if rule_id not in evaluation.fired:
                break
            firings.append(evaluation.day)
        return streak_length(firings, as_of, self._lapses.get(rule_id, timedelta.max))


def _history_query() -> Select[str, datetime, str, str | None]:
    """Earlier evaluations of sellers (newest ``depth`` days each) and their firing rules.

    Built once with bound parameters (``pack_id``, ``seller_ids``, ``before``,
    ``depth``), so a request pays for execution only, not for building SQL.
    """
    ranked = (
        select(
            _D.decision_id,
            _D.seller_id,
            _D.as_of,
            _D.evaluated_at,
            func.dense_rank()
            .over(partition_by=_D.seller_id, order_by=_D.as_of.desc())
            .label("rank"),
        )
        .where(
            _D.pack_id == bindparam("pack_id"),
            _D.seller_id.in_(bindparam("seller_ids", expanding=True)),
            _D.as_of < bindparam("before"),
            _D.run_id.not_in(INCOMPLETE),
        )
        .subquery()
    )
    return (
        select(ranked.c.seller_id, ranked.c.as_of, ranked.c.decision_id, _R.rule_id)
        .outerjoin(decision_rules_table, (_R.decision_id == ranked.c.decision_id) & _R.fired)
        .where(ranked.c.rank <= bindparam("depth"))
        .order_by(ranked.c.seller_id, ranked.c.as_of.desc(), ranked.c.evaluated_at.desc())
    )


def _seller_history_query() -> Select[str, datetime, str, str | None]:
    """:func:`_history_query` for one seller (``seller_id``): no window function.

    The newest ``depth`` distinct ``as_of`` values come from the
    ``(seller_id, as_of)`` index; the rows from that cut-off on are the
    same ones ``dense_rank() <= depth`` keeps.
    """
    mine = (
        _D.seller_id == bindparam("seller_id"),
        _D.pack_id == bindparam("pack_id"),
        _D.as_of < bindparam("before"),
        _D.run_id.not_in(INCOMPLETE),
    )
    newest = (
        select(_D.as_of).distinct().where(*mine).order_by(_D.as_of.desc()).limit(bindparam("depth"))
    ).subquery()
    cutoff = select(func.min(newest.c.as_of)).scalar_subquery()
    return (
        select(_D.seller_id, _D.as_of, _D.decision_id, _R.rule_id)
        .outerjoin(decision_rules_table, (_R.decision_id == _D.decision_id) & _R.fired)
        .where(*mine, _D.as_of >= cutoff)
        .order_by(_D.as_of.desc(), _D.evaluated_at.desc())
    )


HISTORY_QUERY = _history_query()
SELLER_HISTORY_QUERY = _seller_history_query()


class SqliteSellerHistory:
    """:data:`SELLER_HISTORY_QUERY` compiled once for SQLite, run on the driver's cursor.

    Parameters and the ``as_of`` column go through the dialect's own bind
    and result processors, so the rows equal what ``Connection.execute``
    returns, without SQLAlchemy's per-execution work (which costs a
    one-seller request more than SQLite's).
    """

    def __init__(self, connection: Connection, schema: str | None) -> None:
        dialect = connection.dialect
        translate: dict[str, Any] = (
            {"schema_translate_map": {None: schema}, "render_schema_translate": True}
            if schema is not None
            else {}
        )
        compiled = SELLER_HISTORY_QUERY.compile(dialect=dialect, **translate)
        self._sql = compiled.string
        self._defaults = {k: v for k, v in compiled.params.items() if v is not None}
        self._order = tuple(compiled.positiontup or ())
        self._binds = {
            name: compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self._order
        }
        self._as_of = _D.as_of.type.dialect_impl(dialect).result_processor(dialect, None)

    def rows(self, connection: Connection, params: Mapping[str, object]) -> list[tuple[Any, ...]]:
        """The query's rows for ``seller_id``, ``pack_id``, ``before`` and ``depth``."""
        values = self._defaults | dict(params)
        args = []
        for name in self._order:
            process = self._binds[name]
            args.append(values[name] if process is None else process(values[name]))
        cursor = connection.connection.cursor()
        try:
            cursor.execute(self._sql, args)
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        as_of = self._as_of
        if as_of is None:
            return [tuple(row) for row in fetched]
        return [(row[0], as_of(row[1]), row[2], row[3]) for row in fetched]


def load_history(
    connection: Connection,
    *,
    pack_id: str,
    seller_ids: Sequence[str],
    before: datetime,
    depth: int,
    into: dict[str, list[Evaluation]],
    sqlite: SqliteSellerHistory | None = None,
) -> None:
    """Append each seller's earlier evaluations (newest first) to ``into``.

    Per seller and day, the first decision seen is the day's last evaluation
    (latest as_of, then latest run): that one is the day's history.
    ``sqlite`` runs a one-seller query on the driver's cursor (SQLite only).
    """
    # Per seller and day, the first decision seen is the day's last evaluation
    # (latest as_of, then latest run): that one is the day's history.
    chosen: dict[tuple[str, date], str] = {}
    fired: dict[tuple[str, date], set[str]] = {}
    params: dict[str, object] = {"pack_id": pack_id, "before": before, "depth": depth}
    rows: Iterable[Sequence[Any]]
    if len(seller_ids) == 1:
        params["seller_id"] = seller_ids[0]
        if sqlite is not None:
            rows = sqlite.rows(connection, params)
        else:
            rows = connection.execute(SELLER_HISTORY_QUERY, params)
    else:
        params["seller_ids"] = list(seller_ids)
        rows = connection.execute(HISTORY_QUERY, params)
    for seller_id, row_as_of, decision_id, rule_id in rows:
        key = (seller_id, row_as_of.date())
        if chosen.setdefault(key, decision_id) != decision_id:
            continue
        rules = fired.setdefault(key, set())
        if rule_id is not None:
            rules.add(rule_id)
    for (seller_id, day), rules in fired.items():
        into.setdefault(seller_id, []).append(Evaluation(day, frozenset(rules)))
