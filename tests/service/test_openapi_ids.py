"""The published OpenAPI document reads well to client generators: every operation has an
explicit camelCase ``operationId`` (a method name in a generated client), each one unique."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sellerpolicy.engine.service.app import Settings, create_app
from sellerpolicy.engine.service.state import ServiceState

#: The operation ids clients are generated with (renaming one breaks their code).
OPERATION_IDS = {
    ("post", "/v1/evaluations"): "evaluate",
    ("get", "/v1/sellers/{seller_id}/decisions"): "listSellerDecisions",
    ("get", "/v1/decisions/{decision_id}"): "getDecision",
    ("get", "/v1/packs"): "listPacks",
    ("post", "/v1/packs"): "uploadPack",
    ("get", "/v1/packs/{pack_id}/versions/{version}"): "getPackVersion",
    ("post", "/v1/packs:validate"): "validatePack",
    ("post", "/v1/packs/{pack_id}/versions/{version}/approve"): "approvePackVersion",
    ("post", "/v1/packs/{pack_id}/versions/{version}/activate"): "activatePackVersion",
    ("delete", "/v1/packs/{pack_id}/versions/{version}/schedule"): "cancelScheduledActivation",
    ("get", "/v1/packs/{pack_id}/diff"): "diffPackVersions",
    ("post", "/v1/packs/{pack_id}/versions/{version}/impact"): "packVersionImpact",
    ("get", "/healthz"): "healthz",
    ("get", "/readyz"): "readyz",
    ("get", "/metrics"): "metrics",
}
_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """/openapi.json of the app on a fresh SQLite store."""
    folder: Path = tmp_path_factory.mktemp("openapi-ids")
    app = create_app(Settings(store_url=str(folder / "ids.db")))
    state: ServiceState = app.state.service
    try:
        yield TestClient(app).get("/openapi.json").json()
    finally:
        state.close()


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_every_operation_has_a_camel_case_id(document: dict[str, Any]) -> None:
    """No operation keeps FastAPI's generated id (``create_evaluation_v1_evaluations_post``)."""
    operations = _operations(document)
    ids = {where: operation.get("operationId") for where, operation in operations.items()}
    assert ids == OPERATION_IDS
    for where, operation_id in ids.items():
        assert operation_id is not None, where
        assert _CAMEL.match(operation_id), where


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    """Two operations with one id would be one method in a generated client."""
    ids = [operation["operationId"] for operation in _operations(document).values()]
    assert len(ids) == len(set(ids))
