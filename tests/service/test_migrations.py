"""Alembic migrations: an empty database upgrades to head on both backends, a store
made before migrations is adopted with its decisions readable, an upgrade from 0003
backfills the activation history, and downgrades work."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pgkit import POSTGRES_URL, postgres_schema
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from sellerpolicy.engine.store.activations import ActivationHistory
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.migrations import HEAD, downgrade, upgrade
from sellerpolicy.engine.store.packs import PackStore
from sellerpolicy.engine.store.records import RuleRecord

_VERSION = Table("alembic_version", MetaData(), Column("version_num", String(32)))
_old = MetaData()
_old_decisions = Table(  # the shape of decisions before revision 0002
    "decisions",
    _old,
    *(Column(name, String(200)) for name in ("decision_id", "run_id", "seller_id", "pack_id")),
    *(Column(name, String(200)) for name in ("pack_version", "pack_digest", "status")),
    Column("as_of", DateTime()),
    Column("evaluated_at", DateTime()),
    Column("decision", JSON()),
)
_old_rules = Table(
    "decision_rules",
    _old,
    Column("decision_id", String(36)),
    Column("rule_id", String(200)),
    Column("outcome", String(20)),
    Column("fired", Boolean()),
    Column("actions", JSON()),
)
TABLES = {
    "decisions",
    "decision_rules",
    "pack_versions",
    "pack_approvals",
    "pack_activations",
    "audit",
    "api_keys",
    "alembic_version",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """An empty database: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "fresh.db"), None
        return
    for schema in postgres_schema():
        yield POSTGRES_URL, schema


def _engine(store: DecisionStore) -> Engine:
    return store.engine


def _tables(engine: Engine, schema: str | None) -> set[str]:
    return set(inspect(engine).get_table_names(schema=schema))


def test_an_empty_database_is_migrated_to_head(target: tuple[str, str | None]) -> None:
    """Opening a store on an empty database creates every table at the head revision."""
    url, schema = target
    with DecisionStore(url, schema=schema) as store:
        engine = _engine(store)
        assert _tables(engine, schema) >= TABLES
        with engine.connect() as connection:
            version = connection.execute(select(_VERSION.c.version_num)).scalar()
        assert version == HEAD
    with DecisionStore(url, schema=schema) as again:  # a second open changes nothing
        assert _tables(_engine(again), schema) >= TABLES


def test_a_pre_migration_store_is_adopted(target: tuple[str, str | None]) -> None:
    """Decisions written before 0002 (a row per rule, no rules column) still read back."""
    url, schema = target
    with DecisionStore(url, schema=schema) as store:
        engine = store.engine
        downgrade(engine, "0001", schema)
        assert "pack_versions" not in _tables(engine, schema)
        when = datetime(2026, 10, 1)
        with engine.begin() as connection:
            connection.execute(
                insert(_old_decisions),
                {
                    "decision_id": "d1",
                    "run_id": "r1",
                    "seller_id": "S1",
                    "pack_id": "p",
                    "pack_version": "1",
                    "pack_digest": "sha256:0",
                    "as_of": when,
                    "status": "healthy",
                    "evaluated_at": when,
                    "decision": {"seller_id": "S1"},
                },
            )
            for rule, fired in (("a", False), ("b", True)):
                connection.execute(
                    insert(_old_rules),
                    {
                        "decision_id": "d1",
                        "rule_id": rule,
                        "outcome": "matched" if fired else "not_matched",
                        "fired": fired,
                        "actions": ["warn"] if fired else [],
                    },
                )
        upgrade(engine, schema)
        assert _tables(engine, schema) >= TABLES
        (stored,) = store.decisions("S1")
        assert stored.as_of == when.replace(tzinfo=UTC)
        assert stored.rules == (
            RuleRecord("a", "not_matched", False, ()),
            RuleRecord("b", "matched", True, ("warn",)),
        )
        downgrade(engine, "base", schema)
        assert _tables(engine, schema) & TABLES <= {"alembic_version"}


def test_stores_opened_together_migrate_once(target: tuple[str, str | None]) -> None:
    """Several processes' stores opening one empty database at once all succeed
    (migrations are serialised), leaving it at head."""
    url, schema = target
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            DecisionStore(url, schema=schema).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with DecisionStore(url, schema=schema) as store, store.engine.connect() as connection:
        assert connection.execute(select(_VERSION.c.version_num)).scalar() == HEAD


_audit_0003 = Table(  # audit and pack_versions as revision 0003 left them
    "audit",
    MetaData(),
    Column("at", DateTime()),
    Column("actor", String(200)),
    Column("action", String(40)),
    Column("subject", String(200)),
    Column("from_version", String(100)),
    Column("to_version", String(100)),
    Column("detail", String(200)),
)
_versions_0003 = Table(
    "pack_versions",
    MetaData(),
    *(Column(name, String(200)) for name in ("pack_id", "version", "digest", "content")),
    Column("author", String(200)),
    Column("created_at", DateTime()),
    Column("state", String(10)),
)

_schedule_0004 = Table(  # the schedule 0004 adds to pack_versions
    "pack_versions",
    MetaData(),
    Column("pack_id", String(200)),
    Column("activate_at", DateTime()),
)


def test_an_upgrade_from_0003_backfills_the_activation_history(
    target: tuple[str, str | None],
) -> None:
    """Activations audited before 0004 become the activation history (with their
    instants and actors); versions gain an empty schedule, at most one per pack; going
    back to 0003 keeps the one-active-version index and the state check."""
    url, schema = target
    with DecisionStore(url, schema=schema) as store:
        engine = store.engine
        downgrade(engine, "0003", schema)
        assert "pack_activations" not in _tables(engine, schema)
        audited = [
            ("system", "upload", None, "1.0.0", datetime(2026, 9, 1, 8)),
            ("system", "activate", None, "1.0.0", datetime(2026, 9, 1, 8)),
            ("key:aaaa0000", "upload", None, "1.1.0", datetime(2026, 10, 1, 9)),
            ("key:bbbb1111", "activate", "1.0.0", "1.1.0", datetime(2026, 10, 2, 9, 30)),
        ]
        with engine.begin() as connection:
            for version, state in (("1.0.0", "retired"), ("1.1.0", "active")):
                connection.execute(
                    insert(_versions_0003),
                    {
                        "pack_id": "p",
                        "version": version,
                        "digest": "sha256:0",
                        "content": "x",
                        "author": "system",
                        "created_at": datetime(2026, 9, 1),
                        "state": state,
                    },
                )
            for actor, action, old, new, at in audited:
                connection.execute(
                    insert(_audit_0003),
                    {
                        "at": at,
                        "actor": actor,
                        "action": action,
                        "subject": "p",
                        "from_version": old,
                        "to_version": new,
                    },
                )
        upgrade(engine, schema)
        history = ActivationHistory(engine, store.where)
        assert [(a.version, a.at, a.actor) for a in history.history("p")] == [
            ("1.0.0", datetime(2026, 9, 1, 8, tzinfo=UTC), "system"),
            ("1.1.0", datetime(2026, 10, 2, 9, 30, tzinfo=UTC), "key:bbbb1111"),
        ]
        in_force = history.in_force("p", datetime(2026, 10, 1, tzinfo=UTC))
        assert in_force is not None
        assert in_force.version == "1.0.0"
        assert [(v.version, v.activate_at) for v in PackStore(engine, store.where).versions()] == [
            ("1.0.0", None),
            ("1.1.0", None),
        ]
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(  # two pending schedules of one pack
                update(_schedule_0004)
                .where(_schedule_0004.c.pack_id == "p")
                .values(activate_at=datetime(2027, 1, 1))
            )
        downgrade(engine, "0003", schema)
        assert {"pack_activations", "pack_approvals"} & _tables(engine, schema) == set()
        indexes = {i["name"] for i in inspect(engine).get_indexes("pack_versions", schema=schema)}
        assert "ux_pack_versions_one_active" in indexes
        for state in ("active", "bogus"):  # a second active version; an unknown state
            with pytest.raises(IntegrityError), engine.begin() as connection:
                connection.execute(
                    update(_versions_0003)
                    .where(_versions_0003.c.version == "1.0.0")
                    .values(state=state)
                )
        upgrade(engine, schema)
