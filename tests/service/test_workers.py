"""``sellerpolicy serve --workers N``: on PostgreSQL, N processes share the port and
/metrics reports the sum over them; on SQLite the command refuses, saying why."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pgkit import fresh_postgres_database
from servicekit import free_port, healthy_facts, start_serve, stop, stored_runs

from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import KeyStore, Role

PACK = "walmart-seller-performance"
EXE = str(Path(sys.executable).with_name("sellerpolicy"))


def test_workers_on_sqlite_are_refused_with_the_reason(tmp_path: Path) -> None:
    store = str(tmp_path / "one.db")
    done = subprocess.run(
        [EXE, "serve", "--workers", "2", "--store", store, "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "--workers needs a PostgreSQL store" in done.stderr
    assert "one writer at a time" in done.stderr


def _workers(pid: int) -> list[int]:
    """The worker processes started by ``pid`` (Linux /proc; multiprocessing's spawn)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def database() -> Iterator[str]:
    yield from fresh_postgres_database("sp_workers")


@pytest.mark.postgres
def test_two_workers_share_the_port_and_their_metrics(database: str, tmp_path: Path) -> None:
    """Two worker processes answer 60 evaluations on fresh connections; /metrics, from
    whichever worker answers it, counts all 60 decisions; SIGTERM stops them all."""
    with DecisionStore(database) as opened:
        keys = KeyStore(opened.engine, opened.where)
        evaluator = keys.create(Role.EVALUATOR, actor="test")[1]
        reader = keys.create(Role.READER, actor="test")[1]
    port = free_port()
    process = start_serve(database, port, "--workers", "2", log=tmp_path / "serve.log")
    try:
        workers = _workers(process.pid)
        assert len(workers) == 2
        base = f"http://127.0.0.1:{port}"
        runs = set()
        for _ in range(60):
            seller = {"seller_id": f"W-{uuid.uuid4().hex[:8]}", "facts": healthy_facts()}
            body = {"pack": PACK, "as_of": "2026-11-01", "sellers": [seller]}
            answer = httpx.post(
                f"{base}/v1/evaluations",
                json=body,
                headers={"Authorization": f"Bearer {evaluator}", "Connection": "close"},
            )
            assert answer.status_code == 200, answer.text
            runs.add(answer.json()["run_id"])
        metrics = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {reader}"})
        text = metrics.text
        assert f'sellerpolicy_decisions_total{{pack="{PACK}",status="healthy"}} 60.0' in text
        assert "sellerpolicy_http_in_flight" in text
    finally:
        assert stop(process) in (0, -15)
    assert runs <= set(stored_runs(database))
    assert not [p for p in workers if Path(f"/proc/{p}").exists()]
