"""What the OpenAPI document says about answers is what decision.schema.json says, and
what the service sends: decisions typed (status and outcomes as enums, actions as objects),
the evaluation request's ``sellers`` xor ``events`` as ``oneOf``, ``/metrics`` as text,
and one ``as_of`` (the same string in a stored record and in the decision it holds)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from servicekit import Service, healthy_facts

from sellerpolicy.engine.store.keys import Role
from sellerpolicy.schemas import __file__ as schemas_init

PACK = "walmart-seller-performance"


@pytest.fixture(scope="module")
def decision_schema() -> dict[str, Any]:
    """schemas/decision.schema.json as shipped."""
    from pathlib import Path  # noqa: PLC0415

    path = Path(schemas_init).with_name("decision.schema.json")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _document(service: Service) -> dict[str, Any]:
    document: dict[str, Any] = service.client.get("/openapi.json").json()
    return document


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return found


def test_decisions_are_typed_as_the_decision_schema(
    service: Service, decision_schema: dict[str, Any]
) -> None:
    """One ``Decision`` component, with the enums and required fields of the JSON Schema,
    used by the evaluation answer and the stored record alike."""
    document = _document(service)
    schemas = document["components"]["schemas"]
    decision = schemas["Decision"]
    defs = decision_schema["$defs"]
    assert set(decision["required"]) == set(decision_schema["required"])
    assert decision["properties"]["status"]["enum"] == defs["status"]["enum"]
    action = _resolve(document, decision["properties"]["actions"]["items"])
    assert set(action["required"]) == set(defs["action"]["required"])
    assert action["properties"]["enforced"]["type"] == "boolean"
    assert action["properties"]["severity"]["enum"] == defs["severity"]["enum"]
    rule = _resolve(document, decision["properties"]["rules"]["items"])
    assert rule["properties"]["outcome"]["enum"] == defs["rule"]["properties"]["outcome"]["enum"]
    assert rule["properties"]["mode"]["enum"] == defs["rule"]["properties"]["mode"]["enum"]
    answer = schemas["EvaluationResponse"]["properties"]["decisions"]["items"]
    assert answer == {"$ref": "#/components/schemas/Decision"}
    stored = schemas["StoredDecisionOut"]["properties"]
    assert stored["decision"] == {"$ref": "#/components/schemas/Decision"}
    assert stored["status"]["enum"] == defs["status"]["enum"]


def test_the_evaluation_request_takes_sellers_xor_events(service: Service) -> None:
    """``oneOf`` requires exactly one of the two, and neither is documented as nullable."""
    request = _document(service)["components"]["schemas"]["EvaluationRequest"]
    assert request["oneOf"] == [{"required": ["sellers"]}, {"required": ["events"]}]
    validator = jsonschema.Draft202012Validator({"oneOf": request["oneOf"]})
    assert validator.is_valid({"pack": "p", "sellers": []})
    assert validator.is_valid({"pack": "p", "events": {}})
    assert not validator.is_valid({"pack": "p"})
    assert not validator.is_valid({"pack": "p", "sellers": [], "events": {}})
    for name in ("sellers", "events"):
        assert "anyOf" not in request["properties"][name], name


def test_metrics_are_documented_as_text(service: Service) -> None:
    """/metrics answers text/plain, and says so."""
    operation = _document(service)["paths"]["/metrics"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/plain"]
    answer = service.client.get("/metrics", headers=service.auth(Role.READER))
    assert answer.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("asked", "written"),
    [("2026-11-15", "2026-11-15"), ("2026-11-15T12:30:00Z", "2026-11-15T12:30:00Z")],
)
def test_as_of_is_one_string_everywhere(
    service: Service, seller: str, decision_schema: dict[str, Any], asked: str, written: str
) -> None:
    """The day evaluated (or the instant asked for) reads the same in the answer, in the
    stored record and in the decision that record holds, as decision.schema.json says."""
    body = {
        "pack": PACK,
        "as_of": asked,
        "sellers": [{"seller_id": seller, "facts": healthy_facts()}],
    }
    answer = service.client.post("/v1/evaluations", json=body, headers=service.auth(Role.ADMIN))
    assert answer.status_code == 200, answer.text
    decision = answer.json()["decisions"][0]
    jsonschema.validate(decision, decision_schema)
    stored = service.client.get(
        f"/v1/decisions/{decision['decision_id']}", headers=service.auth(Role.READER)
    ).json()
    listed = service.client.get(
        f"/v1/sellers/{seller}/decisions", headers=service.auth(Role.READER)
    ).json()["decisions"][0]
    assert decision["as_of"] == written
    assert stored["as_of"] == stored["decision"]["as_of"] == written
    assert listed["as_of"] == written
