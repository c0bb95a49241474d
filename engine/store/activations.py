"""The activation history of pack versions: which version was in force at an instant.

Every activation (made now, applied from a schedule, or the import of a
shipped pack) appends one :class:`Activation`: the pack, the version, the
instant from which it was in force, who did it and how (``detail``:
``scheduled`` for a scheduled activation). Rows written before the history
existed were backfilled from the audit trail.

:func:`in_force_at` (and :meth:`ActivationHistory.in_force`) answers which
version was in force at an instant: the newest activation at or before it.
Before the first activation of a pack no version was in force, with one
exception: the shipped packs imported into an empty store (activated by
``system``) count as in force for every instant before the next activation,
so that a past ``as_of`` evaluated with a shipped pack keeps working however
young the store is (they were the rules of those days as far as the store
knows). An activation at the very instant of an ``as_of`` is in force for it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, select
from sqlalchemy.exc import SQLAlchemyError

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.store.migrations.schema import pack_activations_table

__all__ = [
    "IMPORTED_ACTOR",
    "Activation",
    "ActivationHistory",
    "in_force_at",
    "record_activation",
]

#: The actor of the shipped packs' import (``SYSTEM_AUTHOR`` of :mod:`.packs`).
IMPORTED_ACTOR = "system"

_A = pack_activations_table.c


@dataclass(frozen=True, slots=True)
class Activation:
    """A version of a pack became the active one at ``at``."""

    pack_id: str
    version: str
    at: datetime
    actor: str
    detail: str | None = None

    @property
    def imported(self) -> bool:
        """Whether this is the activation of a shipped pack imported by the system."""
        return self.actor == IMPORTED_ACTOR


def record_activation(connection: Connection, activation: Activation) -> None:
    """Append an activation inside the caller's transaction."""
    row = {
        "pack_id": activation.pack_id,
        "version": activation.version,
        "at": activation.at.astimezone(UTC).replace(tzinfo=None),
        "actor": activation.actor,
        "detail": activation.detail,
    }
    connection.execute(insert(pack_activations_table), row)


class ActivationHistory:
    """The activation history, on the decision store's database."""

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self._where = where

    def history(self, pack_id: str) -> list[Activation]:
        """Every activation of a pack, oldest first."""
        query = select(pack_activations_table).where(_A.pack_id == pack_id)
        return self._read(query.order_by(_A.at, _A.id))

    def latest(self, pack_id: str, version: str) -> Activation | None:
        """The newest activation of one version (``None`` when it was never activated)."""
        query = (
            select(pack_activations_table)
            .where(_A.pack_id == pack_id, _A.version == version)
            .order_by(_A.at.desc(), _A.id.desc())
            .limit(1)
        )
        found = self._read(query)
        return found[0] if found else None

    def in_force(self, pack_id: str, at: datetime) -> Activation | None:
        """The activation of a pack in force at ``at`` (:func:`in_force_at` of its history)."""
        return in_force_at(self.history(pack_id), at)

    def _read(self, query: Any) -> list[Activation]:
        try:
            with self._engine.connect() as connection:
                return [_activation(row) for row in connection.execute(query)]
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StoreError(f"cannot read the pack store {self._where}: {detail}") from exc


def in_force_at(history: Sequence[Activation], at: datetime) -> Activation | None:
    """The activation in force at ``at`` in a pack's ``history`` (oldest first); ``None``
    when no version was.

    The newest activation at or before ``at``; before the first one, the
    first one when it is the import of a shipped pack (see the module).
    """
    index = bisect.bisect_right([a.at for a in history], at) - 1
    if index >= 0:
        return history[index]
    if history and history[0].imported:
        return history[0]
    return None


def _activation(row: Row[Any]) -> Activation:
    at = row.at.replace(tzinfo=UTC) if row.at.tzinfo is None else row.at.astimezone(UTC)
    return Activation(row.pack_id, row.version, at, row.actor, row.detail)
