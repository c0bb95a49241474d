"""The SQLite write-ahead log of a service's store is truncated to zero bytes when the store
opens, and while the service runs at the first checkpoint after it grew past the limit:
it never stays large."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from servicekit import healthy_facts, start_service

from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.engine.service.app import Settings
from sellerpolicy.engine.store import sqlite as store_sqlite
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.records import DecisionRecord
from sellerpolicy.rules import load_pack

GROWN = 1_000_000  # bytes: the log is "large" past this


def _log(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _records(count: int) -> list[DecisionRecord]:
    pack = load_pack("walmart")
    when = datetime(2026, 11, 1, tzinfo=UTC)
    facts = [SellerFacts(f"W-{uuid.uuid4().hex[:8]}", when, healthy_facts()) for _ in range(count)]
    return [DecisionRecord.of(d) for d in evaluate(pack, facts, explain=ExplainLevel.FULL)]


def _shrinks_to_zero(log: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _size(log) == 0:
            return True
        time.sleep(0.02)
    return False


def test_a_log_left_large_is_truncated_when_the_store_opens(tmp_path: Path) -> None:
    """A store written with SQLite's own (passive) checkpoints keeps a large log file after
    it closes while another connection has the database open, as after a crash; a
    service's store (background checkpoints) opened on it truncates the log to zero
    bytes before it returns, and every decision is in the database."""
    path = tmp_path / "left.db"
    pack = load_pack("walmart")
    records = _records(2000)
    first = DecisionStore(path)
    keeper = sqlite3.connect(path)  # keeps the log from being removed at close
    try:
        keeper.execute("SELECT count(*) FROM decisions").fetchall()
        first.append(pack, records, run_id=str(uuid.uuid4()))
        first.close()
        left = _size(_log(path))
        assert left > GROWN
        reopened = DecisionStore(path, background_checkpoints=True)
        try:
            assert _size(_log(path)) == 0, left
            assert keeper.execute("SELECT count(*) FROM decisions").fetchone() == (2000,)
        finally:
            reopened.close()
    finally:
        keeper.close()


def test_the_running_service_truncates_a_log_over_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With checkpoints every 50 ms and a 256 KiB limit: while a reader holds an old
    snapshot, a 500-seller evaluation grows the log past 1 MB and no checkpoint may
    truncate it; once the reader is done, the service's checkpoint thread truncates it
    to zero bytes within seconds, without a restart. A log under the limit is only
    copied (writers never wait for a truncation), and the service goes on answering."""
    monkeypatch.setattr(store_sqlite, "CHECKPOINT_SECONDS", 0.05)
    monkeypatch.setattr(store_sqlite, "LOG_LIMIT_BYTES", 256 * 1024)
    path = tmp_path / "running.db"
    log = _log(path)
    headers = {"Content-Type": "application/json"}
    with contextmanager(start_service)(Settings(store_url=str(path)), "sqlite") as service:
        headers |= service.auth(Role.EVALUATOR)
        reader = sqlite3.connect(path, isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM decisions").fetchall()  # an old snapshot
            answer = service.client.post(
                "/v1/evaluations?explain=full", content=_request("R", 500), headers=headers
            )
            assert answer.status_code == 200, answer.text
            grown = _size(log)
            assert grown > GROWN
            assert not _shrinks_to_zero(log, 0.2)  # 4 intervals: the reader is in the way
        finally:
            reader.execute("ROLLBACK")
            reader.close()
        assert _shrinks_to_zero(log, 5.0), grown
        small = service.client.post("/v1/evaluations", content=_request("Q", 1), headers=headers)
        assert small.status_code == 200, small.text
        assert 0 < _size(log) < 256 * 1024
        assert not _shrinks_to_zero(log, 0.2)  # under the limit: copied, not truncated
        assert service.client.get("/readyz").status_code == 200
        assert len(service.state.store.decisions("R-0")) == 1


def _request(prefix: str, sellers: int) -> str:
    items = [{"seller_id": f"{prefix}-{i}", "facts": healthy_facts()} for i in range(sellers)]
    return json.dumps(
        {"pack": "walmart-seller-performance", "as_of": "2026-11-01", "sellers": items}
    )
