"""Alembic migrations of the sellerpolicy database (decisions, packs, audit, API keys).

The store applies them on open (:func:`upgrade`); the revisions are hand
written and portable (SQLite and PostgreSQL). To add one, copy the newest
file in ``versions/``, give it the next ``revision`` and set
``down_revision`` to the one before; never edit a released revision.

With a PostgreSQL ``schema`` the tables (and Alembic's ``alembic_version``)
live in that schema: the migration transaction sets ``search_path`` locally.
Stores opened together migrate one after the other: within a process under a
lock (Alembic's context is process-wide), across processes by taking the
database's write lock first (an advisory lock on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite).
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

__all__ = ["HEAD", "downgrade", "upgrade"]

#: The newest revision: what :func:`upgrade` brings a database to.
HEAD = "0006"

_HERE = Path(__file__).resolve().parent
_LOCK_KEY = 0x5E11E4_0001  # the PostgreSQL advisory lock held while migrating
_MIGRATING = threading.Lock()  # Alembic's context is process-wide: one migration at a time


def alembic_config() -> Config:
    """An Alembic configuration pointing at the migrations shipped in the package."""
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    return config


def _run(engine: Engine, schema: str | None, step: str, revision: str) -> None:
    config = alembic_config()
    with _MIGRATING, engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        if schema is not None and connection.dialect.name == "postgresql":
            quoted = connection.dialect.identifier_preparer.quote(schema)
            connection.execute(text(f"SET LOCAL search_path TO {quoted}"))
        config.attributes["connection"] = connection
        if step == "upgrade":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)


def upgrade(engine: Engine, schema: str | None = None, revision: str = "head") -> None:
    """Bring the database of ``engine`` (optionally a PostgreSQL schema) up to ``revision``."""
    _run(engine, schema, "upgrade", revision)


def downgrade(engine: Engine, revision: str, schema: str | None = None) -> None:
    """Take the database of ``engine`` back down to ``revision`` (``base``: nothing)."""
    _run(engine, schema, "downgrade", revision)
