"""The decision store: an append-only history of decisions, for escalation and audit.

Any SQLAlchemy URL works; the default is a SQLite file (``sellerpolicy.db``),
PostgreSQL in production (``postgresql+psycopg://user@host/db``; a plain
``postgresql://`` URL is given the psycopg 3 driver). A bare path is a
SQLite file. Tables are created on first use.

Two tables, written together and never updated:

``decisions``
    one row per seller per evaluation: ids, pack id, version and digest,
    ``as_of``, status, when it was evaluated, and the decision document.
``decision_rules``
    one row per rule of each decision: its outcome, whether it fired
    (its condition held) and the actions it enforced. Escalation reads these.

Escalation history (:meth:`DecisionStore.history`) is prefetched for a whole
batch of sellers in one query per chunk of sellers, never one query per
seller per rule. A streak walks back from the newest earlier evaluation
(an ``as_of`` day strictly before the one being evaluated, same pack id,
any pack version): each evaluation in which the rule fired (its condition
held) adds one, and the walk stops at the first evaluation where it did not
fire or at a gap longer than the rule's ladder ``lapse``. When a seller was
evaluated several times on one day, the last evaluation of that day (latest
``as_of``, then latest run) is the day's history.

Timestamps are stored as naive UTC (SQLite has no time zones) and returned
as aware UTC datetimes.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    String,
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from sellerpolicy.rules.model import CompiledPack

from .decision import Decision, Outcome
from .errors import StoreError
from .evaluate import streak_length

__all__ = [
    "DEFAULT_STORE_URL",
    "BatchHistory",
    "DecisionRecord",
    "DecisionStore",
    "RuleRecord",
    "StoredDecision",
    "resolve_store_url",
]

DEFAULT_STORE_URL = "sqlite:///sellerpolicy.db"
_INSERT_CHUNK = 1_000
_SELLER_CHUNK = 2_000  # bound parameters per history query stay well under driver limits


class _Base(DeclarativeBase):
    # JSON columns for the decision document and a rule's actions.
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}  # noqa: RUF012 (SQLAlchemy's API)


class _DecisionRow(_Base):
    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_pack_seller_as_of", "pack_id", "seller_id", "as_of"),)

    decision_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    seller_id: Mapped[str] = mapped_column(String(200))
    pack_id: Mapped[str] = mapped_column(String(200))
    pack_version: Mapped[str] = mapped_column(String(100))
    pack_digest: Mapped[str] = mapped_column(String(80))
    as_of: Mapped[datetime] = mapped_column(DateTime())
    status: Mapped[str] = mapped_column(String(20))
    evaluated_at: Mapped[datetime] = mapped_column(DateTime())
    decision: Mapped[dict[str, Any]]


class _DecisionRuleRow(_Base):
    __tablename__ = "decision_rules"

    decision_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("decisions.decision_id"), primary_key=True
    )
    rule_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20))
    fired: Mapped[bool] = mapped_column(Boolean())
    actions: Mapped[list[str]]


@dataclass(frozen=True, slots=True)
class RuleRecord:
    """One rule of a decision, as the store keeps it."""

    rule_id: str
    outcome: str
    fired: bool
    actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decision to append: its identity, status, rule outcomes and JSON document."""

    seller_id: str
    as_of: datetime
    status: str
    document: Mapping[str, object]
    rules: tuple[RuleRecord, ...]
    decision_id: str = ""  # empty: the store assigns a new UUID

    @classmethod
    def of(cls, decision: Decision) -> DecisionRecord:
        """The record of a decision; a rule *fired* when its condition held (``matched``)."""
        enforced: dict[str, list[str]] = defaultdict(list)
        for action in decision.enforced_actions:
            enforced[action.rule].append(action.action)
        return cls(
            seller_id=decision.seller_id,
            as_of=_utc(datetime.fromisoformat(decision.as_of)),
            status=decision.status.label,
            document=decision.to_json(),
            rules=tuple(
                RuleRecord(
                    rule_id=result.rule,
                    outcome=result.outcome.value,
                    fired=result.outcome is Outcome.MATCHED,
                    actions=tuple(enforced.get(result.rule, ())),
                )
                for result in decision.rules
            ),
            decision_id=decision.decision_id,
        )


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A decision read back from the store."""

    decision_id: str
    run_id: str
    seller_id: str
    pack_id: str
    pack_version: str
    pack_digest: str
    as_of: datetime
    status: str
    evaluated_at: datetime
    document: Mapping[str, object]
    rules: tuple[RuleRecord, ...]


@dataclass(frozen=True, slots=True)
class _Evaluation:
    day: date
    fired: frozenset[str]


class BatchHistory:
    """Escalation history of a batch of sellers, prefetched: a ``HistoryLookup``.

    ``streak`` answers from memory, for any ``as_of`` up to the day the
    history was loaded for. The walk collects the firings back to the first
    earlier evaluation in which the rule did not fire; the lapse is then
    decided by :func:`~sellerpolicy.engine.evaluate.streak_length`, the one
    place that decides it.
    """

    def __init__(
        self,
        pack: CompiledPack,
        as_of: date,
        evaluations: Mapping[str, Sequence[_Evaluation]],
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


def resolve_store_url(target: str | Path) -> URL:
    """The SQLAlchemy URL for a URL string or a SQLite file path."""
    text = str(target)
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text)))
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {text!r} ({exc})") from exc
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


class DecisionStore:
    """An append-only decision store on any SQLAlchemy database.

    ``schema`` puts the tables in a database schema (PostgreSQL), for example
    to keep test runs apart.
    """

    def __init__(self, target: str | Path = DEFAULT_STORE_URL, *, schema: str | None = None):
        self.url = resolve_store_url(target)
        self._where = self.url.render_as_string(hide_password=True)
        try:
            engine = create_engine(self.url)
        except (ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot open the decision store {self._where}: {exc}") from exc
        self._engine: Engine = engine.execution_options(schema_translate_map={None: schema})
        with self._guard("create the tables of"):
            _Base.metadata.create_all(self._engine)

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> DecisionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StoreError(f"cannot {doing} the decision store {self._where}: {detail}") from exc

    def append(
        self,
        pack: CompiledPack,
        records: Sequence[DecisionRecord],
        *,
        run_id: str,
        evaluated_at: datetime | None = None,
    ) -> list[str]:
        """Append decisions (in chunks, one transaction); return their decision ids."""
        when = _naive(evaluated_at or datetime.now(UTC))
        ids = [r.decision_id or str(uuid.uuid4()) for r in records]
        decision_rows = [
            {
                "decision_id": decision_id,
                "run_id": run_id,
                "seller_id": r.seller_id,
                "pack_id": pack.id,
                "pack_version": pack.version,
                "pack_digest": pack.digest,
                "as_of": _naive(r.as_of),
                "status": r.status,
                "evaluated_at": when,
                "decision": dict(r.document),
            }
            for decision_id, r in zip(ids, records, strict=True)
        ]
        rule_rows = [
            {
                "decision_id": decision_id,
                "rule_id": rule.rule_id,
                "outcome": rule.outcome,
                "fired": rule.fired,
                "actions": list(rule.actions),
            }
            for decision_id, r in zip(ids, records, strict=True)
            for rule in r.rules
        ]
        with self._guard("write to"), self._engine.begin() as connection:
            for rows, model in ((decision_rows, _DecisionRow), (rule_rows, _DecisionRuleRow)):
                for start in range(0, len(rows), _INSERT_CHUNK):
                    connection.execute(insert(model), rows[start : start + _INSERT_CHUNK])
        return ids

    def decisions(self, seller_id: str, pack_id: str | None = None) -> list[StoredDecision]:
        """Every stored decision of a seller (optionally of one pack), oldest first."""
        query = select(_DecisionRow).where(_DecisionRow.seller_id == seller_id)
        if pack_id is not None:
            query = query.where(_DecisionRow.pack_id == pack_id)
        query = query.order_by(_DecisionRow.as_of, _DecisionRow.evaluated_at)
        with self._guard("read"), Session(self._engine) as session:
            rows = session.scalars(query).all()
            rules: dict[str, list[RuleRecord]] = defaultdict(list)
            ids = [row.decision_id for row in rows]
            for start in range(0, len(ids), _SELLER_CHUNK):
                chunk = ids[start : start + _SELLER_CHUNK]
                rule_query = select(_DecisionRuleRow).where(_DecisionRuleRow.decision_id.in_(chunk))
                for rule in session.scalars(rule_query.order_by(_DecisionRuleRow.rule_id)):
                    rules[rule.decision_id].append(
                        RuleRecord(rule.rule_id, rule.outcome, rule.fired, tuple(rule.actions))
                    )
            return [
                StoredDecision(
                    decision_id=row.decision_id,
                    run_id=row.run_id,
                    seller_id=row.seller_id,
                    pack_id=row.pack_id,
                    pack_version=row.pack_version,
                    pack_digest=row.pack_digest,
                    as_of=_utc(row.as_of),
                    status=row.status,
                    evaluated_at=_utc(row.evaluated_at),
                    document=row.decision,
                    rules=tuple(rules[row.decision_id]),
                )
                for row in rows
            ]

    def history(
        self, pack: CompiledPack, seller_ids: Sequence[str], as_of: date | datetime
    ) -> BatchHistory:
        """Prefetch the escalation history of ``seller_ids`` for an evaluation at ``as_of``.

        Only as many earlier evaluations per seller are read as the pack's
        longest ladder can use; a pack without ladders reads nothing.
        """
        day = as_of.astimezone(UTC).date() if isinstance(as_of, datetime) else as_of
        depth = max(
            (step.after for r in pack.rules if r.escalation for step in r.escalation.steps),
            default=0,
        )
        evaluations: dict[str, list[_Evaluation]] = {}
        if depth == 0 or not seller_ids:
            return BatchHistory(pack, day, evaluations)
        unique = sorted(set(seller_ids))
        with self._guard("read the history from"), Session(self._engine) as session:
            for start in range(0, len(unique), _SELLER_CHUNK):
                chunk = unique[start : start + _SELLER_CHUNK]
                self._load_history(
                    session,
                    pack_id=pack.id,
                    seller_ids=chunk,
                    before=datetime.combine(day, time.min),
                    depth=depth,
                    into=evaluations,
                )
        return BatchHistory(pack, day, evaluations)

    @staticmethod
    def _load_history(
        session: Session,
        *,
        pack_id: str,
        seller_ids: Sequence[str],
        before: datetime,
        depth: int,
        into: dict[str, list[_Evaluation]],
    ) -> None:
        ranked = (
            select(
                _DecisionRow.decision_id,
                _DecisionRow.seller_id,
                _DecisionRow.as_of,
                _DecisionRow.evaluated_at,
                func.dense_rank()
                .over(partition_by=_DecisionRow.seller_id, order_by=_DecisionRow.as_of.desc())
                .label("rank"),
            )
            .where(
                _DecisionRow.pack_id == pack_id,
                _DecisionRow.seller_id.in_(seller_ids),
                _DecisionRow.as_of < before,
            )
            .subquery()
        )
        query = (
            select(
                ranked.c.seller_id, ranked.c.as_of, ranked.c.decision_id, _DecisionRuleRow.rule_id
            )
            .outerjoin(
                _DecisionRuleRow,
                (_DecisionRuleRow.decision_id == ranked.c.decision_id) & _DecisionRuleRow.fired,
            )
            .where(ranked.c.rank <= depth)
            .order_by(ranked.c.seller_id, ranked.c.as_of.desc(), ranked.c.evaluated_at.desc())
        )
        # Per seller and day, the first decision seen is the day's last evaluation
        # (latest as_of, then latest run): that one is the day's history.
        chosen: dict[tuple[str, date], str] = {}
        fired: dict[tuple[str, date], set[str]] = {}
        for seller_id, row_as_of, decision_id, rule_id in session.execute(query):
            key = (seller_id, row_as_of.date())
            if chosen.setdefault(key, decision_id) != decision_id:
                continue
            rules = fired.setdefault(key, set())
            if rule_id is not None:
                rules.add(rule_id)
        for (seller_id, day), rules in fired.items():
            into.setdefault(seller_id, []).append(_Evaluation(day, frozenset(rules)))


def _naive(value: datetime) -> datetime:
    """Aware -> naive UTC (naive values are taken as UTC already)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _utc(value: datetime) -> datetime:
    """Naive UTC -> aware UTC; aware values are converted to UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
