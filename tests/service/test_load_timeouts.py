"""Deadlines: a request that cannot finish within ``request_timeout_seconds`` is answered
504 (problem+json) and nothing of it is stored; a write that began in time is answered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servicekit import Service, healthy_facts, start_service, stored_runs

from sellerpolicy.engine.service import evaluate as evaluate_route
from sellerpolicy.engine.service.app import Settings
from sellerpolicy.engine.service.load import Deadline
from sellerpolicy.engine.service.problems import ProblemError
from sellerpolicy.engine.store.keys import Role

PACK = "walmart-seller-performance"


@pytest.fixture
def hurried(tmp_path: Path) -> Iterator[tuple[Service, str]]:
    """A service giving each request 0.25 s, on a SQLite file (and that file's path)."""
    store = str(tmp_path / "deadline.db")
    settings = Settings(store_url=store, request_timeout_seconds=0.25)
    for service in start_service(settings, "sqlite"):
        yield service, store


def _body(prefix: str, sellers: int) -> dict[str, object]:
    rows = [{"seller_id": f"{prefix}-{i}", "facts": healthy_facts()} for i in range(sellers)]
    return {"pack": PACK, "as_of": "2026-11-01", "sellers": rows}


def test_an_evaluation_past_its_deadline_is_504_and_stores_nothing(
    hurried: tuple[Service, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """4,000 sellers decided one by one take longer than 0.25 s: the answer is a 504
    problem sent at the deadline, and once the work has ended the store holds none of its
    decisions; a small request on the same service is answered 200 and stored."""
    monkeypatch.setattr(evaluate_route, "BULK_SELLERS", 10**9)  # in bulk they would not
    service, store = hurried
    headers = service.auth(Role.EVALUATOR)
    before = stored_runs(store)
    began = time.perf_counter()
    late = service.client.post("/v1/evaluations", json=_body("late", 4000), headers=headers)
    assert late.status_code == 504, late.text[:200]
    assert late.headers["content-type"] == "application/problem+json"
    assert late.json()["type"].endswith(":deadline_exceeded")
    assert "nothing of it was stored" in late.json()["detail"]
    assert time.perf_counter() - began >= 0.25
    assert stored_runs(store) == before  # the client returned once the work had ended
    small = service.client.post("/v1/evaluations", json=_body("small", 1), headers=headers)
    assert small.status_code == 200
    assert set(stored_runs(store)) - set(before) == {small.json()["run_id"]}
    metrics = service.client.get("/metrics", headers=service.auth(Role.READER)).text
    assert 'sellerpolicy_shed_total{reason="deadline"} 1.0' in metrics


def test_a_write_begun_in_time_is_answered_however_late() -> None:
    """Once the write has begun the deadline no longer answers 504; the app answers."""
    deadline = Deadline(0.01)
    deadline.begin_write()
    time.sleep(0.02)
    assert not deadline.time_out()
    deadline.begin_write()  # the same write, retried from a worker thread (busy SQLite lock)
    assert deadline.answer()


def test_after_the_504_no_write_begins_and_the_app_answer_is_dropped() -> None:
    deadline = Deadline(60)
    assert deadline.time_out()
    with pytest.raises(ProblemError) as raised:
        deadline.begin_write()
    assert raised.value.status == 504
    assert not deadline.answer()


def test_past_the_deadline_no_write_begins_even_before_the_timer_runs() -> None:
    """Work running on the event loop keeps the timer from firing: the write still refuses."""
    deadline = Deadline(0.01)
    time.sleep(0.02)
    with pytest.raises(ProblemError):
        deadline.begin_write()
    assert deadline.answer()  # the app's own 504 goes out
