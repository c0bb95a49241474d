"""Idempotency-Key on POST /v1/evaluations: a retry gets the first answer and stores
nothing, even when the first answer was lost because the server was killed."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pgkit import fresh_postgres_database
from servicekit import Service, free_port, healthy_facts, serve_process
from sqlalchemy import func, select, update

from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.idempotency import KEY_TTL, KeyTakenError, request_hash
from sellerpolicy.engine.store.keys import KeyStore, Role
from sellerpolicy.engine.store.migrations.schema import (
    decisions_table,
    idempotency_keys_table,
    runs_table,
)
from sellerpolicy.engine.store.records import DecisionRecord
from sellerpolicy.rules import load_pack

PACK = "walmart-seller-performance"


def _body(*sellers: str) -> dict[str, object]:
    return {
        "pack": PACK,
        "as_of": "2026-11-01",
        "sellers": [{"seller_id": s, "facts": healthy_facts()} for s in sellers],
    }


def _post(service: Service, body: dict[str, object], key: str | None) -> httpx.Response:
    headers = service.auth(Role.EVALUATOR) | ({"Idempotency-Key": key} if key else {})
    return service.client.post("/v1/evaluations", json=body, headers=headers)


def _stored(service: Service, seller: str) -> list[dict[str, object]]:
    reader = service.auth(Role.READER)
    return service.client.get(f"/v1/sellers/{seller}/decisions", headers=reader).json()["decisions"]


def test_a_retry_with_the_same_key_gets_the_same_answer_and_stores_nothing(
    service: Service, seller: str
) -> None:
    key = f"retry-{uuid.uuid4()}"
    first = _post(service, _body(seller, seller + "-b"), key)
    assert first.status_code == 200, first.text
    again = _post(service, _body(seller, seller + "-b"), key)
    assert again.status_code == 200
    assert again.content == first.content  # same run id, same decision ids
    assert [d["decision_id"] for d in _stored(service, seller)] == [
        first.json()["decisions"][0]["decision_id"]
    ]


def test_the_same_key_with_another_request_is_a_422(service: Service, seller: str) -> None:
    key = f"reuse-{uuid.uuid4()}"
    assert _post(service, _body(seller), key).status_code == 200
    other = _post(service, _body(seller, seller + "-other"), key)
    assert other.status_code == 422, other.text
    assert other.json()["type"].endswith("idempotency_key_reused")
    assert other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert _stored(service, seller + "-other") == []


@pytest.mark.parametrize("key", ["", "x" * 201, "with space", "tab\there", "é"])
def test_a_malformed_key_is_a_422(service: Service, seller: str, key: str) -> None:
    headers = service.auth(Role.EVALUATOR) | {"Idempotency-Key": key}
    try:
        response = service.client.post("/v1/evaluations", json=_body(seller), headers=headers)
    except UnicodeEncodeError:  # httpx refuses a non-ASCII header itself: fine too
        return
    assert response.status_code == 422, response.text
    assert _stored(service, seller) == []


def test_two_racing_writes_keep_one_answer(tmp_path: Path) -> None:
    """Two requests racing with one key: the second transaction fails whole."""
    pack = load_pack("walmart")
    with DecisionStore(tmp_path / "race.db") as store:
        first, second = (DecisionRecord.of(_decision(pack)) for _ in range(2))
        assert first.decision_id != second.decision_id
        hashed = request_hash({"a": 1})
        store.append(pack, [first], run_id="r1", idempotency=("k", hashed, "first"))
        with pytest.raises(KeyTakenError):
            store.append(pack, [second], run_id="r2", idempotency=("k", hashed, "second"))
        with store.engine.connect() as con:
            runs = con.execute(select(decisions_table.c.run_id)).scalars().all()
        assert runs == ["r1"]
        kept = store.recall("k")
        assert kept is not None
        assert kept.response == "first"


def test_keys_expire_after_the_documented_time(tmp_path: Path) -> None:
    pack = load_pack("walmart")
    with DecisionStore(tmp_path / "ttl.db") as store:
        store.append(
            pack, [DecisionRecord.of(_decision(pack))], run_id="r1", idempotency=("k", "h", "a")
        )
        old = datetime.now(UTC).replace(tzinfo=None) - KEY_TTL - timedelta(minutes=1)
        with store.engine.begin() as con:
            con.execute(update(idempotency_keys_table).values(created_at=old))
        assert store.recall("k") is None
    assert timedelta(hours=24) == KEY_TTL


def _decision(pack: object) -> object:
    from sellerpolicy.engine.evaluation.evaluate import evaluate_one  # noqa: PLC0415
    from sellerpolicy.engine.metrics.facts import SellerFacts, as_of_instant  # noqa: PLC0415

    facts = SellerFacts("S1", as_of_instant(datetime(2026, 11, 1)), healthy_facts())
    return evaluate_one(pack, facts)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# The server killed after the commit, before the client read its answer


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kill.db'}"
        return
    yield from fresh_postgres_database("sp_idem")


def _count(store: DecisionStore, seller: str) -> int:
    with store.engine.connect() as con:
        query = select(func.count()).where(decisions_table.c.seller_id == seller)
        return int(con.execute(query).scalar_one())


def test_server_killed_after_commit_then_retry_with_the_same_key(store_url: str) -> None:
    """The first answer is lost (the server is killed once the decisions are committed,
    before the client reads a byte); the retry, on a restarted server, gets the
    decisions that were stored, and nothing is stored twice."""
    with DecisionStore(store_url) as store:
        token = KeyStore(store.engine, store.where).create(Role.EVALUATOR, actor="test")[1]
    port, seller, key = free_port(), f"S-{uuid.uuid4().hex[:8]}", f"k-{uuid.uuid4()}"
    request = json.dumps(_body(seller)).encode()
    head = (
        f"POST /v1/evaluations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nIdempotency-Key: {key}\r\n"
        f"Content-Length: {len(request)}\r\n\r\n"
    ).encode()
    server = serve_process(store_url, port)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=30) as sock,
            DecisionStore(store_url) as store,
        ):
            sock.sendall(head + request)
            deadline = time.monotonic() + 30
            while _count(store, seller) == 0:  # committed: the decision is visible
                assert time.monotonic() < deadline, "the decision was never stored"
                time.sleep(0.005)
            os.kill(server.pid, signal.SIGKILL)  # the answer is never read
            server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)
    server = serve_process(store_url, port)
    try:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        retry = httpx.post(
            f"http://127.0.0.1:{port}/v1/evaluations", json=_body(seller), headers=headers
        )
        assert retry.status_code == 200, retry.text
    finally:
        server.terminate()
        server.wait(timeout=30)
    with DecisionStore(store_url) as store, store.engine.connect() as con:
        stored = con.execute(
            select(decisions_table.c.decision_id, decisions_table.c.run_id).where(
                decisions_table.c.seller_id == seller
            )
        ).all()
        states = con.execute(select(runs_table.c.state)).scalars().all()
    assert len(stored) == 1  # nothing stored twice
    assert retry.json()["decisions"][0]["decision_id"] == stored[0].decision_id
    assert retry.json()["run_id"] == stored[0].run_id
    assert states == ["complete"]
