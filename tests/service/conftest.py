"""Fixtures for the service tests: the HTTP app on SQLite and on the real PostgreSQL
server (one schema per test session, dropped after) with API keys of every role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from pgkit import POSTGRES_URL, postgres_schema
from servicekit import Service, start_service

from sellerpolicy.engine.service.app import Settings


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The service on a SQLite file or a PostgreSQL schema, shipped packs imported."""
    if request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("service")
        yield from start_service(Settings(store_url=str(folder / "service.db")), "sqlite")
        return
    for schema in postgres_schema():
        yield from start_service(Settings(store_url=POSTGRES_URL, schema=schema), "postgresql")


@pytest.fixture
def seller() -> str:
    """A seller id no other test uses."""
    return f"S-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Leave structlog as each test found it (configuration is process-wide)."""
    yield
    structlog.reset_defaults()
