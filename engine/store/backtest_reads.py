"""What actually happened on a day: the stored decisions a backtest compares against.

:func:`stored_day` reads, for one pack id and one day, each seller's last
decision of that day (latest ``as_of``, then latest evaluation, then
decision id: the same choice escalation history makes) from complete runs
only, and counts them: sellers, statuses and the enforced actions per
(rule, action). Only the ``actions`` list of each decision document is
read, extracted by the database (``JSON_EXTRACT`` on SQLite, ``->`` on
PostgreSQL), so score-owned actions count as well as rule-owned ones.
Nothing is written.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, func, select

from sellerpolicy.engine.store.migrations.schema import decisions_table

from .runs import INCOMPLETE

__all__ = ["StoredDay", "stored_day"]

_D = decisions_table.c


@dataclass(frozen=True, slots=True)
class StoredDay:
    """The stored decisions of one pack id on one day, counted."""

    sellers: int
    statuses: Counter[str]  # status label -> sellers
    actions: dict[str, Counter[str]]  # rule (or score) -> enforced action -> sellers


def stored_day(engine: Engine, pack_id: str, day: date) -> StoredDay:
    """Count each seller's last decision of ``pack_id`` with ``as_of`` on ``day`` (UTC).

    Decisions of runs that did not complete are left out, as escalation
    leaves them out. A day without decisions counts zero sellers.
    """
    start = datetime.combine(day, time.min)  # naive UTC, as the table holds it
    ranked = (
        select(
            _D.status,
            _D.decision["actions"].label("actions"),
            func.row_number()
            .over(
                partition_by=_D.seller_id,
                order_by=(_D.as_of.desc(), _D.evaluated_at.desc(), _D.decision_id.desc()),
            )
            .label("rank"),
        )
        .where(
            _D.pack_id == pack_id,
            _D.as_of >= start,
            _D.as_of < start + timedelta(days=1),
            _D.run_id.not_in(INCOMPLETE),
        )
        .subquery()
    )
    query = select(ranked.c.status, ranked.c.actions).where(ranked.c.rank == 1)
    sellers, statuses = 0, Counter[str]()
    actions: defaultdict[str, Counter[str]] = defaultdict(Counter)
    with engine.connect() as connection:
        for status, items in connection.execute(query):
            sellers += 1
            statuses[status] += 1
            for item in items or ():
                if item.get("enforced"):
                    actions[item["rule"]][item["action"]] += 1
    return StoredDay(sellers, statuses, dict(actions))
