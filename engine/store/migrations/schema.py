"""The database schema at the head revision, as SQLAlchemy Core tables.

The revisions in ``versions/`` create these tables; the stores read and
write through them (:mod:`..decisions`, :mod:`..packs`, :mod:`..approvals`,
:mod:`..activations`, :mod:`..keys`).
When a revision changes a table, change it here too.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "FIRED_ROWS",
    "JSONText",
    "api_keys_table",
    "audit_table",
    "decision_rules_table",
    "decisions_table",
    "idempotency_keys_table",
    "metadata",
    "pack_activations_table",
    "pack_approvals_table",
    "pack_versions_table",
    "runs_table",
    "sessions_table",
]


class JSONText(TypeDecorator[Any]):
    """A JSON column written from pre-encoded JSON text (no per-row encoding on insert).

    Binds pass the text through; reads decode text (SQLite) or take the
    value the driver already decoded (psycopg decodes ``json``).
    """

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        """No processing: values are already JSON text."""
        return

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """Decode JSON text; values the driver decoded pass through."""
        return json.loads(value) if isinstance(value, str | bytes) else value


metadata = MetaData()

decisions_table = Table(
    "decisions",
    metadata,
    Column("decision_id", String(36), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("seller_id", String(200), nullable=False),
    Column("pack_id", String(200), nullable=False),
    Column("pack_version", String(100), nullable=False),
    Column("pack_digest", String(80), nullable=False),
    Column("as_of", DateTime(), nullable=False),
    Column("status", String(20), nullable=False),
    Column("evaluated_at", DateTime(), nullable=False),
    Column("decision", JSONText(), nullable=False),
    Column("rules", JSONText(), nullable=True),
)
#: 0006: the workbench's decision list, counts and export, newest day first; the
#: second index holds only the decisions in which a rule fired (``FIRED_ROWS``) and,
#: on SQLite only, their ``rules`` too (see the revision for why).
FIRED_ROWS = "CAST(rules AS TEXT) LIKE '%,true,%' OR rules IS NULL"
_BROWSE = ("pack_id", "pack_version", "seller_id", "decision_id", "status")  # after as_of
Index(
    "ix_decisions_as_of_browse",
    decisions_table.c.as_of.desc(),
    *(decisions_table.c[name] for name in _BROWSE),
)
Index(
    "ix_decisions_fired_browse",
    decisions_table.c.as_of.desc(),
    *(decisions_table.c[name] for name in _BROWSE),
    sqlite_where=text(FIRED_ROWS),
    postgresql_where=text(FIRED_ROWS),
)
Index(  # decisions written before 0002 (no rules list): empty on younger stores
    "ix_decisions_without_rules",
    decisions_table.c.as_of.desc(),
    sqlite_where=text("rules IS NULL"),
    postgresql_where=text("rules IS NULL"),
)

decision_rules_table = Table(
    "decision_rules",
    metadata,
    Column("decision_id", String(36), primary_key=True),
    Column("rule_id", String(200), primary_key=True),
    Column("outcome", String(20), nullable=False),
    Column("fired", Boolean(), nullable=False),
    Column("actions", JSONText(), nullable=False),
)

pack_versions_table = Table(
    "pack_versions",
    metadata,
    Column("pack_id", String(200), primary_key=True),
    Column("version", String(100), primary_key=True),
    Column("digest", String(80), nullable=False),
    Column("content", Text(), nullable=False),
    Column("author", String(200), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("state", String(10), nullable=False),
    Column("activate_at", DateTime(), nullable=True),  # a pending scheduled activation
    Column("scheduled_by", String(200), nullable=True),
)

pack_approvals_table = Table(
    "pack_approvals",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("pack_id", String(200), nullable=False),
    Column("version", String(100), nullable=False),
    Column("approver", String(200), nullable=False),
    Column("comment", Text(), nullable=False),
    Column("at", DateTime(), nullable=False),
    Column("impact", Text(), nullable=True),  # JSON text
    UniqueConstraint("pack_id", "version", "approver", name="uq_pack_approval"),
)

pack_activations_table = Table(
    "pack_activations",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("pack_id", String(200), nullable=False),
    Column("version", String(100), nullable=False),
    Column("at", DateTime(), nullable=False),  # in force from this instant
    Column("actor", String(200), nullable=False),
    Column("detail", Text(), nullable=True),
)

audit_table = Table(
    "audit",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("at", DateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("from_version", String(100), nullable=True),
    Column("to_version", String(100), nullable=True),
    Column("detail", Text(), nullable=True),
)

runs_table = Table(
    "runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("pack_id", String(200), nullable=False),
    Column("pack_version", String(100), nullable=False),
    Column("pack_digest", String(80), nullable=False),
    Column("as_of", DateTime(), nullable=False),
    Column("state", String(10), nullable=False),
    Column("started_at", DateTime(), nullable=False),
    Column("finished_at", DateTime(), nullable=True),
)

idempotency_keys_table = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("run_id", String(36), nullable=False),
    Column("response", Text(), nullable=False),
    Column("created_at", DateTime(), nullable=False),
)

api_keys_table = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("prefix", String(16), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("revoked_at", DateTime(), nullable=True),
)

sessions_table = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("key_id", String(16), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("expires_at", DateTime(), nullable=False),
)
