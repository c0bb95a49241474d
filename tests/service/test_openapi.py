"""The published OpenAPI document, fuzzed with schemathesis: no generated request,
valid or invalid, makes the service answer 5xx, and every answer's status, media
type and body are documented in the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sellerpolicy.engine.service.app import Settings, create_app
from sellerpolicy.engine.service.state import ServiceState
from sellerpolicy.engine.store.keys import Role

#: No 5xx; every answer's status, media type and body are the ones the schema documents.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str]]:
    """The app on a fresh SQLite store and an admin key."""
    folder: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(store_url=str(folder / "fuzz.db")))
    state: ServiceState = app.state.service
    _, key = state.keys.create(Role.ADMIN, actor="test")
    yield app, key
    state.close()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzed_requests_get_documented_answers(
    fuzzed: tuple[object, str], mode: GenerationMode
) -> None:
    """Every operation, with generated valid (positive) and invalid (negative) inputs and
    an admin key: never a 5xx, and status, media type and body match the schema."""
    app, key = fuzzed
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 10
    headers = {"Authorization": f"Bearer {key}"}
    unsatisfiable: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            call()
        except Unsatisfiable:
            # Only an operation without any input cannot be made invalid.
            assert mode is GenerationMode.NEGATIVE
            unsatisfiable.append(operation.label)
    assert len(unsatisfiable) <= 3, unsatisfiable  # /healthz, /readyz, /metrics


def test_openapi_document_names_every_route(fuzzed: tuple[object, str]) -> None:
    """/openapi.json lists the API's paths and the bearer security scheme."""
    from fastapi.testclient import TestClient  # noqa: PLC0415

    app, _ = fuzzed
    document = TestClient(app).get("/openapi.json").json()  # type: ignore[arg-type]
    assert set(document["paths"]) >= {
        "/v1/evaluations",
        "/v1/sellers/{seller_id}/decisions",
        "/v1/decisions/{decision_id}",
        "/v1/packs",
        "/v1/packs/{pack_id}/versions/{version}",
        "/v1/packs/{pack_id}/versions/{version}/activate",
        "/v1/packs/{pack_id}/versions/{version}/approve",
        "/v1/packs/{pack_id}/versions/{version}/schedule",
        "/v1/packs/{pack_id}/diff",
        "/v1/packs:validate",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
