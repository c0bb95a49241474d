"""SQLite specifics of the decision store: pragmas, compiled inserts, lock-free tries, checkpoints.

:func:`sqlite_pragmas` puts every connection in WAL mode with a busy
timeout; :class:`SqliteInsert` compiles a table's ``INSERT`` once for the
driver's ``executemany``; :func:`without_busy_wait` makes a write fail at
once (:class:`StoreBusyError`) instead of waiting
for a lock, for writers on an event loop; :class:`Checkpointer` moves the
write-ahead log into the database from a thread of its own, so commits
never pay for it (:func:`no_autocheckpoint`), and truncates the log file
when the store opens and whenever it has grown past a limit
(:func:`checkpoint_log`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.logs import get_logger

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CHECKPOINT_SECONDS",
    "LOG_LIMIT_BYTES",
    "Checkpointer",
    "SqliteInsert",
    "StoreBusyError",
    "checkpoint_log",
    "no_autocheckpoint",
    "sqlite_pragmas",
    "without_busy_wait",
]

BUSY_TIMEOUT_MS = 10_000  # how long a SQLite statement waits for a lock held elsewhere
#: How often a store opened with ``background_checkpoints`` checkpoints its SQLite log.
CHECKPOINT_SECONDS = 1.0
#: Such a store's log file is truncated at the next checkpoint once it is larger than this.
LOG_LIMIT_BYTES = 32 * 1024 * 1024


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


def checkpoint_log(engine: Engine, where: str, *, truncate: bool) -> bool:
    """Copy the write-ahead log into the database; with ``truncate``, also empty its file.

    Never waits: when another connection is writing, or reading from the log,
    it copies what it can and returns ``False`` (with ``truncate``, the file
    is then left as it is). ``PASSIVE`` (``truncate=False``) blocks no writer,
    but never makes the file smaller, and the log starts over from the
    beginning of the file only when a writer finds no reader in it: under
    steady load (every request reads history) that moment may never come,
    and the file grows without end (a service's log was seen at 615 MB, and
    as large after a restart). ``TRUNCATE`` takes the write lock, copies
    what is left, syncs and empties the file: writers wait for it meanwhile.
    A failure is logged, never raised.
    """
    mode = "TRUNCATE" if truncate else "PASSIVE"
    try:
        with engine.connect() as connection, without_busy_wait(connection, where):
            busy = connection.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})").scalar()
    except (SQLAlchemyError, StoreError) as exc:
        get_logger(component="store").warning(
            "checkpoint_failed", store=where, error=type(exc).__name__
        )
        return False
    return busy == 0


class Checkpointer:
    """A daemon thread that checkpoints a SQLite store's write-ahead log at intervals.

    When it starts (the store opens) and when it stops, the log is copied
    into the database and its file truncated to zero bytes: a log an earlier
    process left large shrinks on the next start. In between, every
    ``seconds`` (default :data:`CHECKPOINT_SECONDS`), the log is copied
    (``PASSIVE``: no writer waits), then truncated too when its file has
    grown past ``limit_bytes`` (default :data:`LOG_LIMIT_BYTES`; defaults are
    read at each checkpoint). Writers wait for a truncation once (30-40 ms
    at 200 evaluations/s, where the log grows past 32 MiB every 7 s or so);
    truncating at every interval made them wait every second (p99 4.5 ->
    8-12 ms). See :func:`checkpoint_log`.
    """

    def __init__(
        self,
        engine: Engine,
        where: str,
        seconds: float | None = None,
        limit_bytes: int | None = None,
    ) -> None:
        self._engine = engine
        self._where = where
        self._log = Path(f"{engine.url.database}-wal")
        self._seconds = seconds
        self._limit_bytes = limit_bytes
        self._stopped = threading.Event()
        self.checkpoint(truncate=True)
        self._thread = threading.Thread(
            target=self._run, name=f"checkpoints of {where}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(
            self._seconds if self._seconds is not None else CHECKPOINT_SECONDS
        ):
            self.checkpoint()

    def checkpoint(self, *, truncate: bool | None = None) -> bool:
        """Checkpoint now; truncate when asked or, by default, when the log is over the limit.

        Whether the whole log was copied (and, when truncating, the file emptied).
        """
        if truncate is None:
            limit = self._limit_bytes if self._limit_bytes is not None else LOG_LIMIT_BYTES
            truncate = self._log_bytes() > limit
        if truncate:  # copy first without the write lock: writers then wait less
            checkpoint_log(self._engine, self._where, truncate=False)
        return checkpoint_log(self._engine, self._where, truncate=truncate)

    def _log_bytes(self) -> int:
        try:
            return self._log.stat().st_size
        except OSError:  # no log file (yet)
            return 0

    def stop(self) -> None:
        """End the thread, then checkpoint (and truncate) once more."""
        self._stopped.set()
        self._thread.join()
        self.checkpoint(truncate=True)
