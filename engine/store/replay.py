"""The population of the decision log: each seller's latest decision and its facts.

An impact analysis replayed from the store (``sellerpolicy impact --replay``,
``POST /v1/packs/{id}/versions/{v}/impact``) needs no raw data: every stored
decision embeds the facts it was made on. :func:`latest_facts` reads, per
seller, the newest decision (latest ``as_of``, then latest evaluation) of
the given pack ids from complete runs, and returns those facts as one Arrow
table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa
from sqlalchemy import ColumnElement, Engine, func, select

from sellerpolicy.engine.store.migrations.schema import decisions_table

from .records import naive_utc
from .runs import INCOMPLETE

__all__ = ["latest_facts"]

_D = decisions_table.c


def latest_facts(
    engine: Engine, pack_ids: Sequence[str], *, since: datetime | None = None
) -> pa.Table:
    """``seller_id`` and the facts of each seller's latest decision, by seller id.

    Integer facts become ``int64`` columns, other numbers ``float64``; a fact
    one decision recorded and another did not is null for the latter.
    """
    conditions: list[ColumnElement[bool]] = [
        _D.pack_id.in_(list(pack_ids)),
        _D.run_id.not_in(INCOMPLETE),
    ]
    if since is not None:
        conditions.append(_D.as_of >= naive_utc(since))
    ranked = (
        select(
            _D.seller_id,
            _D.decision,
            func.row_number()
            .over(
                partition_by=_D.seller_id,
                order_by=(_D.as_of.desc(), _D.evaluated_at.desc(), _D.decision_id.desc()),
            )
            .label("rank"),
        )
        .where(*conditions)
        .subquery()
    )
    query = (
        select(ranked.c.seller_id, ranked.c.decision)
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.seller_id)
    )
    sellers: list[str] = []
    facts: list[dict[str, object]] = []
    with engine.connect() as connection:
        for seller_id, document in connection.execute(query):
            sellers.append(seller_id)
            facts.append(dict(document.get("facts") or {}))
    names = sorted({name for row in facts for name in row})
    columns: dict[str, pa.Array] = {"seller_id": pa.array(sellers, pa.string())}
    for name in names:
        values = [row.get(name) for row in facts]
        whole = all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values)
        columns[name] = pa.array(values, pa.int64() if whole else pa.float64())
    return pa.table(columns)
