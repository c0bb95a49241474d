"""``POST /v1/evaluations`` with ``Accept: application/x-ndjson``: one decision per line,
the bytes ``sellerpolicy evaluate --out x.jsonl`` writes; an ``Accept`` it cannot serve is
a 406 problem."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bulkfacts import PACKS, sellers
from servicekit import Service, healthy_facts

from sellerpolicy.engine.service.lines import JSON, NDJSON, negotiate
from sellerpolicy.engine.service.problems import ProblemError
from sellerpolicy.engine.store.keys import Role

AMAZON = next(p for p in PACKS if p.id == "amazon-seller-performance")
WALMART = "walmart-seller-performance"
_ID = re.compile(rb'^\{"decision_id":"[0-9a-f-]{36}"')


def _post(service: Service, body: dict[str, Any], accept: str | None, **headers: str) -> Any:
    sent = {**service.auth(Role.EVALUATOR), **headers}
    if accept is not None:
        sent["Accept"] = accept
    return service.client.post("/v1/evaluations", json=body, headers=sent)


def _without_id(line: bytes) -> bytes:
    found = _ID.match(line)
    assert found is not None, line[:80]
    return b'{"decision_id":"-"' + line[found.end() :]


def test_ndjson_streams_the_cli_jsonl_bytes(service: Service, seller: str, tmp_path: Path) -> None:
    """120 sellers (decided in bulk), one with a non-ASCII id: read line by line, each line
    is the line ``sellerpolicy evaluate --facts ... --out x.jsonl`` writes for that seller
    (but for the decision id), in request order; the run id is in a header and the
    decisions are stored under it."""
    request = sellers(AMAZON, 120, seed=11, prefix=seller)
    request[5]["seller_id"] = f"{seller}-Zoë 😀"
    body = {"pack": AMAZON.id, "as_of": "2026-11-01", "sellers": request}
    lines: list[bytes] = []
    with service.client.stream(
        "POST",
        "/v1/evaluations",
        json=body,
        headers={**service.auth(Role.EVALUATOR), "Accept": NDJSON},
    ) as response:
        # read it all before asserting: a test client closed early on an answer sent from
        # a worker thread (a large body) waits for that answer forever
        lines.extend(text.encode() for text in response.iter_lines())
    assert response.status_code == 200
    assert response.headers["content-type"] == NDJSON
    run_id = response.headers["x-run-id"]
    assert response.headers["x-pack-selection"]
    assert "content-length" not in response.headers  # streamed
    assert len(lines) == len(request)
    facts = tmp_path / "facts.jsonl"
    facts.write_text(
        "".join(
            json.dumps({"seller_id": s["seller_id"], "as_of": "2026-11-01", **s["facts"]}) + "\n"
            for s in request
        ),  # type: ignore[dict-item]
        encoding="utf-8",
    )
    out = tmp_path / "x.jsonl"
    exe = Path(sys.executable).with_name("sellerpolicy")
    command = [str(exe), "evaluate", "--pack", "amazon", "--as-of", "2026-11-01"]
    run = subprocess.run(
        [*command, "--facts", str(facts), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    written = out.read_bytes().splitlines()
    assert [_without_id(x) for x in lines] == [_without_id(x) for x in written]
    assert b"\\u00eb" in lines[5]  # ASCII JSON, as the file has it
    decisions = [json.loads(x) for x in lines]
    assert [d["seller_id"] for d in decisions] == [s["seller_id"] for s in request]
    stored = service.client.get(
        f"/v1/decisions/{decisions[5]['decision_id']}", headers=service.auth(Role.READER)
    ).json()
    assert stored["run_id"] == run_id
    assert stored["decision"] == decisions[5]


def test_ndjson_and_json_answers_hold_the_same_decisions(service: Service, seller: str) -> None:
    """One seller (the fast path's kind of request) and a batch: the lines parse to the
    decisions of the JSON answer to the same request."""
    for count in (1, 60):
        body = {
            "pack": WALMART,
            "as_of": "2026-11-01",
            "sellers": [
                {"seller_id": f"{seller}-{count}-{i}", "facts": healthy_facts()}
                for i in range(count)
            ],
        }
        answer = _post(service, body, JSON)
        lines = _post(service, body, NDJSON)
        assert answer.headers["content-type"] == JSON
        assert lines.headers["content-type"] == NDJSON
        assert lines.text.endswith("\n")
        decisions = [json.loads(x) for x in lines.text.splitlines()]
        expected = answer.json()["decisions"]
        assert len(decisions) == count
        for got, want in zip(decisions, expected, strict=True):
            assert {**got, "decision_id": ""} == {**want, "decision_id": ""}


@pytest.mark.parametrize(
    "accept",
    ["text/html", "application/xml, text/*", f"{JSON};q=0, {NDJSON};q=0", "*/*;q=0"],
)
def test_an_accept_that_cannot_be_served_is_406(service: Service, seller: str, accept: str) -> None:
    """Neither JSON nor NDJSON allowed: a 406 problem, nothing evaluated or stored."""
    body = {
        "pack": WALMART,
        "as_of": "2026-11-01",
        "sellers": [{"seller_id": seller, "facts": healthy_facts()}],
    }
    response = _post(service, body, accept)
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(":not_acceptable")
    history = service.client.get(
        f"/v1/sellers/{seller}/decisions", headers=service.auth(Role.READER)
    )
    assert history.json()["decisions"] == []


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        (JSON, JSON),
        ("application/*", JSON),
        (NDJSON, NDJSON),
        (f"{NDJSON}, {JSON};q=0.9", NDJSON),
        (f"{NDJSON};q=0.5, {JSON}", JSON),
        (f"{JSON};q=0.2, application/*;q=0.8, */*", NDJSON),  # the exact range sets JSON
        (f"{JSON};q=0, */*", NDJSON),
        (f"text/html, {NDJSON};charset=utf-8", NDJSON),
        (f"{NDJSON}, {JSON}", JSON),  # a tie: JSON
        (f"{NDJSON};q=oops", NDJSON),
    ],
)
def test_negotiation(accept: str | None, chosen: str) -> None:
    """The most specific range sets each type's weight; the heavier wins, JSON on a tie."""
    assert negotiate(accept) == chosen


def test_negotiation_refuses_what_allows_neither() -> None:
    with pytest.raises(ProblemError) as caught:
        negotiate("image/png, application/*;q=0")
    assert caught.value.status == 406


def test_a_retry_gets_the_kept_answer_in_either_type(service: Service, seller: str) -> None:
    """With an Idempotency-Key, a retry asking for the other media type gets the first
    answer's decisions (same ids, same run), stored once."""
    body = {
        "pack": WALMART,
        "as_of": "2026-11-01",
        "sellers": [{"seller_id": f"{seller}-{i}", "facts": healthy_facts()} for i in range(3)],
    }
    first = _post(service, body, NDJSON, **{"Idempotency-Key": f"{seller}-lines"})
    again = _post(service, body, JSON, **{"Idempotency-Key": f"{seller}-lines"})
    lines = [json.loads(x) for x in first.text.splitlines()]
    assert again.json()["decisions"] == lines
    assert again.json()["run_id"] == first.headers["x-run-id"]
    json_first = _post(service, body, JSON, **{"Idempotency-Key": f"{seller}-json"})
    lines_again = _post(service, body, NDJSON, **{"Idempotency-Key": f"{seller}-json"})
    assert lines_again.headers["x-run-id"] == json_first.json()["run_id"]
    assert [json.loads(x) for x in lines_again.text.splitlines()] == json_first.json()["decisions"]
    history = service.client.get(
        f"/v1/sellers/{seller}-0/decisions", headers=service.auth(Role.READER)
    ).json()["decisions"]
    assert len(history) == 1  # the second key's run replaced the first (same as_of)


def test_openapi_documents_both_media_types_and_406(service: Service) -> None:
    """The evaluate operation's 200 answer is JSON (first) or NDJSON lines of Decision."""
    operation = service.client.get("/openapi.json").json()["paths"]["/v1/evaluations"]["post"]
    content = operation["responses"]["200"]["content"]
    assert list(content) == [JSON, NDJSON]
    assert content[JSON]["schema"] == {"$ref": "#/components/schemas/EvaluationResponse"}
    assert content[NDJSON]["schema"] == {"$ref": "#/components/schemas/Decision"}
    assert "X-Run-Id" in operation["responses"]["200"]["headers"]
    assert "406" in operation["responses"]
