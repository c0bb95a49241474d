"""Bodies in the wrong media type are 415, bodies that are not JSON are 400: on the fast
path of POST /v1/evaluations and on the regular routes alike, and for requests large
enough to be handled off the event loop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servicekit import Service, healthy_facts, pack_text, start_service

from sellerpolicy.engine.service.app import Settings
from sellerpolicy.engine.store.keys import Role

PACK = "walmart-seller-performance"
#: The media type the fast path takes, and one only the regular route takes.
FAST = {"Content-Type": "application/json"}
REGULAR = {"Content-Type": "application/json; charset=utf-8"}
NOT_JSON_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",  # curl -d without -H
    "application/yaml",
    "multipart/form-data; boundary=x",
    "application/jsonx",
]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service on its own SQLite store, handing bodies over 1 kB to a worker thread."""
    folder: Path = tmp_path_factory.mktemp("content-types")
    settings = Settings(store_url=str(folder / "types.db"), offload_body_bytes=1024)
    yield from start_service(settings, "sqlite")


def _body(seller: str, sellers: int = 1) -> str:
    people = [{"seller_id": f"{seller}-{i}", "facts": healthy_facts()} for i in range(sellers)]
    return json.dumps({"pack": PACK, "as_of": "2026-11-01", "sellers": people})


def _problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize("media_type", NOT_JSON_TYPES)
def test_evaluations_in_another_media_type_are_415(
    small: Service, seller: str, media_type: str
) -> None:
    """A JSON body labelled as something else is refused whoever sends it, naming the type
    it must be (in the detail and in Accept-Post), and nothing is stored."""
    key = small.auth(Role.EVALUATOR)
    for sellers in (1, 40):  # on the event loop; off it (over offload_body_bytes)
        text = _body(f"{seller}-{sellers}", sellers)
        answer = small.client.post(
            "/v1/evaluations", content=text, headers=key | {"Content-Type": media_type}
        )
        body = _problem(answer, 415)
        assert body["type"] == "urn:sellerpolicy:problem:unsupported_media_type"
        assert "application/json" in body["detail"]
        assert answer.headers["accept-post"] == "application/json"
        stored = small.client.get(
            f"/v1/sellers/{seller}-{sellers}-0/decisions", headers=small.auth(Role.READER)
        )
        assert stored.json()["decisions"] == []


def test_a_body_without_a_content_type_is_415(small: Service, seller: str) -> None:
    """No Content-Type is not taken for JSON; chunked bodies (size unknown) are checked too."""
    key = small.auth(Role.EVALUATOR)
    _problem(small.client.post("/v1/evaluations", content=_body(seller), headers=key), 415)

    def chunks() -> Iterator[bytes]:
        yield _body(seller).encode()

    chunked = small.client.post(
        "/v1/evaluations", content=chunks(), headers=key | {"Content-Type": "text/plain"}
    )
    _problem(chunked, 415)


def test_json_media_types_are_taken(small: Service, seller: str) -> None:
    """application/json with parameters and the +json types are JSON."""
    key = small.auth(Role.EVALUATOR)
    for index, media in enumerate(["application/json; charset=utf-8", "application/vnd.x+json"]):
        text = _body(f"{seller}-{index}")
        answer = small.client.post(
            "/v1/evaluations", content=text, headers=key | {"Content-Type": media}
        )
        assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("sellers", [1, 40])
def test_bodies_that_are_not_json_are_400_on_either_path(
    small: Service, seller: str, sellers: int
) -> None:
    """Broken JSON is a 400 naming where parsing stopped, the same document whether the
    fast path (application/json) or the route (with a charset) reads it, small or large."""
    key = small.auth(Role.EVALUATOR)
    broken = [
        _body(seller, sellers)[:-2],  # cut short
        "{not json",
        "{'pack': 'x'}",
        "[1, 2,]",
    ]
    for text in broken:
        fast = small.client.post("/v1/evaluations", content=text, headers=key | FAST)
        regular = small.client.post("/v1/evaluations", content=text, headers=key | REGULAR)
        body = _problem(fast, 400)
        assert body == _problem(regular, 400), text
        assert body["type"] == "urn:sellerpolicy:problem:malformed_json"
        assert body["errors"]
        assert all(e["code"] == "json_invalid" for e in body["errors"])
        assert "at character" in body["errors"][0]["message"]
        assert text[:8] not in json.dumps(body)  # the body itself is never quoted back


def test_json_that_is_invalid_stays_422(small: Service) -> None:
    """Well-formed JSON of the wrong shape is still a 422 naming the field."""
    key = small.auth(Role.EVALUATOR)
    for media in (FAST, REGULAR):
        answer = small.client.post("/v1/evaluations", content='{"pack": 3}', headers=key | media)
        assert _problem(answer, 422)["type"] == "urn:sellerpolicy:problem:invalid_request"


def test_every_route_with_a_body_checks_its_media_type(small: Service) -> None:
    """Pack validation, upload, approval, activation and impact: 415 for YAML sent as
    YAML, 400 for broken JSON; activating without a body still needs no Content-Type."""
    admin = small.auth(Role.ADMIN)
    version = f"/v1/packs/{PACK}/versions/2026.11.0"
    for path in (
        "/v1/packs:validate",
        "/v1/packs",
        f"{version}/approve",
        f"{version}/activate",
        f"{version}/impact",
    ):
        yaml = small.client.post(
            path, content=pack_text("x", "1"), headers=admin | {"Content-Type": "application/yaml"}
        )
        _problem(yaml, 415)
        broken = small.client.post(path, content="{", headers=admin | FAST)
        assert _problem(broken, 400)["type"] == "urn:sellerpolicy:problem:malformed_json", path
    activated = small.client.post(f"{version}/activate", headers=admin)
    assert activated.status_code != 415, activated.text


def test_the_openapi_document_lists_415(small: Service) -> None:
    """Every operation with a request body documents 415 (as a problem) and 400."""
    document = small.client.get("/openapi.json").json()
    with_body = [
        operation
        for item in document["paths"].values()
        for operation in item.values()
        if "requestBody" in operation
    ]
    assert len(with_body) >= 6
    for operation in with_body:
        assert "415" in operation["responses"], operation["operationId"]
        assert "400" in operation["responses"], operation["operationId"]
