"""Requests with a large body are handled in a worker thread, on an event loop of its own,
and answered exactly as on the server's loop; the work leaves that loop its turns, and the
garbage collector is paused (and resumed) around it."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from servicekit import Service, healthy_facts, start_service
from starlette.types import Message, Receive, Scope, Send

from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.engine.service import evaluate as service_evaluate
from sellerpolicy.engine.service import middleware as service_middleware
from sellerpolicy.engine.service.app import Settings
from sellerpolicy.engine.service.offload import (
    collector_paused,
    in_worker_thread,
    let_the_server_run,
)
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.records import DecisionRecord

PACK = "walmart-seller-performance"
FAST = {"Content-Type": "application/json"}
REGULAR = {"Content-Type": "application/json; charset=utf-8"}  # the route, not the fast path


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    """Two services on one SQLite store: the first hands every request with a body to a
    worker thread (``offload_body_bytes=0``), the second none."""
    path = str(tmp_path / "offload.db")
    run = contextmanager(start_service)
    with (
        run(Settings(store_url=path, offload_body_bytes=0), "sqlite") as offloaded,
        run(Settings(store_url=path, offload_body_bytes=1 << 40), "sqlite") as on_loop,
    ):
        yield offloaded, on_loop


@pytest.fixture
def handed_over(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests the middleware handed to a worker thread."""
    paths: list[str] = []

    async def counted(app: Any, scope: Scope, receive: Receive, send: Send) -> None:
        paths.append(scope["path"])
        await in_worker_thread(app, scope, receive, send)

    monkeypatch.setattr(service_middleware, "in_worker_thread", counted)
    return paths


def _breach() -> dict[str, float | int]:
    return {**healthy_facts(), "cancellation_rate": 0.05, "cancellation_rate__num": 60}


def _body(seller: str, as_of: str, sellers: int) -> dict[str, Any]:
    return {
        "pack": PACK,
        "as_of": as_of,
        "sellers": [
            {"seller_id": f"{seller}-{i}", "facts": _breach() if i % 3 else healthy_facts()}
            for i in range(sellers)
        ],
    }


def _without_ids(answer: Any) -> Any:
    if not isinstance(answer, dict) or "decisions" not in answer:
        return answer
    decisions = [{k: v for k, v in d.items() if k != "decision_id"} for d in answer["decisions"]]
    return {**answer, "run_id": None, "decisions": decisions}


def test_a_request_in_a_worker_thread_is_answered_as_on_the_loop(
    services: tuple[Service, Service], seller: str, handed_over: list[str]
) -> None:
    """Good and bad requests, through the fast path and the route, get the same status,
    media type, challenge and document from a service that handles them in a worker
    thread as from one that handles them on its loop; only the first handed them over."""
    offloaded, _ = services
    evaluator = offloaded.auth(Role.EVALUATOR)
    for month in ("2026-09-01", "2026-10-01"):  # earlier breaches: streaks
        body = json.dumps(_body(seller, month, 5))
        assert offloaded.client.post("/v1/evaluations", content=body, headers=evaluator | FAST)
    good = json.dumps(_body(seller, "2026-11-01", 5))
    requests = [
        ("fast path", good, FAST, "?explain=full", True),
        ("route", good, REGULAR, "?explain=none", True),
        ("invalid JSON", '{"pack": ', FAST, "", True),
        ("unknown pack", json.dumps({**json.loads(good), "pack": "nope"}), FAST, "", True),
        ("unknown field", json.dumps({**json.loads(good), "extra": 1}), REGULAR, "", True),
        ("no key", good, FAST, "", False),
    ]
    for what, text, media, query, with_key in requests:
        answers = []
        for service in services:
            headers = media | (service.auth(Role.EVALUATOR) if with_key else {})
            before = len(handed_over)
            answer = service.client.post(f"/v1/evaluations{query}", content=text, headers=headers)
            assert len(handed_over) == before + (service is offloaded), what
            answers.append(answer)
        first, second = answers
        assert first.status_code == second.status_code, (what, first.text)
        for header in ("content-type", "www-authenticate"):
            assert first.headers.get(header) == second.headers.get(header), (what, header)
        assert _without_ids(first.json()) == _without_ids(second.json()), what
    assert offloaded.client.get("/healthz").status_code == 200  # no body: stays on the loop
    assert "/healthz" not in handed_over


def test_decisions_made_in_steps_equal_one_batch(
    services: tuple[Service, Service], seller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request of 2 * DECIDE_STEP + 5 sellers with an escalation history is decided in
    three steps (the last small enough for the Python back end) and gets exactly the
    decisions one evaluate() call over all its sellers makes. Between steps its worker
    thread waits for the server's loop to have a turn, whether the middleware handed the
    request over (a large body) or the fast path sent only the evaluation to a thread."""
    waited: list[bool] = []
    original = service_evaluate.let_the_server_run

    def counted() -> bool:
        waited.append(original())
        return waited[-1]

    monkeypatch.setattr(service_evaluate, "let_the_server_run", counted)
    monkeypatch.setattr(service_evaluate, "BULK_SELLERS", 10**9)  # the per-decision steps
    size = 2 * service_evaluate.DECIDE_STEP + 5
    for index, service in enumerate(services):
        key = service.auth(Role.EVALUATOR) | FAST
        prefix = f"{seller}-{index}"
        earlier = json.dumps(_body(prefix, "2026-10-01", size))
        assert service.client.post("/v1/evaluations", content=earlier, headers=key)
        waited.clear()
        body = _body(prefix, "2026-11-01", size)
        state = service.state
        _, pack = state.resolve(PACK)
        as_of = datetime(2026, 11, 1, tzinfo=UTC)
        facts = [SellerFacts(s["seller_id"], as_of, s["facts"]) for s in body["sellers"]]
        history = state.store.history(pack, [f.seller_id for f in facts], as_of)
        expected = [
            DecisionRecord.of(d).document
            for d in evaluate(pack, facts, history=history, explain=ExplainLevel.SUMMARY)
        ]
        assert any(r.get("streak") == 1 for d in expected for r in d["rules"])
        answer = service.client.post("/v1/evaluations", content=json.dumps(body), headers=key)
        assert answer.status_code == 200, answer.text
        decisions = _without_ids(answer.json())["decisions"]
        assert decisions == _without_ids({"decisions": expected})["decisions"]
        assert waited == [True, True], index


def test_an_unexpected_error_in_a_worker_thread_is_a_500_problem(
    services: tuple[Service, Service], handed_over: list[str]
) -> None:
    """An exception raised while a request is handled in a worker thread reaches the
    outer layer as on the loop: a 500 problem with a correlation id."""
    offloaded, _ = services
    app: Any = offloaded.client.app

    def boom(payload: dict[str, int]) -> None:
        raise RuntimeError(f"unexpected {payload}")

    app.add_api_route("/boom", boom, methods=["POST"])
    answer = offloaded.client.post("/boom", json={"a": 1})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["correlation_id"] == answer.headers["x-correlation-id"]
    assert handed_over == ["/boom"]


def test_work_handed_over_waits_for_the_servers_loop_to_have_a_turn() -> None:
    """let_the_server_run(), called from a request handled in a worker thread, returns
    only after the server's loop has run what was ready there (here: a callback that
    keeps that loop busy for 0.2 s); elsewhere it returns at once."""
    events: list[str] = []
    started = threading.Event()  # the worker runs the request
    busy_now = threading.Event()  # the server's loop is in its busy callback

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        events.append("worker: step done")
        started.set()
        assert busy_now.wait(10)
        assert let_the_server_run() is True
        events.append("worker: next step")

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        pass

    def busy() -> None:
        busy_now.set()
        time.sleep(0.2)
        events.append("loop: busy")

    async def main() -> None:
        task = asyncio.create_task(in_worker_thread(app, {"type": "http"}, receive, send))
        assert await asyncio.to_thread(started.wait, 10)
        asyncio.get_running_loop().call_soon(busy)
        await task

    asyncio.run(main())
    assert events == ["worker: step done", "loop: busy", "worker: next step"]
    began = time.monotonic()
    assert let_the_server_run() is False
    assert time.monotonic() - began < 0.05


def test_the_collector_is_paused_while_any_holder_needs_it() -> None:
    """collector_paused() disables automatic collection until its last holder (in any
    thread) is done, then restores what it found: enabled stays enabled, disabled stays
    disabled."""
    was_enabled = gc.isenabled()
    try:
        gc.enable()
        inside = threading.Event()
        leave = threading.Event()

        def other_holder() -> None:
            with collector_paused():
                inside.set()
                assert leave.wait(10)

        with collector_paused():
            assert not gc.isenabled()
            thread = threading.Thread(target=other_holder)
            thread.start()
            assert inside.wait(10)
        assert not gc.isenabled()  # the other holder still runs
        leave.set()
        thread.join(10)
        assert gc.isenabled()
        gc.disable()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        if was_enabled:
            gc.enable()
        else:
            gc.disable()
