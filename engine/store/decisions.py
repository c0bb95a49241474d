"""The decision store: an append-only history of decisions, for escalation and audit.

Any SQLAlchemy URL works; the default is a SQLite file (``sellerpolicy.db``),
PostgreSQL in production (``postgresql+psycopg://user@host/db``; a plain
``postgresql://`` URL is given the psycopg 3 driver). A bare path is a
SQLite file. Opening a store applies the Alembic migrations of
:mod:`sellerpolicy.engine.store.migrations` (``upgrade head``), which also create
the pack, audit and API-key tables that :mod:`.pack_store` and :mod:`.auth`
use on the same database (:attr:`DecisionStore.engine`).

Two tables, written together and never updated:

``decisions``
    one row per seller per evaluation: ids, pack id, version and digest,
    ``as_of``, status, when it was evaluated, the decision document and
    ``rules``: every rule's outcome, whether it fired (its condition held)
    and the actions it enforced, as one compact JSON list.
``decision_rules``
    one row per rule that fired: what escalation reads (decisions written
    before migration 0002 have a row for every rule here and no ``rules``).

Appends send positional rows with JSON encoded once, compactly, before the
insert (no ORM objects, no per-row JSON type processing): on SQLite straight
to the driver cursor's ``executemany`` with an ``INSERT`` compiled once per
store (a one-decision request then costs SQLite's own work, not SQLAlchemy's
statement handling), on PostgreSQL with ``COPY``, elsewhere with Core
``INSERT`` executemany. :meth:`DecisionRecord.of` encodes the document as it
builds the record, so an adapter that also sends the decision (the HTTP
service) reuses that text.

Escalation history (:meth:`DecisionStore.history`) is prefetched for a whole
batch of sellers in one query per chunk of sellers, never one query per
seller per rule; a one-seller lookup (the HTTP service's usual request) uses
a query without the window function that reads the ``(seller_id, as_of)``
index, on SQLite compiled once and run on the driver's cursor. A streak
walks back from the newest earlier evaluation (an ``as_of`` day strictly
before the one being evaluated, same pack id, any pack version): each
evaluation in which the rule fired (its condition held) adds one, and the
walk stops at the first evaluation where it did not fire or at a gap longer
than the rule's ladder ``lapse``. When a seller was evaluated several times
on one day, the last evaluation of that day (latest ``as_of``,
then latest run) is the day's history.

Timestamps are stored as naive UTC (SQLite has no time zones) and returned
as aware UTC datetimes.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from alembic.util.exc import CommandError
from sqlalchemy import (
    Engine,
    Table,
    and_,
    create_engine,
    event,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.evaluation.decision import Decision, Outcome
from sellerpolicy.engine.store.migrations.schema import decision_rules_table, decisions_table
from sellerpolicy.rules.model import CompiledPack

from .history import BatchHistory, Evaluation, SqliteSellerHistory, load_history
from .migrations import upgrade
from .sqlite import (
    CHECKPOINT_SECONDS,
    Checkpointer,
    SqliteInsert,
    StoreBusyError,
    no_autocheckpoint,
    sqlite_pragmas,
    without_busy_wait,
)

__all__ = [
    "CHECKPOINT_SECONDS",
    "DEFAULT_STORE_URL",
    "BatchHistory",
    "DecisionPage",
    "DecisionRecord",
    "DecisionStore",
    "RuleRecord",
    "StoreBusyError",
    "StoredDecision",
    "encode_json",
    "resolve_store_url",
]

DEFAULT_STORE_URL = "sqlite:///sellerpolicy.db"
_INSERT_CHUNK = 5_000
_SELLER_CHUNK = 2_000  # bound parameters per history query stay well under driver limits


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_json(value: object) -> str:
    """Compact JSON text, the form the store keeps documents in."""
    return _ENCODER.encode(value)


_D = decisions_table.c
_R = decision_rules_table.c


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
    document_json: str = ""  # the document as compact JSON text; empty: encoded on append

    @classmethod
    def of(cls, decision: Decision) -> DecisionRecord:
        """The record of a decision; a rule *fired* when its condition held (``matched``)."""
        enforced: dict[str, list[str]] = defaultdict(list)
        for action in decision.enforced_actions:
            enforced[action.rule].append(action.action)
        document = decision.to_json()
        return cls(
            seller_id=decision.seller_id,
            as_of=_utc(datetime.fromisoformat(decision.as_of)),
            status=decision.status.label,
            document=document,
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
            document_json=encode_json(document),
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


@dataclass(frozen=True, slots=True)
class DecisionPage:
    """One page of a seller's decisions, newest first, and the cursor of the next page."""

    decisions: tuple[StoredDecision, ...]
    next_cursor: str | None


class DecisionStore:
    """An append-only decision store on any SQLAlchemy database.

    ``schema`` puts the tables in a database schema (PostgreSQL), for example
    to keep test runs apart.
    """

    def __init__(
        self,
        target: str | Path = DEFAULT_STORE_URL,
        *,
        schema: str | None = None,
        background_checkpoints: bool = False,
    ):
        """Open (and migrate) the store.

        ``background_checkpoints`` (a SQLite file only; ignored elsewhere): this
        store's connections never checkpoint the write-ahead log themselves;
        a thread of its own does every :data:`CHECKPOINT_SECONDS` (until
        :meth:`close`). A commit then only appends to the log, and the
        checkpoint's copying and ``fsync`` (several milliseconds, every few
        hundred small commits) is never paid by a writer: what a service that
        writes from its event loop needs.
        """
        self.url = resolve_store_url(target)
        self.where = self.url.render_as_string(hide_password=True)
        try:
            engine = create_engine(self.url)
        except (ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot open the decision store {self.where}: {exc}") from exc
        background = (
            background_checkpoints
            and engine.dialect.name == "sqlite"
            and engine.url.database not in (None, "", ":memory:")
        )
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", sqlite_pragmas)
        if background:
            event.listen(engine, "connect", no_autocheckpoint)
        self._schema = schema
        self._sqlite_writers: dict[str, SqliteInsert] = {}
        # No map without a schema: even a no-op map is applied to every statement's SQL.
        self._engine: Engine = (
            engine.execution_options(schema_translate_map={None: schema})
            if schema is not None
            else engine
        )
        self._seller_history: SqliteSellerHistory | None = None
        with self._guard("create the tables of"):
            try:
                upgrade(self._engine, schema)
            except CommandError as exc:
                raise StoreError(f"cannot migrate the decision store {self.where}: {exc}") from exc
        self._checkpointer = Checkpointer(self._engine, self.where) if background else None

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (schema applied) that the pack and key stores share."""
        return self._engine

    @property
    def dialect(self) -> str:
        """The database's SQLAlchemy dialect name (``sqlite``, ``postgresql``...)."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Stop the checkpoint thread (checkpointing once more), release the connections."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
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
            raise StoreError(f"cannot {doing} the decision store {self.where}: {detail}") from exc

    def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers a trivial query."""
        with self._guard("reach"), self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def append(
        self,
        pack: CompiledPack,
        records: Sequence[DecisionRecord],
        *,
        run_id: str,
        evaluated_at: datetime | None = None,
        wait: bool = True,
    ) -> list[str]:
        """Append decisions (one transaction); return their decision ids.

        Rows go in with Core ``INSERT`` executemany in chunks; on PostgreSQL
        with ``COPY ... FROM STDIN`` (several times faster for large batches).
        ``wait=False`` (SQLite; ignored elsewhere): when another connection
        holds the write lock, raise :class:`StoreBusyError` at once, having
        written nothing, instead of waiting for the lock.
        """
        when = _naive(evaluated_at or datetime.now(UTC))
        ids = [r.decision_id or str(uuid.uuid4()) for r in records]
        decision_rows = [
            (
                decision_id,
                run_id,
                r.seller_id,
                pack.id,
                pack.version,
                pack.digest,
                _naive(r.as_of),
                r.status,
                when,
                r.document_json or encode_json(r.document),
                encode_json([[x.rule_id, x.outcome, x.fired, x.actions] for x in r.rules]),
            )
            for decision_id, r in zip(ids, records, strict=True)
        ]
        rule_rows = [
            (decision_id, rule.rule_id, rule.outcome, True, encode_json(rule.actions))
            for decision_id, r in zip(ids, records, strict=True)
            for rule in r.rules
            if rule.fired
        ]
        with self._guard("write to"), self._engine.begin() as connection:
            if not wait and connection.dialect.name == "sqlite":
                with without_busy_wait(connection, self.where):
                    self._write(connection, decisions_table, decision_rows)
            else:
                self._write(connection, decisions_table, decision_rows)
            self._write(connection, decision_rules_table, rule_rows)  # the lock is held now
        return ids

    def _write(self, connection: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows (tuples in the table's column order) inside the caller's transaction."""
        names = [column.name for column in table.columns]
        if not rows:
            return
        if connection.dialect.name == "postgresql":
            quote = connection.dialect.identifier_preparer.quote
            target = ".".join(quote(part) for part in (self._schema, table.name) if part)
            statement = f"COPY {target} ({', '.join(map(quote, names))}) FROM STDIN"
            driver: Any = connection.connection.driver_connection
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        if connection.dialect.name == "sqlite":
            self._write_sqlite(connection, table, rows)
            return
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            connection.execute(insert(table), [dict(zip(names, row, strict=True)) for row in chunk])

    def _write_sqlite(
        self, connection: Connection, table: Table, rows: list[tuple[Any, ...]]
    ) -> None:
        """Insert rows with the driver cursor's executemany: no per-call SQL compilation.

        Values go through the dialect's own bind processors (the ``DateTime``
        text format), so rows read back exactly as Core inserts would write them.
        """
        writer = self._sqlite_writers.get(table.name)
        if writer is None:
            writer = self._sqlite_writers[table.name] = SqliteInsert.of(
                connection, table, self._schema
            )
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(writer.sql, writer.bind(rows))
        finally:
            cursor.close()

    def decisions(self, seller_id: str, pack_id: str | None = None) -> list[StoredDecision]:
        """Every stored decision of a seller (optionally of one pack), oldest first."""
        query = select(decisions_table).where(_D.seller_id == seller_id)
        if pack_id is not None:
            query = query.where(_D.pack_id == pack_id)
        query = query.order_by(_D.as_of, _D.evaluated_at)
        with self._guard("read"), self._engine.connect() as connection:
            return self._read(connection, query)

    def decision(self, decision_id: str) -> StoredDecision | None:
        """One decision by id, ``None`` when the store has no such decision."""
        query = select(decisions_table).where(_D.decision_id == decision_id)
        with self._guard("read"), self._engine.connect() as connection:
            found = self._read(connection, query)
        return found[0] if found else None

    def page(
        self,
        seller_id: str,
        *,
        pack_id: str | None = None,
        as_of_from: date | None = None,
        as_of_to: date | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> DecisionPage:
        """A page of a seller's decisions, newest first (``as_of``, then evaluation time).

        ``as_of_from`` and ``as_of_to`` are inclusive days. ``cursor`` is the
        ``next_cursor`` of the previous page; ValueError when it is not one.
        """
        query = select(decisions_table).where(_D.seller_id == seller_id)
        if pack_id is not None:
            query = query.where(_D.pack_id == pack_id)
        if as_of_from is not None:
            query = query.where(_D.as_of >= datetime.combine(as_of_from, time.min))
        if as_of_to is not None:
            query = query.where(_D.as_of < datetime.combine(as_of_to + timedelta(days=1), time.min))
        if cursor is not None:
            as_of, evaluated_at, last_id = _decode_cursor(cursor)
            query = query.where(
                or_(
                    _D.as_of < as_of,
                    and_(_D.as_of == as_of, _D.evaluated_at < evaluated_at),
                    and_(
                        _D.as_of == as_of, _D.evaluated_at == evaluated_at, _D.decision_id < last_id
                    ),
                )
            )
        query = query.order_by(_D.as_of.desc(), _D.evaluated_at.desc(), _D.decision_id.desc())
        with self._guard("read"), self._engine.connect() as connection:
            found = self._read(connection, query.limit(limit + 1))
        more = len(found) > limit
        found = found[:limit]
        last = found[-1] if more else None
        next_cursor = _encode_cursor(last) if last is not None else None
        return DecisionPage(tuple(found), next_cursor)

    @staticmethod
    def _read(connection: Connection, query: Any) -> list[StoredDecision]:
        rows = connection.execute(query).all()
        rules: dict[str, list[RuleRecord]] = defaultdict(list)
        for row in rows:
            for rule_id, outcome, fired, actions in row.rules or ():
                rules[row.decision_id].append(RuleRecord(rule_id, outcome, fired, tuple(actions)))
        ids = [row.decision_id for row in rows if row.rules is None]  # written before 0002
        for start in range(0, len(ids), _SELLER_CHUNK):
            chunk = ids[start : start + _SELLER_CHUNK]
            rule_query = (
                select(decision_rules_table)
                .where(_R.decision_id.in_(chunk))
                .order_by(_R.decision_id, _R.rule_id)
            )
            for rule in connection.execute(rule_query):
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
                rules=tuple(sorted(rules[row.decision_id], key=lambda r: r.rule_id)),
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
        evaluations: dict[str, list[Evaluation]] = {}
        if depth == 0 or not seller_ids:
            return BatchHistory(pack, day, evaluations)
        unique = sorted(set(seller_ids))
        with self._guard("read the history from"), self._engine.connect() as connection:
            sqlite = None
            if connection.dialect.name == "sqlite" and len(unique) == 1:
                sqlite = self._seller_history
                if sqlite is None:
                    sqlite = self._seller_history = SqliteSellerHistory(connection, self._schema)
            for start in range(0, len(unique), _SELLER_CHUNK):
                chunk = unique[start : start + _SELLER_CHUNK]
                load_history(
                    connection,
                    pack_id=pack.id,
                    seller_ids=chunk,
                    before=datetime.combine(day, time.min),
                    depth=depth,
                    into=evaluations,
                    sqlite=sqlite,
                )
        return BatchHistory(pack, day, evaluations)


def _encode_cursor(last: StoredDecision) -> str:
    raw = "|".join(
        (_naive(last.as_of).isoformat(), _naive(last.evaluated_at).isoformat(), last.decision_id)
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        as_of, evaluated_at, decision_id = raw.split("|")
        return datetime.fromisoformat(as_of), datetime.fromisoformat(evaluated_at), decision_id
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise ValueError(f"cursor {cursor!r} is not a cursor this API returned") from exc


def _naive(value: datetime) -> datetime:
    """Aware -> naive UTC (naive values are taken as UTC already)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _utc(value: datetime) -> datetime:
    """Naive UTC -> aware UTC; aware values are converted to UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
