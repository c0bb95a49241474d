"""Fixtures for the run tests: a small laddered pack and decision stores on
SQLite and on the real PostgreSQL server (a fresh schema per test)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import pytest
import structlog
from pgkit import POSTGRES_URL, postgres_schema
from runkit import AS_OF

from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import (
    Compare,
    CompiledPack,
    Ladder,
    LadderStep,
    MetricUse,
    Mode,
    Op,
    Rule,
    Severity,
    Status,
)


@pytest.fixture
def ladder_pack() -> CompiledPack:
    """A one-rule pack: ODR >= 1% warns, then restricts, lapsing after 30 days."""
    rule = Rule(
        id="odr-over-target",
        title="ODR at or above 1%",
        when=Compare("order_defect_rate", Op.GTE, 0.01),
        actions=("warn",),
        severity=Severity.HIGH,
        explanation="ODR {value:.2%}",
        escalation=Ladder(
            steps=(LadderStep(1, ("warn",)), LadderStep(2, ("restrict_listings",))),
            lapse=timedelta(days=30),
        ),
    )
    return CompiledPack(
        id="ladder-test",
        title="Ladder test",
        marketplace="test",
        version="1",
        digest="sha256:" + "0" * 64,
        mode=Mode.ENFORCE,
        metrics=(
            MetricUse(
                "order_defect_rate",
                "order_defect_rate",
                MetricKind.RATE,
                timedelta(days=60),
                timedelta(0),
            ),
        ),
        rules=(rule,),
        status_map=MappingProxyType({"warn": Status.HEALTHY, "restrict_listings": Status.AT_RISK}),
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DecisionStore]:
    """A fresh decision store on SQLite (a file) or PostgreSQL (its own schema)."""
    if request.param == "sqlite":
        with DecisionStore(tmp_path / "decisions.db") as sqlite_store:
            yield sqlite_store
        return
    for schema in postgres_schema():
        with DecisionStore(POSTGRES_URL, schema=schema) as pg_store:
            yield pg_store


@pytest.fixture(scope="session")
def small_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated marketplace (fixed seed) with a few broken rows."""
    folder = tmp_path_factory.mktemp("source")
    generate(sellers=120, days=90, seed=11, as_of=AS_OF, out=folder, broken_share=0.002)
    return folder


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Leave structlog as each test found it (configuration is process-wide)."""
    yield
    structlog.reset_defaults()
