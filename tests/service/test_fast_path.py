"""The fast path of POST /v1/evaluations answers exactly as the regular route does: the
same decisions, the same problem documents, the same trust in keys; and the store
shortcuts it relies on (one-seller history on the SQLite cursor, checkpoints in a
thread of their own) read and write what the regular code does."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from servicekit import Service, healthy_facts, pack_text, start_service

from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.engine.service import evaluate as service_evaluate
from sellerpolicy.engine.service import fast as service_fast
from sellerpolicy.engine.service.app import Settings
from sellerpolicy.engine.store import sqlite as store_sqlite
from sellerpolicy.engine.store.decisions import DecisionStore, StoreBusyError
from sellerpolicy.engine.store.history import SqliteSellerHistory, load_history
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.packs import compile_content
from sellerpolicy.engine.store.records import DecisionRecord
from sellerpolicy.rules import load_pack

PACK = "walmart-seller-performance"
FAST = {"Content-Type": "application/json"}
# The same JSON body, but a media type the fast path leaves to the regular route.
REGULAR = {"Content-Type": "application/json; charset=utf-8"}


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names the requests the fast path itself decided (on the loop or in a thread)."""
    calls: list[str] = []
    for name in ("answer", "prepare"):  # in a worker thread / on the event loop
        original = getattr(service_fast, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(service_fast, name, counted)
    return calls


def _post(service: Service, body: str, headers: dict[str, str], query: str = "") -> Any:
    return service.client.post(f"/v1/evaluations{query}", content=body, headers=headers)


def _breach() -> dict[str, float | int]:
    return {**healthy_facts(), "cancellation_rate": 0.05, "cancellation_rate__num": 60}


def _body(seller: str, as_of: str, sellers: int = 1) -> dict[str, Any]:
    return {
        "pack": PACK,
        "as_of": as_of,
        "sellers": [{"seller_id": f"{seller}-{i}", "facts": _breach()} for i in range(sellers)],
    }


def _without_ids(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with its run id and decision ids (new for every request) left out."""
    decisions = [{k: v for k, v in d.items() if k != "decision_id"} for d in answer["decisions"]]
    return {**answer, "run_id": None, "decisions": decisions}


@pytest.mark.parametrize("query", ["", "?explain=none", "?explain=summary", "?explain=full"])
@pytest.mark.parametrize("sellers", [1, service_fast.INLINE_SELLERS + 3])
def test_the_fast_path_answers_as_the_regular_route(
    service: Service, seller: str, fast_calls: list[str], query: str, sellers: int
) -> None:
    """A seller with an escalation history, evaluated once through each path: both answers
    carry the same status, headers and decisions (streaks included), only the fast one
    went through the fast path, and the later one was stored as answered (replacing the
    first: one decision per seller, pack version and as_of)."""
    key = service.auth(Role.EVALUATOR)
    for month in ("2026-09-01", "2026-10-01"):  # earlier breaches: a streak of two
        assert (
            _post(service, json.dumps(_body(seller, month, sellers)), key | FAST).status_code == 200
        )
    text = json.dumps(_body(seller, "2026-11-01", sellers))
    # The key is trusted for key_cache_seconds (2 s) after it authenticates: renewed just
    # before, so that a slow earlier request (a loaded machine) does not send this one to
    # the regular route.
    assert service.client.get("/v1/packs", headers=key).status_code == 200
    before = len(fast_calls)
    fast = _post(service, text, key | FAST, query)
    assert len(fast_calls) == before + 1
    inline = sellers <= service_fast.INLINE_SELLERS and service.backend == "sqlite"
    assert fast_calls[-1] == ("prepare" if inline else "answer")
    regular = _post(service, text, key | REGULAR, query)
    assert len(fast_calls) == before + 1
    assert (fast.status_code, regular.status_code) == (200, 200), fast.text
    assert fast.headers["content-type"] == regular.headers["content-type"] == "application/json"
    assert _without_ids(fast.json()) == _without_ids(regular.json())
    assert fast.json()["run_id"] != regular.json()["run_id"]
    streaks = {r.get("streak") for d in fast.json()["decisions"] for r in d["rules"]}
    assert 2 in streaks  # the history was read
    reader = service.auth(Role.READER)
    for decision in regular.json()["decisions"]:
        stored = service.client.get(f"/v1/decisions/{decision['decision_id']}", headers=reader)
        assert stored.json()["decision"] == decision
        assert stored.json()["run_id"] == regular.json()["run_id"]
    # the later evaluation of the same sellers, pack version and as_of replaced the first
    for decision in fast.json()["decisions"]:
        gone = service.client.get(f"/v1/decisions/{decision['decision_id']}", headers=reader)
        assert gone.status_code == 404


def _bad_requests(seller: str) -> list[tuple[str, str, str]]:
    """(what, query, body) of requests that fail, each in its own way."""
    good = _body(seller, "2026-11-01")
    seller_in = good["sellers"][0]
    return [
        ("invalid JSON", "", '{"pack": '),
        ("empty body", "", ""),
        ("not an object", "", "[1, 2]"),
        ("unknown field", "", json.dumps({**good, "extra": 1})),
        (
            "string fact",
            "",
            json.dumps({**good, "sellers": [{**seller_in, "facts": {"orders": "1"}}]}),
        ),
        (
            "NaN fact",
            "",
            json.dumps({**good, "sellers": [{**seller_in, "facts": {"orders": "NaN"}}]}).replace(
                '"NaN"', "NaN"
            ),
        ),
        ("both inputs", "", json.dumps({**good, "events": {"seller_id": seller, "tables": {}}})),
        ("no as_of", "", json.dumps({**good, "as_of": None})),
        (
            "unknown fact",
            "",
            json.dumps({**good, "sellers": [{**seller_in, "facts": {"ordrs": 1}}]}),
        ),
        ("unknown pack", "", json.dumps({**good, "pack": "no-such-pack"})),
        ("unknown version", "", json.dumps({**good, "pack": f"{PACK}@9.9.9"})),
        ("bad explain", "?explain=loud", json.dumps(good)),
    ]


def test_failing_requests_get_the_regular_routes_problems(
    service: Service, seller: str, fast_calls: list[str]
) -> None:
    """Each kind of bad request, sent so the fast path may take it and so it may not,
    gets the same status, media type, headers and problem document either way."""
    key = service.auth(Role.EVALUATOR)
    assert _post(service, json.dumps(_body(seller, "2026-11-01")), key | FAST).status_code == 200
    for what, query, text in _bad_requests(seller):
        fast = _post(service, text, key | FAST, query)
        regular = _post(service, text, key | REGULAR, query)
        assert fast.status_code == regular.status_code, what
        assert 400 <= fast.status_code < 500, what
        assert fast.headers["content-type"] == "application/problem+json", what
        assert fast.json() == regular.json(), what
    assert fast_calls  # "unknown fact" and "unknown pack" were answered by the fast path


def test_the_callers_key_is_checked_as_on_the_regular_route(service: Service, seller: str) -> None:
    """No key, a malformed header, an unknown key and a too-low role get the same problem
    (and WWW-Authenticate challenge) from either media type."""
    text = json.dumps(_body(seller, "2026-11-01"))
    callers = [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer spk_00000000_unknown"},
        service.auth(Role.READER),
    ]
    service.client.post("/v1/evaluations", content=text, headers=service.auth(Role.READER) | FAST)
    for caller in callers:
        fast = _post(service, text, caller | FAST)
        regular = _post(service, text, caller | REGULAR)
        assert fast.status_code == regular.status_code, caller
        assert fast.status_code in (401, 403), caller
        assert fast.json() == regular.json(), caller
        assert fast.headers.get("www-authenticate") == regular.headers.get("www-authenticate")


@pytest.fixture
def brief_trust(tmp_path: Path) -> Iterator[Service]:
    """A service on its own SQLite store that trusts an authenticated key for 0.3 s."""
    settings = Settings(store_url=str(tmp_path / "trust.db"), key_cache_seconds=0.3)
    yield from start_service(settings, "sqlite")


def test_a_revoked_key_stops_working_on_the_fast_path(
    brief_trust: Service, seller: str, fast_calls: list[str]
) -> None:
    """A key revoked after it was remembered still works until the trust interval ends,
    then the request (which the fast path no longer takes) is refused with 401."""
    service = brief_trust
    key = service.auth(Role.EVALUATOR)
    text = json.dumps(_body(seller, "2026-11-01"))
    assert _post(service, text, key | FAST).status_code == 200  # looked up, remembered
    assert _post(service, text, key | FAST).status_code == 200
    assert fast_calls
    key_id = service.keys[Role.EVALUATOR].split("_")[1]
    service.state.keys.revoke(key_id, actor="test")
    time.sleep(0.35)
    calls = len(fast_calls)
    refused = _post(service, text, key | FAST)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert len(fast_calls) == calls


def test_fast_requests_are_counted_under_their_route(service: Service, seller: str) -> None:
    """Requests the fast path answered appear in the metrics under the route template."""
    key = service.auth(Role.EVALUATOR)
    metrics = service.client.get("/metrics", headers=service.auth(Role.READER)).text
    label = 'sellerpolicy_http_requests_total{method="POST",route="/v1/evaluations",status="200"}'
    count = next((float(x.split()[-1]) for x in metrics.splitlines() if x.startswith(label)), 0.0)
    for _ in range(3):
        assert (
            _post(service, json.dumps(_body(seller, "2026-11-01")), key | FAST).status_code == 200
        )
    metrics = service.client.get("/metrics", headers=service.auth(Role.READER)).text
    after = next(float(x.split()[-1]) for x in metrics.splitlines() if x.startswith(label))
    assert after == count + 3


def test_only_sqlite_evaluations_may_run_on_the_loop(service: Service) -> None:
    """PostgreSQL round trips never run on the event loop; SQLite writes may."""
    assert service.state.may_block_loop() is (service.backend == "sqlite")


@pytest.fixture
def own_store(tmp_path: Path) -> Iterator[Service]:
    """A service on a SQLite file of its own (its write lock can be taken in a test)."""
    yield from start_service(Settings(store_url=str(tmp_path / "own.db")), "sqlite")


def test_a_held_write_lock_is_waited_for_off_the_loop(own_store: Service, seller: str) -> None:
    """While another connection holds the write lock, a one-seller evaluation waits for it
    in a worker thread: the event loop goes on answering (/healthz), and once the lock is
    released the evaluation is stored and answered."""
    service = own_store
    key = service.auth(Role.EVALUATOR)
    assert _post(service, json.dumps(_body(seller, "2026-10-01")), key | FAST).status_code == 200
    other = sqlite3.connect(service.state.store.url.database or "", isolation_level=None)
    answers: list[Any] = []
    try:
        other.execute("BEGIN IMMEDIATE")  # the write lock
        waiting = threading.Thread(
            target=lambda: answers.append(
                _post(service, json.dumps(_body(seller, "2026-11-01")), key | FAST)
            )
        )
        waiting.start()
        time.sleep(0.3)
        began = time.monotonic()
        assert service.client.get("/healthz").status_code == 200
        assert time.monotonic() - began < 1.0
        assert waiting.is_alive()
        assert not answers
    finally:
        other.execute("ROLLBACK")
        other.close()
    waiting.join(timeout=30)
    assert answers[0].status_code == 200, answers[0].text
    decision = answers[0].json()["decisions"][0]
    stored = service.client.get(
        f"/v1/decisions/{decision['decision_id']}", headers=service.auth(Role.READER)
    )
    assert stored.json()["decision"] == decision


def test_a_write_that_may_not_wait_stores_nothing_on_a_held_lock(tmp_path: Path) -> None:
    """append(wait=False) on a locked SQLite store fails at once with StoreBusyError,
    writes nothing and leaves the connection waiting as usual; once the lock is free
    the same append succeeds."""
    path = tmp_path / "busy.db"
    pack = load_pack("walmart")
    facts = [SellerFacts("S-1", datetime(2026, 11, 1, tzinfo=UTC), _breach())]
    records = [DecisionRecord.of(d) for d in evaluate(pack, facts)]
    with DecisionStore(path) as opened:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        began = time.monotonic()
        with pytest.raises(StoreBusyError):
            opened.append(pack, records, run_id=str(uuid.uuid4()), wait=False)
        assert time.monotonic() - began < 1.0
        other.execute("ROLLBACK")
        other.close()
        assert opened.decisions("S-1") == []
        with opened.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        opened.append(pack, records, run_id=str(uuid.uuid4()), wait=False)
        assert [d.seller_id for d in opened.decisions("S-1")] == ["S-1"]


def _history_store(path: Path) -> tuple[DecisionStore, Any]:
    """A SQLite store with a seller evaluated on several days (some twice a day)."""
    opened = DecisionStore(path)
    pack, _ = compile_content(pack_text("hist", "1.0.0"), "hist@1.0.0")
    days = [date(2026, 8, 1), date(2026, 9, 1), date(2026, 9, 1), date(2026, 10, 1)]
    for index, day in enumerate(days):
        facts = _breach() if index != 1 else healthy_facts()
        when = datetime(day.year, day.month, day.day, 12, index, tzinfo=UTC)
        decisions = evaluate(pack, [SellerFacts("S-1", when, facts)], explain=ExplainLevel.NONE)
        opened.append(pack, [DecisionRecord.of(d) for d in decisions], run_id=str(uuid.uuid4()))
    return opened, pack


def test_the_sqlite_one_seller_history_reads_what_sqlalchemy_reads(tmp_path: Path) -> None:
    """For a seller with several evaluations (two on one day), the history read on the
    driver's cursor equals the one read through SQLAlchemy, for every cut-off and depth."""
    opened, pack = _history_store(tmp_path / "history.db")
    try:
        with opened.engine.connect() as connection:
            cursor_query = SqliteSellerHistory(connection, None)
            for before in (datetime(2026, 9, 1), datetime(2026, 9, 2), datetime(2026, 11, 1)):
                for depth in (1, 2, 5):
                    found: list[dict[str, list[Any]]] = [{}, {}]
                    for into, sqlite in zip(found, (None, cursor_query), strict=True):
                        load_history(
                            connection,
                            pack_id=pack.id,
                            seller_ids=["S-1"],
                            before=before,
                            depth=depth,
                            into=into,
                            sqlite=sqlite,
                        )
                    assert found[0] == found[1], (before, depth)
                    assert found[0]
    finally:
        opened.close()


def _grows(path: Path, size: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.stat().st_size > size:
            return True
        time.sleep(0.02)
    return False


def test_background_checkpoints_move_the_log_into_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With background checkpoints, commits leave the database file alone (no automatic
    checkpoint) and the thread copies the log into it soon after; closing stops it."""
    monkeypatch.setattr(store_sqlite, "CHECKPOINT_SECONDS", 0.05)
    path = tmp_path / "wal.db"
    opened = DecisionStore(path, background_checkpoints=True)
    pack = load_pack("walmart")
    facts = [
        SellerFacts(f"S-{i}", datetime(2026, 11, 1, tzinfo=UTC), _breach()) for i in range(300)
    ]
    records = [DecisionRecord.of(d) for d in evaluate(pack, facts, explain=ExplainLevel.NONE)]
    assert any(t.name == f"checkpoints of {opened.where}" for t in threading.enumerate())
    try:
        with opened.engine.connect() as connection:
            autocheckpoint = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert autocheckpoint == 0
        size = path.stat().st_size
        opened.append(pack, records, run_id=str(uuid.uuid4()))
        assert _grows(path, size, 5.0)
    finally:
        opened.close()
    mine = f"checkpoints of {opened.where}"
    assert not any(t.name == mine and t.is_alive() for t in threading.enumerate())


def test_stores_check_point_themselves_by_default(tmp_path: Path) -> None:
    """A store opened without background checkpoints keeps SQLite's automatic ones."""
    with DecisionStore(tmp_path / "plain.db") as opened, opened.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000


def test_small_and_large_batches_decide_alike(service: Service, seller: str) -> None:
    """A batch small enough for the Python back end and one large enough for the
    vectorized one decide the same sellers identically (statuses, rules, actions)."""
    key = service.auth(Role.EVALUATOR)
    facts = [healthy_facts(), _breach(), {**healthy_facts(), "orders": 10}, {"orders": 0}]
    small = [{"seller_id": f"{seller}-{i}", "facts": f} for i, f in enumerate(facts)]
    large = small + [
        {"seller_id": f"{seller}-x{i}", "facts": healthy_facts()}
        for i in range(service_evaluate.SMALL_BATCH)
    ]
    assert len(small) <= service_evaluate.SMALL_BATCH < len(large)
    answers = []
    for sellers in (small, large):
        body = {"pack": PACK, "as_of": "2026-11-01", "sellers": sellers}
        response = _post(service, json.dumps(body), key | FAST, "?explain=full")
        assert response.status_code == 200, response.text
        answers.append(_without_ids(response.json())["decisions"][: len(small)])
    assert answers[0] == answers[1]
    assert {d["status"] for d in answers[0]} != {"healthy"}
