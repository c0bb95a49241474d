"""Runs: every batch of decisions written, with its state, so a run is atomic.

A run is ``started`` before its first decision is written and ``complete``
once the last one is (or ``failed``). Until then its decisions are no
history for escalation (:data:`INCOMPLETE`), and when it completes, the
decisions that other runs of the same kind, pack version and ``as_of`` made
for the sellers it decided are deleted, in the transaction that marks it
complete. So a run killed half way leaves decisions that escalation ignores,
its rerun replaces them, and the store ends with one decision per seller,
pack version, ``as_of`` and run kind. Decisions written before runs were
recorded have no run row and count as complete.

Run kinds: ``batch`` (``sellerpolicy evaluate`` and the Python API),
``distributed`` (a Dask run, appended by its driver) and ``service`` (one
``POST /v1/evaluations``, written and completed in one transaction).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    BindParameter,
    Connection,
    Select,
    and_,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from sellerpolicy.engine.store.migrations.schema import (
    decision_rules_table,
    decisions_table,
    runs_table,
)
from sellerpolicy.rules.model import CompiledPack

from .records import naive_utc

__all__ = [
    "INCOMPLETE",
    "RunKind",
    "RunState",
    "complete_run",
    "fail_run",
    "insert_run",
    "supersede",
]

_D = decisions_table.c
_RUN = runs_table.c


class RunKind(StrEnum):
    """What wrote a run's decisions."""

    BATCH = "batch"
    DISTRIBUTED = "distributed"
    SERVICE = "service"


class RunState(StrEnum):
    """Where a run stands."""

    STARTED = "started"
    COMPLETE = "complete"
    FAILED = "failed"


#: The ids of runs whose decisions are no history (started or failed).
INCOMPLETE = select(_RUN.run_id).where(_RUN.state != RunState.COMPLETE.value)


def insert_run(
    connection: Connection,
    run_id: str,
    pack: CompiledPack,
    as_of: datetime,
    *,
    kind: RunKind,
    state: RunState = RunState.STARTED,
) -> None:
    """Record a run (in the caller's transaction)."""
    now = naive_utc(datetime.now(UTC))
    connection.execute(
        insert(runs_table).values(
            run_id=run_id,
            kind=kind.value,
            pack_id=pack.id,
            pack_version=pack.version,
            pack_digest=pack.digest,
            as_of=naive_utc(as_of),
            state=state.value,
            started_at=now,
            finished_at=now if state is not RunState.STARTED else None,
        )
    )


def _superseded_query() -> Select[tuple[str]]:
    """Ids of the decisions that run ``run_id`` (of kind ``kind``) supersedes.

    Built once with bound parameters. Driven from the run's own decisions (few,
    for a service request) through the ``(seller_id, as_of)`` index: never a
    scan of every stored decision.
    """
    new, old = decisions_table.alias("new"), decisions_table.alias("old")
    same = and_(
        old.c.seller_id == new.c.seller_id,
        old.c.as_of == new.c.as_of,
        old.c.pack_id == new.c.pack_id,
        old.c.pack_version == new.c.pack_version,
        old.c.run_id != bindparam("run_id"),
    )
    return (
        select(old.c.decision_id)
        .select_from(new.join(old, same).join(runs_table, _RUN.run_id == old.c.run_id))
        .where(new.c.run_id == bindparam("run_id"), _RUN.kind == bindparam("kind"))
    )


_SUPERSEDED = _superseded_query()
_IDS: BindParameter[str] = bindparam("ids", expanding=True)
_DELETE_RULES = delete(decision_rules_table).where(decision_rules_table.c.decision_id.in_(_IDS))
_DELETE_DECISIONS = delete(decisions_table).where(_D.decision_id.in_(_IDS))
_DELETE_CHUNK = 2_000  # bound parameters per statement stay well under driver limits


def supersede(connection: Connection, run_id: str, kind: RunKind) -> int:
    """Delete the decisions run ``run_id`` supersedes; return how many.

    Superseded: a decision of another run of the same kind for the same
    seller, pack id, pack version and ``as_of`` as one of this run's. Usually
    there is none, and this costs one indexed query.
    """
    params = {"run_id": run_id, "kind": kind.value}
    ids = list(connection.execute(_SUPERSEDED, params).scalars())
    for start in range(0, len(ids), _DELETE_CHUNK):
        chunk = {"ids": ids[start : start + _DELETE_CHUNK]}
        connection.execute(_DELETE_RULES, chunk)
        connection.execute(_DELETE_DECISIONS, chunk)
    return len(ids)


def complete_run(connection: Connection, run_id: str) -> int:
    """Delete what the run supersedes (:func:`supersede`), then mark it complete."""
    kind = connection.execute(select(_RUN.kind).where(_RUN.run_id == run_id)).scalar_one()
    deleted = supersede(connection, run_id, RunKind(kind))
    _finish(connection, run_id, RunState.COMPLETE)
    return deleted


def fail_run(connection: Connection, run_id: str) -> None:
    """Mark a run failed: its decisions stay (for audit) but are no history."""
    _finish(connection, run_id, RunState.FAILED)


def _finish(connection: Connection, run_id: str, state: RunState) -> None:
    connection.execute(
        update(runs_table)
        .where(_RUN.run_id == run_id)
        .values(state=state.value, finished_at=naive_utc(datetime.now(UTC)))
    )
