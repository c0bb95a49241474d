"""Fixtures for the service tests: the HTTP app on SQLite and on the real PostgreSQL
server (one schema per test session, dropped after) with API keys of every role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from pgkit import POSTGRES_URL, postgres_schema
from servicekit import START, MovableClock, Service, start_service

from sellerpolicy.engine.service.app import Settings


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The service on a SQLite file or a PostgreSQL schema, shipped packs imported.

    Activation needs no approval here (``--no-require-approval``): the tests
    of approval (test_approval.py) run the service as it is by default.
    """
    if request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("service")
        settings = Settings(store_url=str(folder / "service.db"), require_approval=False)
        yield from start_service(settings, "sqlite")
        return
    for schema in postgres_schema():
        settings = Settings(store_url=POSTGRES_URL, schema=schema, require_approval=False)
        yield from start_service(settings, "postgresql")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def approving_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The service as it runs by default: activating a version needs an approval."""
    if request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("approving")
        yield from start_service(Settings(store_url=str(folder / "approving.db")), "sqlite")
        return
    for schema in postgres_schema():
        yield from start_service(Settings(store_url=POSTGRES_URL, schema=schema), "postgresql")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def clocked(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Service, MovableClock]]:
    """The service as by default (approval required) on a clock standing at START,
    checking for due schedules every 50 ms."""
    clock = MovableClock(START)
    if request.param == "sqlite":
        settings = Settings(store_url=str(tmp_path / "clocked.db"), schedule_check_seconds=0.05)
        for service in start_service(settings, "sqlite", clock):
            yield service, clock
        return
    for schema in postgres_schema():
        settings = Settings(store_url=POSTGRES_URL, schema=schema, schedule_check_seconds=0.05)
        for service in start_service(settings, "postgresql", clock):
            yield service, clock


@pytest.fixture
def seller() -> str:
    """A seller id no other test uses."""
    return f"S-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Leave structlog as each test found it (configuration is process-wide)."""
    yield
    structlog.reset_defaults()
