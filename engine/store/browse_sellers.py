"""Browsing stored decisions by seller: the read side of the workbench's seller pages.

The search is a prefix range on ``seller_id`` (``seller_id >= q AND
seller_id < q || U+10FFFF``, with an exact prefix check beside it) read from
``ix_decisions_seller_as_of``, never a ``LIKE '%q%'`` scan; it stops at the
first ``limit`` ids, then reads those sellers' decisions from the same index
to show each one's newest status per pack. A seller's page reads its newest
decisions from that index too. (On PostgreSQL the range follows the
column's collation: with ``C`` or ``C.UTF-8`` it is exactly the prefix;
elsewhere the exact check keeps the answer right.)

Decisions of runs that did not complete are left out, as on the decision
page (:func:`~sellerpolicy.engine.store.browse_where.complete_only`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.exc import SQLAlchemyError

from sellerpolicy.engine.store.migrations.schema import decisions_table

from .browse_where import complete_only, store_error
from .reads import read_decisions
from .records import StoredDecision, aware_utc

__all__ = ["SellerBrowser", "SellerHit"]

#: The highest code point: ``prefix + _TOP`` sorts after every id starting with the prefix.
_TOP = "\U0010ffff"

_D = decisions_table.c


@dataclass(frozen=True, slots=True)
class SellerHit:
    """A seller found by the search, with its newest decision per pack (pack id order)."""

    seller_id: str
    current: tuple[tuple[str, datetime, str], ...]  # (pack id, as_of, status)


class SellerBrowser:
    """Index-shaped reads of the decision store for the seller pages (see the module)."""

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self._where = where

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
                where = complete_only(connection)
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
            raise store_error(self._where, exc) from exc
        return [SellerHit(i, tuple(current[i].values())) for i in ids]

    def seller_decisions(self, seller_id: str, *, limit: int) -> list[StoredDecision]:
        """A seller's newest ``limit`` decisions, every pack, newest ``as_of`` first."""
        try:
            with self._engine.connect() as connection:
                query = (
                    select(decisions_table)
                    .where(_D.seller_id == seller_id, *complete_only(connection))
                    .order_by(_D.as_of.desc(), _D.evaluated_at.desc(), _D.decision_id.desc())
                    .limit(limit)
                )
                return read_decisions(connection, query)
        except SQLAlchemyError as exc:
            raise store_error(self._where, exc) from exc
