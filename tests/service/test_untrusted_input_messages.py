"""What a client is told about its bad input names its table, row and field: never the
temporary folder its rows were written to, nor the store's URL and password."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pgkit import POSTGRES_URL, postgres_schema
from servicekit import Service, healthy_facts, start_service
from sqlalchemy import create_engine, text

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.service.app import Settings
from sellerpolicy.engine.service.events import facts_from_events
from sellerpolicy.engine.service.problems import ProblemError
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.rules import load_pack

PACK = "walmart-seller-performance"
TEMPORARY = ("/tmp", "sellerpolicy-events-", "sellerpolicy-mended-", ".jsonl")


def _orders(seller: str, count: int, **extra: object) -> list[dict[str, object]]:
    return [
        {
            "order_id": f"{seller}-o{i}",
            "seller_id": seller,
            "ordered_at": "2026-10-20T10:00:00Z",
            **extra,
        }
        for i in range(count)
    ]


def _events(service: Service, seller: str, tables: dict[str, Any]) -> Any:
    body = {
        "pack": PACK,
        "as_of": "2026-11-01",
        "events": {"seller_id": seller, "tables": tables},
    }
    return service.client.post("/v1/evaluations", json=body, headers=service.auth(Role.EVALUATOR))


def test_events_with_an_unknown_column_name_the_table_not_a_temporary_file(
    service: Service, seller: str
) -> None:
    """A row with a field no table has is a 422 naming the table and the field; the
    JSON Lines file the rows went through is never mentioned."""
    rows = _orders(seller, 3)
    rows[1]["colour"] = "red"
    response = _events(service, seller, {"orders": rows})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("invalid_events")
    error = problem["errors"][0]
    assert error["field"] == "events.tables.orders"
    assert error["message"].startswith("unknown columns colour (expected order_id,")
    for leak in TEMPORARY:
        assert leak not in response.text


def test_events_missing_a_required_column_name_the_table(service: Service, seller: str) -> None:
    """A table whose rows all lack a required field: a 422 naming table and field."""
    rows = [{k: v for k, v in row.items() if k != "ordered_at"} for row in _orders(seller, 2)]
    response = _events(service, seller, {"orders": rows})
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error == {
        "field": "events.tables.orders",
        "message": "missing required columns ordered_at",
        "json_path": "$.events.tables.orders",
    }
    for leak in TEMPORARY:
        assert leak not in response.text


def test_events_row_that_is_no_json_row_names_the_row() -> None:
    """A row DuckDB cannot read as JSON (a lone surrogate, which the HTTP parser already
    refuses but a Python caller can pass) is a reject naming table and row, no path."""
    rows: list[dict[str, Any]] = _orders("S1", 3)
    rows[1]["seller_id"] = "S1"
    rows[1]["order_id"] = "bad\ud800"
    with pytest.raises(ProblemError) as caught:
        facts_from_events(
            load_pack("walmart"), "S1", {"orders": rows}, datetime(2026, 11, 1, tzinfo=UTC)
        )
    problem = caught.value
    assert problem.status == 422
    assert [e.field for e in problem.errors] == ["events.tables.orders[1]"]
    assert problem.errors[0].code == "bad_json"
    for leak in TEMPORARY:
        assert leak not in str(problem.detail)
        assert leak not in problem.errors[0].message


def test_store_password_in_the_url_query_is_never_shown() -> None:
    """A password given as a query parameter of the store URL is hidden like one in the
    user part; an unparsable URL is not repeated at all."""
    with pytest.raises(StoreError) as unreachable:
        DecisionStore("postgresql://someone@127.0.0.1:1/nowhere?password=s3cret&sslmode=disable")
    assert "s3cret" not in str(unreachable.value)
    assert "127.0.0.1:1/nowhere?sslmode=disable" in str(unreachable.value)
    with pytest.raises(StoreError) as unparsable:
        DecisionStore("post gres://someone:s3cret@127.0.0.1/db")
    assert "s3cret" not in str(unparsable.value)


@pytest.fixture
def password_service() -> Iterator[tuple[Service, str]]:
    """The service on a PostgreSQL schema, its URL carrying a password in its query
    (the test server trusts every connection, whatever the password)."""
    for schema in postgres_schema("sp_secret"):
        url = f"{POSTGRES_URL}?password=hunter2-secret"
        for service in start_service(Settings(store_url=url, schema=schema), "postgresql"):
            yield service, schema


@pytest.mark.postgres
def test_postgresql_failure_never_shows_the_store_password(
    password_service: tuple[Service, str], seller: str
) -> None:
    """When the history cannot be read, the answer names no password."""
    service, schema = password_service
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as con:
        con.execute(text(f'ALTER TABLE "{schema}".decisions RENAME TO decisions_away'))
    try:
        body = {
            "pack": PACK,
            "as_of": "2026-11-01",
            "sellers": [{"seller_id": seller, "facts": healthy_facts()}],
        }
        response = service.client.post(
            "/v1/evaluations", json=body, headers=service.auth(Role.EVALUATOR)
        )
    finally:
        with engine.begin() as con:
            con.execute(text(f'ALTER TABLE "{schema}".decisions_away RENAME TO decisions'))
        engine.dispose()
    assert response.status_code == 503  # the server's store failed, not the request
    assert response.json()["type"].endswith("store_unavailable")
    assert "hunter2" not in response.text
    assert "127.0.0.1" not in response.text  # nor where the store is


def test_a_store_url_with_a_bad_port_is_a_store_error() -> None:
    """Unusable input (exit 2 in the CLI), not an internal error."""
    from sellerpolicy.engine.errors import StoreError  # noqa: PLC0415

    with pytest.raises(StoreError, match="not a database URL") as raised:
        DecisionStore("postgresql://someone:s3cret@db:notaport/x")
    assert "s3cret" not in str(raised.value)
