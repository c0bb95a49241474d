"""A service with a small history for the workbench's seller and decision pages.

Three weekly evaluations with the Walmart pack through ``POST /v1/evaluations``
(so the stored documents, streaks and ladders are the service's own): a
seller breaching the cancellation standard every week (warn, then
restrict_listings, then suspend: its ladder climbs), a healthy one, one whose
id is markup and one whose id is a spreadsheet formula; on the last date the
breaching seller is also judged by the Amazon pack. Plus helpers to sign in
and to read the query plans of what a call runs (SQLite).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pgkit import POSTGRES_URL, postgres_schema
from servicekit import Service, healthy_facts, start_service
from sqlalchemy import Engine, event

from sellerpolicy.engine.service.app import Settings
from sellerpolicy.engine.store.keys import Role

PACK = "walmart-seller-performance"
AMAZON = "amazon-seller-performance"
WEEKS = ("2026-10-18", "2026-10-25", "2026-11-01")
BAD, OK = "W-bad", "W-ok"
HOSTILE = 'W-<img src=x onerror="alert(1)">'
FORMULA = '=HYPERLINK("http://evil.example","x")'
RULE = "cancellation-over-standard"
BREACH = {**healthy_facts(), "cancellation_rate": 0.05, "cancellation_rate__num": 60}


def _evaluate(service: Service, pack: str, day: str, sellers: list[dict[str, Any]]) -> None:
    done = service.client.post(
        "/v1/evaluations",
        json={"pack": pack, "as_of": day, "sellers": sellers},
        headers=service.auth(Role.EVALUATOR),
    )
    assert done.status_code == 200, done.text


def browse_service(backend: str, folder: Path) -> Iterator[Service]:
    """The service on a fresh store (SQLite file or PostgreSQL schema) holding the history."""
    if backend == "sqlite":
        settings = Settings(store_url=str(folder / "browse.db"), require_approval=False)
        yield from _filled(start_service(settings, "sqlite"))
        return
    for schema in postgres_schema():
        settings = Settings(store_url=POSTGRES_URL, schema=schema, require_approval=False)
        yield from _filled(start_service(settings, "postgresql"))


def _filled(services: Iterator[Service]) -> Iterator[Service]:
    for service in services:
        for day in WEEKS:
            sellers = [
                {"seller_id": BAD, "facts": BREACH},
                {"seller_id": OK, "facts": healthy_facts()},
                {"seller_id": HOSTILE, "facts": healthy_facts()},
                {"seller_id": FORMULA, "facts": BREACH},
            ]
            _evaluate(service, PACK, day, sellers)
        _evaluate(service, AMAZON, WEEKS[-1], [{"seller_id": BAD, "facts": {"orders": 10}}])
        yield service


def browse_fixture(request: pytest.FixtureRequest, folder: Path) -> Iterator[Service]:
    """The module fixture's body: the backend is the fixture's parameter."""
    yield from browse_service(request.param, folder)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def sign_in(service: Service, role: Role = Role.READER) -> None:
    """A session of ``role`` in the test client's cookies."""
    service.client.cookies.clear()
    done = service.client.post(
        "/signin", data={"key": service.keys[role], "next": "/sellers"}, follow_redirects=False
    )
    assert done.status_code == 303, done.text


def query_plans(engine: Engine, call: Callable[[], object]) -> list[str]:
    """The SQLite query plan of every statement ``call`` runs on ``engine``, one
    string each (its ``EXPLAIN QUERY PLAN`` details joined by `` | ``)."""
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    plans = []
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        for statement, parameters in statements:
            rows = raw.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            plans.append(" | ".join(str(row[-1]) for row in rows))
    return plans


def full_scans(plans: list[str]) -> list[str]:
    """The plans that read a decision or run table whole (``SCAN decisions``, no index)."""
    scan = re.compile(r"\bSCAN (decisions|decision_rules|runs)\b(?! USING)")
    return [plan for plan in plans if scan.search(plan)]
