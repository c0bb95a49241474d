"""Every error is application/problem+json (RFC 9457) naming the field; request
limits; unexpected exceptions become a 500 with a correlation id and leak nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from servicekit import Service, healthy_facts

from sellerpolicy.engine.service.app import Settings, create_app
from sellerpolicy.engine.service.models import MAX_SELLERS
from sellerpolicy.engine.store.keys import Role

PROBLEM = "application/problem+json"


def _assert_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) >= {"type", "title", "status", "detail", "errors"}
    assert body["status"] == status
    assert isinstance(body["errors"], list)
    return body  # type: ignore[no-any-return]


def test_routing_and_validation_errors_are_problems(service: Service) -> None:
    """404, 405 and FastAPI's validation errors are problem documents naming the field."""
    client = service.client
    _assert_problem(client.get("/no/such/path"), 404)
    _assert_problem(client.put("/v1/packs", headers=service.auth(Role.ADMIN)), 405)
    invalid = client.post(
        "/v1/evaluations",
        json={"pack": "x", "sellers": [{"seller_id": "", "facts": {"orders": "many"}}], "extra": 1},
        headers=service.auth(Role.EVALUATOR),
    )
    body = _assert_problem(invalid, 422)
    fields = {e["field"] for e in body["errors"]}  # type: ignore[union-attr]
    assert {"sellers[0].seller_id", "sellers[0].facts", "extra"} <= fields
    paths = {e["json_path"] for e in body["errors"]}  # type: ignore[union-attr]
    assert "$.sellers[0].seller_id" in paths
    not_json = client.post(
        "/v1/evaluations",
        content=b"{not json",
        headers={**service.auth(Role.EVALUATOR), "content-type": "application/json"},
    )
    _assert_problem(not_json, 400)  # not JSON at all: 400 (test_content_types.py)
    both = client.post(
        "/v1/evaluations",
        json={"pack": "x", "sellers": [], "events": {"seller_id": "s", "tables": {}}},
        headers=service.auth(Role.EVALUATOR),
    )
    _assert_problem(both, 422)


def test_batch_limit_is_a_clear_error(service: Service) -> None:
    """More than MAX_SELLERS sellers in one request is a 422 naming 'sellers' and the limit."""
    sellers = [{"seller_id": f"s{i}", "facts": {}} for i in range(MAX_SELLERS + 1)]
    response = service.client.post(
        "/v1/evaluations",
        json={"pack": "walmart-seller-performance", "as_of": "2026-11-01", "sellers": sellers},
        headers=service.auth(Role.EVALUATOR),
    )
    body = _assert_problem(response, 422)
    (error,) = body["errors"]  # type: ignore[misc]
    assert error["field"] == "sellers"
    assert str(MAX_SELLERS) in error["message"]


@pytest.fixture
def small_app(tmp_path: Path) -> Iterator[TestClient]:
    """An app on its own SQLite file with a 4 KiB body limit and a route that fails."""
    app = create_app(Settings(store_url=str(tmp_path / "s.db"), max_body_bytes=4096))

    def boom() -> None:
        raise RuntimeError("database password is hunter2")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_body_limit_is_413_declared_or_streamed(small_app: TestClient) -> None:
    """A body over the limit is refused with 413, whether Content-Length says so or not."""
    big = b'{"pack": "' + b"x" * 5000 + b'"}'
    _assert_problem(small_app.post("/v1/evaluations", content=big), 413)

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    streamed = small_app.post(
        "/v1/evaluations", content=chunks(), headers={"content-type": "application/json"}
    )
    _assert_problem(streamed, 413)


def test_unexpected_errors_are_500_problems_without_secrets(
    small_app: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unhandled exception answers a 500 problem with a correlation id; neither the
    response nor the log line carries the exception message or a stack trace."""
    response = small_app.get("/boom")
    body = _assert_problem(response, 500)
    correlation_id = body["correlation_id"]
    assert response.headers["x-correlation-id"] == correlation_id
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    logged = capsys.readouterr()
    output = logged.out + logged.err
    assert str(correlation_id) in output
    assert "RuntimeError" in output
    assert "hunter2" not in output
    assert "Traceback" not in output


def test_facts_must_be_finite_numbers(service: Service, seller: str) -> None:
    """A fact given as a string, a boolean or NaN is refused, naming the fact."""
    for value in ("12", True, float("nan")):
        facts = {**healthy_facts(), "orders": value}
        response = service.client.post(
            "/v1/evaluations",
            content=(
                '{"pack": "walmart-seller-performance", "as_of": "2026-11-01", "sellers": '
                f'[{{"seller_id": "{seller}", "facts": {_json(facts)}}}]}}'
            ).encode(),
            headers={**service.auth(Role.EVALUATOR), "content-type": "application/json"},
        )
        body = _assert_problem(response, 422)
        assert "'orders'" in body["errors"][0]["message"]  # type: ignore[index]


def _json(value: object) -> str:
    import json  # noqa: PLC0415

    return json.dumps(value)


def test_readyz_is_503_without_an_active_pack(tmp_path: Path) -> None:
    """/readyz answers 503 (a problem) on a store with no active pack; /healthz still 200."""
    app = create_app(Settings(store_url=str(tmp_path / "empty.db"), import_shipped=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        body = _assert_problem(client.get("/readyz"), 503)
        assert "no pack version is active" in str(body["detail"])
        assert client.get("/healthz").status_code == 200
