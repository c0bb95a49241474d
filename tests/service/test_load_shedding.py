"""Load shedding and rate limits in one worker: past ``max_in_flight`` requests the next get
503 with ``Retry-After`` at once (problem+json, counted in /metrics) while the probes are
always answered; a key past its rate limit gets 429 with ``Retry-After`` on both paths."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from servicekit import Service, healthy_facts, start_service

from sellerpolicy.engine.service.app import Settings, create_app
from sellerpolicy.engine.service.load import InFlight, RateLimit, RateLimits
from sellerpolicy.engine.store.keys import ApiKey, Role

PACK = "walmart-seller-performance"


class _Answer:
    """What the app sent for one request."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.body = b""
        self.seconds = 0.0


async def _call(app: Any, path: str, key: str) -> _Answer:
    """One GET through the ASGI app, as uvicorn would hand it over."""
    answer = _Answer()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"authorization", f"Bearer {key}".encode())],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = dict(message.get("headers", ()))
        else:
            answer.body += message.get("body", b"")

    began = time.perf_counter()
    await app(scope, receive, send)
    answer.seconds = time.perf_counter() - began
    return answer


async def _burst(tmp_path: Path) -> tuple[list[_Answer], list[_Answer], str]:
    """Ten reads and ten probes arriving together at a worker that takes two at a time."""
    app = create_app(Settings(store_url=str(tmp_path / "shed.db"), max_in_flight=2))
    key = app.state.service.keys.create(Role.READER, actor="test")[1]
    async with app.router.lifespan_context(app):
        reads = [_call(app, "/v1/packs", key) for _ in range(10)]
        probes = [_call(app, path, key) for path in ("/healthz", "/readyz") * 5]
        answers = await asyncio.gather(*reads, *probes)
        metrics = await _call(app, "/metrics", key)
    return answers[:10], answers[10:], metrics.body.decode()


def test_past_the_bound_requests_are_shed_at_once_and_probes_never(tmp_path: Path) -> None:
    """Two reads run, eight get an immediate 503 problem with Retry-After, counted in
    /metrics; every /healthz and /readyz among them is answered 200."""
    reads, probes, metrics = asyncio.run(_burst(tmp_path))
    assert sorted(a.status for a in reads) == [200] * 2 + [503] * 8
    for shed in (a for a in reads if a.status == 503):
        assert shed.headers[b"retry-after"] == b"1"
        assert shed.headers[b"content-type"] == b"application/problem+json"
        assert json.loads(shed.body)["type"].endswith(":overloaded")
        assert shed.seconds < 0.05
    assert [a.status for a in probes] == [200] * 10
    assert 'sellerpolicy_shed_total{reason="in_flight"} 8.0' in metrics
    assert "sellerpolicy_http_in_flight 0.0" in metrics


def test_the_in_flight_count_admits_again_once_requests_leave() -> None:
    """The bound counts what is in flight now, not what came before."""
    gate = InFlight(2)
    assert gate.enter()
    assert gate.enter()
    assert not gate.enter()
    gate.leave()
    assert gate.enter()


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Service]:
    """A service where each evaluator key may make 2 requests, then 1 per 10 s."""
    settings = Settings(
        store_url=str(tmp_path / "rate.db"),
        rate_limits=(RateLimit("evaluator", 0.1, 2),),
    )
    yield from start_service(settings, "sqlite")


def test_a_key_past_its_rate_gets_429_with_retry_after(limited: Service, seller: str) -> None:
    """The first two evaluations pass (the regular route, then the fast path), the third is
    a 429 problem with Retry-After; a reader key (no limit for its role) is not limited."""
    body = {"pack": PACK, "as_of": "2026-11-01", "sellers": [{"seller_id": seller}]}
    body["sellers"][0]["facts"] = healthy_facts()
    headers = limited.auth(Role.EVALUATOR)
    statuses = [limited.client.post("/v1/evaluations", json=body, headers=headers) for _ in "abc"]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    refused = statuses[2]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith(":rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    for _ in range(5):
        assert limited.client.get("/v1/packs", headers=limited.auth(Role.READER)).status_code == 200
    metrics = limited.client.get("/metrics", headers=limited.auth(Role.READER)).text
    assert 'sellerpolicy_shed_total{reason="rate"} 1.0' in metrics


def test_a_limit_by_key_id_wins_over_its_role() -> None:
    """A key named in the limits gets its own rate; other keys of its role the role's."""
    made = datetime(2026, 11, 1, tzinfo=UTC)
    named = ApiKey("k-named", "sp_named", Role.EVALUATOR, made)
    other = ApiKey("k-other", "sp_other", Role.EVALUATOR, made)
    limits = RateLimits([RateLimit("evaluator", 1000.0), RateLimit("k-named", 0.5, 1)])
    assert limits.retry_after(named) == 0
    assert 1.0 < limits.retry_after(named) <= 2.0
    assert all(limits.retry_after(other) == 0 for _ in range(100))


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("evaluator=200", RateLimit("evaluator", 200.0)),
        ("k-1=5:20", RateLimit("k-1", 5.0, 20.0)),
    ],
)
def test_rate_limits_parse_from_the_command_line(text: str, limit: RateLimit) -> None:
    assert RateLimit.parse(text) == limit


@pytest.mark.parametrize("text", ["evaluator", "=5", "evaluator=fast", "evaluator=0"])
def test_bad_rate_limits_are_refused_with_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="SUBJECT=RATE"):
        RateLimit.parse(text)
