"""SQLite specifics of the decision store: pragmas, compiled inserts, lock-free tries, checkpoints.

:func:`sqlite_pragmas` puts every connection in WAL mode with a busy
timeout; :class:`SqliteInsert` compiles a table's ``INSERT`` once for the
driver's ``executemany``; :func:`without_busy_wait` makes a write fail at
once (:class:`StoreBusyError`) instead of waiting
for a lock, for writers on an event loop; :class:`Checkpointer` moves the
write-ahead log into the database from a thread of its own, so commits
never pay for it (:func:`no_autocheckpoint`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.logs import get_logger

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CHECKPOINT_SECONDS",
    "Checkpointer",
    "SqliteInsert",
    "StoreBusyError",
    "no_autocheckpoint",
    "sqlite_pragmas",
    "without_busy_wait",
]

BUSY_TIMEOUT_MS = 10_000  # how long a SQLite statement waits for a lock held elsewhere
#: How often a store opened with ``background_checkpoints`` checkpoints its SQLite log.
CHECKPOINT_SECONDS = 1.0


class StoreBusyError(StoreError):
    """Another connection holds the SQLite write lock (only ``append(wait=False)``)."""


@dataclass(frozen=True, slots=True)
class SqliteInsert:
    """A table's ``INSERT`` for the SQLite driver and the bind processors of its columns."""

    sql: str
    processors: tuple[Callable[[Any], Any] | None, ...]

    @classmethod
    def of(cls, connection: Connection, table: Table, schema: str | None) -> SqliteInsert:
        """Compile the table's Core ``INSERT`` once (positional ``?`` parameters)."""
        dialect = connection.dialect
        translate: dict[str, Any] = (
            {"schema_translate_map": {None: schema}, "render_schema_translate": True}
            if schema is not None
            else {}
        )
        compiled = insert(table).compile(dialect=dialect, **translate)
        names = [column.name for column in table.columns]
        if list(compiled.positiontup or ()) != names:
            raise StoreError(f"unexpected parameter order in {compiled.string!r}")
        processors = tuple(
            column.type.dialect_impl(dialect).bind_processor(dialect) for column in table.columns
        )
        return cls(compiled.string, processors)

    def bind(self, rows: Sequence[tuple[Any, ...]]) -> Sequence[tuple[Any, ...]]:
        """Rows with each value processed as its column's type binds it (new tuples)."""
        steps = [(i, f) for i, f in enumerate(self.processors) if f is not None]
        if not steps:
            return rows
        bound: list[tuple[Any, ...]] = []
        for row in rows:
            values = list(row)
            for index, process in steps:
                values[index] = process(values[index])
            bound.append(tuple(values))
        return bound


def sqlite_pragmas(connection: Any, _record: object) -> None:
    """WAL lets readers work beside the writer; wait for a busy writer, never fail at once.

    ``synchronous=NORMAL`` is SQLite's advice for WAL: a commit survives an
    application crash; only a power cut can lose the last commits.
    """
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


@contextmanager
def without_busy_wait(connection: Connection, where: str) -> Iterator[None]:
    """Statements inside fail at once (:class:`StoreBusyError`) on a lock held elsewhere.

    The first write of a transaction takes SQLite's write lock; with no busy
    timeout it fails at once when another connection holds that lock.
    """
    driver: Any = connection.connection.driver_connection
    driver.execute("PRAGMA busy_timeout=0")
    try:
        yield
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise StoreBusyError(f"the decision store {where} is being written to") from exc
        raise
    finally:
        driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def no_autocheckpoint(connection: Any, _record: object) -> None:
    """Commits never checkpoint the write-ahead log (a :class:`Checkpointer` does)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


class Checkpointer:
    """A daemon thread that checkpoints a SQLite store's write-ahead log at intervals.

    ``PASSIVE`` checkpoints copy what they can without waiting for (or
    blocking) readers and writers; the log is reused from its start once a
    checkpoint has copied all of it.
    """

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self._where = where
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"checkpoints of {where}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(CHECKPOINT_SECONDS):
            self.checkpoint()

    def checkpoint(self) -> None:
        """Copy the log into the database file now (a failure is logged, then retried later)."""
        try:
            with self._engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except SQLAlchemyError as exc:
            get_logger(component="store").warning(
                "checkpoint_failed", store=self._where, error=type(exc).__name__
            )

    def stop(self) -> None:
        """End the thread, then checkpoint once more."""
        self._stopped.set()
        self._thread.join()
        self.checkpoint()
