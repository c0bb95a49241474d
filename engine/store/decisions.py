"""The decision store: an append-only history of decisions, for escalation and audit.

Any SQLAlchemy URL works; the default is a SQLite file (``sellerpolicy.db``),
PostgreSQL in production (``postgresql+psycopg://user@host/db``; a plain
``postgresql://`` URL is given the psycopg 3 driver). A bare path is a
SQLite file. Opening a store applies the Alembic migrations of
:mod:`sellerpolicy.engine.store.migrations` (``upgrade head``), which also create
the pack, audit and API-key tables that :mod:`.packs` and :mod:`.keys`
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

Every append belongs to a run (``runs``, :mod:`.runs`): a batch run is
``started`` before its first chunk and ``complete`` after its last, a
service request is recorded and completed in its one transaction. Decisions
of a run that did not complete are no history, and completing a run deletes
the decisions other runs of its kind made for the same seller, pack version
and ``as_of``: one decision per seller, pack version, ``as_of`` and run kind.

Appends send positional rows with JSON encoded once, compactly, before the
insert (no ORM objects, no per-row JSON type processing): on SQLite straight
to the driver cursor's ``executemany`` with an ``INSERT`` compiled once per
store (a one-decision request then costs SQLite's own work, not SQLAlchemy's
statement handling), on PostgreSQL with ``COPY``, elsewhere with Core
``INSERT`` executemany. :meth:`DecisionRecord.of <.records.DecisionRecord.of>`
encodes the document as it builds the record, so an adapter that also sends
the decision (the HTTP service) reuses that text.

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

This module owns opening the store (:func:`resolve_store_url`) and the
:class:`DecisionStore` itself: migrating, writing, and the queries that need
its connections and caches. The record types and their JSON encoding are in
:mod:`.records`, turning rows back into decisions and paging them in
:mod:`.reads`, the escalation-history queries in :mod:`.history`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from alembic.util.exc import CommandError
from sqlalchemy import Engine, Table, create_engine, event, insert, select, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.store import DEFAULT_STORE_URL
from sellerpolicy.engine.store.migrations.schema import decision_rules_table, decisions_table
from sellerpolicy.rules.model import CompiledPack

from .history import BatchHistory, Evaluation, SqliteSellerHistory, load_history
from .idempotency import KeyTakenError, Remembered, recall, remember
from .migrations import upgrade
from .reads import ID_CHUNK, page_of, page_query, read_decisions
from .records import DecisionPage, DecisionRecord, StoredDecision, encode_json, naive_utc
from .runs import RunKind, RunState, complete_run, fail_run, insert_run, supersede
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
    "BatchHistory",
    "DecisionStore",
    "StoreBusyError",
    "resolve_store_url",
]

_INSERT_CHUNK = 5_000
_D = decisions_table.c


def resolve_store_url(target: str | Path) -> URL:
    """The SQLAlchemy URL for a URL string or a SQLite file path."""
    text = str(target)
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text)))
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is no number
        # Not the text itself: it may hold a password.
        scheme = text.split("://", 1)[0]
        raise StoreError(f"not a database URL: {scheme}://... ({exc})") from exc
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


def store_location(url: URL) -> str:
    """Where a store is, for messages: no password, in the URL's user part or its query."""
    secrets = [k for k in url.query if k.lower() in ("password", "sslpassword")]
    return url.difference_update_query(secrets).render_as_string(hide_password=True)


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
        self.where = store_location(self.url)
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

    def start_run(
        self, pack: CompiledPack, as_of: datetime, kind: RunKind, run_id: str | None = None
    ) -> str:
        """Record a new run as ``started``; return its id (see :mod:`.runs`)."""
        run_id = run_id or str(uuid.uuid4())
        with self._guard("write to"), self._engine.begin() as connection:
            insert_run(connection, run_id, pack, as_of, kind=kind)
        return run_id

    def complete_run(self, run_id: str) -> int:
        """Mark a run complete, deleting what it supersedes; return decisions deleted."""
        with self._guard("write to"), self._engine.begin() as connection:
            return complete_run(connection, run_id)

    def fail_run(self, run_id: str) -> None:
        """Mark a run failed: its decisions are no history."""
        with self._guard("write to"), self._engine.begin() as connection:
            fail_run(connection, run_id)

    def append(
        self,
        pack: CompiledPack,
        records: Sequence[DecisionRecord],
        *,
        run_id: str,
        evaluated_at: datetime | None = None,
        wait: bool = True,
        whole_run: tuple[RunKind, datetime] | None = None,
        idempotency: tuple[str, str, str] | None = None,
    ) -> list[str]:
        """Append decisions (one transaction); return their decision ids.

        Rows go in with Core ``INSERT`` executemany in chunks; on PostgreSQL
        with ``COPY ... FROM STDIN`` (several times faster for large batches).
        ``wait=False`` (SQLite; ignored elsewhere): when another connection
        holds the write lock, raise :class:`StoreBusyError` at once, having
        written nothing, instead of waiting for the lock. ``whole_run`` (its
        kind and ``as_of``): these records are a whole run, recorded and
        completed in the same transaction (a service request). Otherwise the
        run is one that :meth:`start_run` began. ``idempotency`` (key, request
        hash, answer): kept in the same transaction (:mod:`.idempotency`); a key
        already kept raises :class:`KeyTakenError` having written nothing.
        """
        when = naive_utc(evaluated_at or datetime.now(UTC))
        ids = [r.decision_id or str(uuid.uuid4()) for r in records]
        decision_rows = [
            (
                decision_id,
                run_id,
                r.seller_id,
                pack.id,
                pack.version,
                pack.digest,
                naive_utc(r.as_of),
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
            if whole_run is not None:
                kind, as_of = whole_run
                insert_run(connection, run_id, pack, as_of, kind=kind, state=RunState.COMPLETE)
                supersede(connection, run_id, kind)
            if idempotency is not None:
                key, hashed, response = idempotency
                try:
                    remember(connection, key, hashed, run_id, response)
                except IntegrityError as exc:  # leaving the block rolls everything back
                    raise KeyTakenError(key) from exc
        return ids

    def recall(self, key: str) -> Remembered | None:
        """What was kept for an idempotency key (unexpired), if anything."""
        with self._guard("read"), self._engine.connect() as connection:
            return recall(connection, key)

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
            return read_decisions(connection, query)

    def decision(self, decision_id: str) -> StoredDecision | None:
        """One decision by id, ``None`` when the store has no such decision."""
        query = select(decisions_table).where(_D.decision_id == decision_id)
        with self._guard("read"), self._engine.connect() as connection:
            found = read_decisions(connection, query)
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
        query = page_query(
            seller_id, pack_id=pack_id, as_of_from=as_of_from, as_of_to=as_of_to, cursor=cursor
        )
        with self._guard("read"), self._engine.connect() as connection:
            found = read_decisions(connection, query.limit(limit + 1))
        return page_of(found, limit)

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
            for start in range(0, len(unique), ID_CHUNK):
                chunk = unique[start : start + ID_CHUNK]
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
