"""The real PostgreSQL server for tests: a fresh schema per use, dropped after.

Tests that need PostgreSQL use the server at ``127.0.0.1:5432`` (database
``test``, trust auth; override with ``SELLERPOLICY_TEST_POSTGRES``). When it
is unreachable they skip on a developer's machine and FAIL in CI (``CI`` set),
so CI can never pass without having run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

POSTGRES_URL = os.environ.get(
    "SELLERPOLICY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _unreachable(exc: Exception) -> NoReturn:
    """Skip on a developer's machine, fail in CI (``CI`` set)."""
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable in CI: {exc}")
    pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable")


def postgres_schema(prefix: str = "sp_test") -> Iterator[str]:
    """Yield a fresh schema name once; drop the schema afterwards."""
    engine = create_engine(POSTGRES_URL)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with engine.begin() as con:
            con.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        engine.dispose()
        _unreachable(exc)
    try:
        yield schema
    finally:
        with engine.begin() as con:
            con.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def fresh_postgres_database(prefix: str = "sp_test") -> Iterator[str]:
    """Yield the URL of a fresh database once (for a process that takes a URL, not
    a schema); drop it afterwards. Skips or fails like :func:`postgres_schema`."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as con:
            con.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        _unreachable(exc)
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as con:
            con.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
