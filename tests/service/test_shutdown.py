"""Graceful shutdown of a real ``sellerpolicy serve`` process: SIGTERM during a burst turns
/readyz to 503 while requests are still served, then in-flight work finishes and the store
is closed. Every request answered 2xx is stored whole; every stored run was answered or is
logged as stored during shutdown; none is half written."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from servicekit import free_port, healthy_facts, start_serve, stored_runs

from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import KeyStore, Role

PACK = "walmart-seller-performance"
SELLERS = 40  # per request: each takes a few ms, so some are in flight at SIGTERM
CLIENTS = 6


def _burst(port: int, key: str, answered: dict[str, int], stop: threading.Event) -> None:
    """Send evaluations until the server stops answering; keep each 2xx run id."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
        while not stop.is_set():
            tag = uuid.uuid4().hex[:8]
            sellers = [
                {"seller_id": f"{tag}-{i}", "facts": healthy_facts()} for i in range(SELLERS)
            ]
            body = {"pack": PACK, "as_of": "2026-11-01", "sellers": sellers}
            try:
                response = client.post("/v1/evaluations", json=body)
            except httpx.HTTPError:
                return  # the listener is closed: the server is stopping
            if response.status_code // 100 == 2:
                answered[response.json()["run_id"]] = len(response.json()["decisions"])


def _json(line: str) -> dict[str, Any]:
    try:
        found = json.loads(line)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def test_sigterm_during_a_burst_drains_then_stores_nothing_half(tmp_path: Path) -> None:
    store = str(tmp_path / "shutdown.db")
    with DecisionStore(store) as opened:
        key = KeyStore(opened.engine, opened.where).create(Role.EVALUATOR, actor="test")[1]
    port, log = free_port(), tmp_path / "serve.log"
    process = start_serve(
        store, port, "--drain-seconds", "1.5", "--shutdown-timeout", "20", log=log
    )
    answered: dict[str, int] = {}
    stop = threading.Event()
    clients = [
        threading.Thread(target=_burst, args=(port, key, answered, stop)) for _ in range(CLIENTS)
    ]
    try:
        for client in clients:
            client.start()
        time.sleep(1.0)
        before = len(answered)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 503
        assert "shutting down" in ready.json()["detail"]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        exit_code = process.wait(timeout=60)
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        for client in clients:
            client.join(timeout=60)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert exit_code in (0, -signal.SIGTERM), text[-2000:]
    assert before > 0
    assert len(answered) > before, "requests were still served while draining"
    assert "draining" in text
    logged = {
        line["run_id"]
        for line in map(_json, text.splitlines())
        if line.get("event") == "stored_during_shutdown"
    }
    stored = stored_runs(store)
    assert set(answered) <= set(stored)  # every 2xx answer was stored
    assert logged
    assert logged <= set(stored)
    assert set(stored) - set(answered) <= logged  # stored but unanswered: logged as such
    assert all(count == SELLERS for count in stored.values())  # none half written
    assert all(count == SELLERS for count in answered.values())
