"""Scheduled activations: a pack version becomes the active one at a given instant.

A schedule lives on the version's row (``activate_at``, ``scheduled_by``);
a pack has at most one pending schedule at a time (schedule another version
after cancelling it; a partial unique index guarantees it).
:meth:`Schedules.apply_due` applies every schedule whose instant has come:
the version is activated *as of its instant* (the activation history and
the audit record ``activate_at``, the actor who scheduled it, detail
``scheduled``), however late the call comes, so readers that apply due
schedules before they read the active version (the service does) see the
switch exactly at its instant. Each schedule is claimed with a conditional
update in the activating transaction, so processes applying the same
schedule at once activate it once.

Scheduling, cancelling and applying are audited (actions ``schedule``,
``schedule_cancel`` and ``activate`` with detail ``scheduled``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.store.migrations.schema import pack_versions_table

from .activations import Activation
from .audit import AuditEntry, record_audit
from .packs import (
    PackConflictError,
    PackNotFoundError,
    PackState,
    PackVersion,
    stored_version,
    switch_active,
)

__all__ = ["SCHEDULED", "ScheduleError", "Schedules"]

#: The ``detail`` of the activation (and its audit entry) a schedule makes.
SCHEDULED = "scheduled"

_P = pack_versions_table.c


class ScheduleError(StoreError):
    """The version has no pending schedule to cancel."""


class Schedules:
    """Pending scheduled activations, on the decision store's database."""

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self._where = where

    def _fail(self, doing: str, exc: SQLAlchemyError) -> StoreError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return StoreError(f"cannot {doing} the pack store {self._where}: {detail}")

    def schedule(
        self, pack_id: str, version: str, at: datetime, *, actor: str, now: datetime
    ) -> PackVersion:
        """Schedule a version's activation at ``at`` (after ``now``); audited.

        Scheduling a version again moves its instant. :class:`PackNotFoundError`
        when it is not stored; :class:`PackConflictError` when it is the active
        version or another version of the pack is scheduled; ``ValueError``
        when ``at`` is not after ``now``.
        """
        if at <= now:
            raise ValueError(f"the activation instant {_iso(at)} is not after now ({_iso(now)})")
        naive = at.astimezone(UTC).replace(tzinfo=None)
        try:
            with self._engine.begin() as connection:
                rows = connection.execute(
                    select(pack_versions_table).where(_P.pack_id == pack_id)
                ).all()
                target = next((r for r in rows if r.version == version), None)
                if target is None:
                    raise PackNotFoundError(f"no version {version!r} of pack {pack_id!r}")
                if target.state == PackState.ACTIVE.value:
                    raise PackConflictError(f"{pack_id}@{version} is the active version already")
                for other in rows:
                    if other.version != version and other.activate_at is not None:
                        raise PackConflictError(
                            f"pack {pack_id!r} has version {other.version!r} scheduled at "
                            f"{_iso(other.activate_at)}: cancel that schedule first"
                        )
                connection.execute(
                    update(pack_versions_table)
                    .where(_P.pack_id == pack_id, _P.version == version)
                    .values(activate_at=naive, scheduled_by=actor)
                )
                record_audit(
                    connection,
                    AuditEntry(now, actor, "schedule", pack_id, None, version, _iso(at)),
                )
        except IntegrityError as exc:
            raise PackConflictError(
                f"another version of pack {pack_id!r} is being scheduled; try again"
            ) from exc
        except SQLAlchemyError as exc:
            raise self._fail("write to", exc) from exc
        return replace(stored_version(target), activate_at=at, scheduled_by=actor)

    def cancel(self, pack_id: str, version: str, *, actor: str, now: datetime) -> PackVersion:
        """Drop a version's pending schedule (audited): the version as it is now.

        :class:`PackNotFoundError` when it is not stored, :class:`ScheduleError`
        when it has no pending schedule.
        """
        try:
            with self._engine.begin() as connection:
                target = connection.execute(
                    select(pack_versions_table).where(_P.pack_id == pack_id, _P.version == version)
                ).first()
                if target is None:
                    raise PackNotFoundError(f"no version {version!r} of pack {pack_id!r}")
                claimed = connection.execute(
                    update(pack_versions_table)
                    .where(
                        _P.pack_id == pack_id, _P.version == version, _P.activate_at.is_not(None)
                    )
                    .values(activate_at=None, scheduled_by=None)
                )
                if claimed.rowcount != 1:
                    raise ScheduleError(f"{pack_id}@{version} has no scheduled activation")
                record_audit(
                    connection,
                    AuditEntry(
                        now,
                        actor,
                        "schedule_cancel",
                        pack_id,
                        None,
                        version,
                        _iso(target.activate_at),
                    ),
                )
        except SQLAlchemyError as exc:
            raise self._fail("write to", exc) from exc
        return replace(stored_version(target), activate_at=None, scheduled_by=None)

    def pending(self, pack_id: str | None = None) -> list[PackVersion]:
        """The versions with a pending schedule (of one pack), soonest first."""
        query = select(pack_versions_table).where(_P.activate_at.is_not(None))
        if pack_id is not None:
            query = query.where(_P.pack_id == pack_id)
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(query.order_by(_P.activate_at, _P.pack_id)).all()
        except SQLAlchemyError as exc:
            raise self._fail("read", exc) from exc
        return [stored_version(row) for row in rows]

    def apply_due(self, now: datetime, pack_id: str | None = None) -> list[Activation]:
        """Activate every version (of one pack) whose instant is at or before ``now``.

        Each is activated as of its instant, in the order of the instants;
        a schedule another process applied (or cancelled) meanwhile is
        skipped. The activations this call made.
        """
        applied: list[Activation] = []
        for due in self.pending(pack_id):
            if due.activate_at is None or due.activate_at > now:
                break
            actor = due.scheduled_by or "unknown"
            if self._apply(due, due.activate_at, actor):
                applied.append(
                    Activation(due.pack_id, due.version, due.activate_at, actor, SCHEDULED)
                )
        return applied

    def _apply(self, due: PackVersion, at: datetime, actor: str) -> bool:
        """Claim and apply one due schedule; whether this call applied it."""
        when = at.astimezone(UTC).replace(tzinfo=None)
        try:
            with self._engine.begin() as connection:
                claimed = connection.execute(
                    update(pack_versions_table)
                    .where(
                        _P.pack_id == due.pack_id,
                        _P.version == due.version,
                        _P.activate_at == when,
                    )
                    .values(activate_at=None, scheduled_by=None)
                )
                if claimed.rowcount != 1:
                    return False
                switch_active(
                    connection,
                    due.pack_id,
                    due.version,
                    actor=actor,
                    at=at,
                    detail=SCHEDULED,
                )
        except PackNotFoundError:  # pragma: no cover - versions are never deleted
            return False
        except IntegrityError as exc:
            raise PackConflictError(
                f"pack {due.pack_id!r} is being activated by another request; try again"
            ) from exc
        except SQLAlchemyError as exc:
            raise self._fail("write to", exc) from exc
        return True


def _iso(value: datetime) -> str:
    """An instant as ISO 8601 UTC with ``Z`` (naive values are UTC)."""
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")
