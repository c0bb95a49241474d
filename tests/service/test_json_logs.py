"""Correlation ids and ``sellerpolicy serve --log-format json``.

Every answer carries ``X-Request-ID``: the one the client sent when it is a
sane token, else a fresh id. Under ``--log-format json`` every line a real
``serve`` process writes on stderr is one JSON object: uvicorn's access lines
(``method``, ``path``, ``status``) and error log, and the service's own
events, a request's all carrying its ``correlation_id``, which equals the
answer's ``X-Request-ID``. ``--workers N`` keeps all of that; the default
(``console``) keeps uvicorn's own lines.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pgkit import fresh_postgres_database
from servicekit import free_port, healthy_facts, stop, wait_ready

from sellerpolicy.engine.logs import LogFormat, configure_logging
from sellerpolicy.engine.service.app import Settings, create_app
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import KeyStore, Role

EXE = str(Path(sys.executable).with_name("sellerpolicy"))
PACK = "walmart-seller-performance"
#: Fresh correlation ids: 32 hex digits.
FRESH = 32


def _serve(store: str, port: int, *options: str) -> subprocess.Popen[bytes]:
    """``sellerpolicy serve`` (access log on), stdout and stderr kept apart, once ready."""
    command = [EXE, "serve", "--port", str(port), "--store", store, *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_ready(process, port)
    return process


def _finish(process: subprocess.Popen[bytes]) -> tuple[str, list[dict[str, Any]]]:
    """Wait for the process to end: its stdout, and its stderr with every line parsed as JSON."""
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=30)
    lines = err.decode().splitlines()
    assert lines
    events = []
    for line in lines:
        event = json.loads(line)  # fails the test on any line that is not JSON
        assert isinstance(event, dict), line
        assert {"event", "level", "timestamp", "logger"} <= set(event), line
        events.append(event)
    return out.decode(), events


def _evaluation() -> dict[str, Any]:
    seller = {"seller_id": f"J-{uuid.uuid4().hex[:8]}", "facts": healthy_facts()}
    return {"pack": PACK, "as_of": "2026-11-01", "sellers": [seller]}


def _key(store: str, role: Role) -> str:
    with DecisionStore(store) as opened:
        return KeyStore(opened.engine, opened.where).create(role, actor="test")[1]


def _access(events: list[dict[str, Any]], correlation_id: str) -> dict[str, Any]:
    """The one access line of the request ``correlation_id``."""
    (line,) = [
        e
        for e in events
        if e["logger"] == "uvicorn.access" and e.get("correlation_id") == correlation_id
    ]
    return line


def test_json_logs_of_a_real_process_carry_each_requests_correlation_id(
    tmp_path: Path,
) -> None:
    store = str(tmp_path / "json.db")
    key = {"Authorization": f"Bearer {_key(store, Role.EVALUATOR)}"}
    port = free_port()
    process = _serve(store, port, "--log-format", "json", "--drain-seconds", "3")
    base = f"http://127.0.0.1:{port}"
    try:
        chosen = httpx.get(f"{base}/healthz", headers={"X-Request-ID": "probe-1.a:b_c"})
        fresh = httpx.get(f"{base}/healthz")
        missing = httpx.get(f"{base}/no/such/path", headers={"X-Request-ID": "lost-404"})
        insane = httpx.get(f"{base}/healthz", headers={"X-Request-ID": "x" * 129})
        evaluated = httpx.post(
            f"{base}/v1/evaluations",
            json=_evaluation(),
            headers={**key, "X-Request-ID": "eval-1"},
        )
        assert evaluated.status_code == 200, evaluated.text
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while httpx.get(f"{base}/readyz").status_code != 503:  # draining, still serving
            assert time.monotonic() < deadline
            time.sleep(0.05)
        late = httpx.post(
            f"{base}/v1/evaluations",
            json=_evaluation(),
            headers={**key, "X-Request-ID": "late-1"},
        )
        assert late.status_code == 200, late.text
    finally:
        stop(process)
    out, events = _finish(process)
    assert out == ""
    assert chosen.headers["x-request-id"] == "probe-1.a:b_c"
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "lost-404"
    for generated in (fresh, insane):
        assert len(generated.headers["x-request-id"]) == FRESH
    assert fresh.headers["x-request-id"] != insane.headers["x-request-id"]
    answers = [
        (chosen, "GET", "/healthz"),
        (fresh, "GET", "/healthz"),
        (missing, "GET", "/no/such/path"),
        (insane, "GET", "/healthz"),
        (evaluated, "POST", "/v1/evaluations"),
        (late, "POST", "/v1/evaluations"),
    ]
    for answer, method, path in answers:
        line = _access(events, answer.headers["x-request-id"])
        assert (line["method"], line["path"], line["status"]) == (
            method,
            path,
            answer.status_code,
        )
        assert line["event"] == "http_request"
        assert line["level"] == "info"
    # the service's own event during that request carries the same id as its access line
    (stored,) = [e for e in events if e["event"] == "stored_during_shutdown"]
    assert stored["correlation_id"] == "late-1"
    assert stored["run_id"] == late.json()["run_id"]
    assert stored["logger"] == "sellerpolicy"
    # uvicorn's error log is JSON too; lines outside a request carry no id
    started = [e for e in events if e["event"].startswith("Uvicorn running on")]
    assert [e["logger"] for e in started] == ["uvicorn.error"]
    assert "correlation_id" not in started[0]
    assert any(e["event"] == "draining" and "correlation_id" not in e for e in events)


def test_the_default_log_format_keeps_uvicorns_lines(tmp_path: Path) -> None:
    """Without --log-format (console) uvicorn writes its own lines, as before: not JSON
    (its access lines on stdout, the rest on stderr)."""
    port = free_port()
    process = _serve(str(tmp_path / "console.db"), port)
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "c-1"})
        assert answer.headers["x-request-id"] == "c-1"
    finally:
        stop(process)
    out, err = process.communicate(timeout=60)
    text = err.decode()
    assert "INFO:     Uvicorn running on" in text
    assert '"GET /healthz HTTP/1.1" 200' in out.decode()  # uvicorn's access lines: stdout


@pytest.fixture
def database() -> Iterator[str]:
    yield from fresh_postgres_database("sp_jsonlogs")


@pytest.mark.postgres
def test_json_logs_with_two_workers(database: str) -> None:
    """--workers 2 --log-format json: each worker's access lines are JSON with the ids."""
    port = free_port()
    process = _serve(database, port, "--workers", "2", "--log-format", "json")
    ids = [f"w-{index}" for index in range(8)]
    try:
        for request_id in ids:
            headers = {"X-Request-ID": request_id, "Connection": "close"}
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", headers=headers)
            assert answer.headers["x-request-id"] == request_id
    finally:
        stop(process)
    _, events = _finish(process)
    for request_id in ids:
        line = _access(events, request_id)
        assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    started = [e["event"] for e in events if e["event"].startswith("Started server process")]
    assert len(started) == 2


@pytest.fixture
def failing_app(tmp_path: Path) -> Iterator[TestClient]:
    """An app (in process) with a route that fails."""
    app = create_app(Settings(store_url=str(tmp_path / "fails.db")))

    def boom() -> None:
        raise RuntimeError("the secret is hunter2")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_500_problem_quotes_the_requests_correlation_id(
    failing_app: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 500 problem, its headers and its log line all name the request's id."""
    configure_logging(LogFormat.JSON)
    answer = failing_app.get("/boom", headers={"X-Request-ID": "req-500"})
    assert answer.status_code == 500
    assert answer.json()["correlation_id"] == "req-500"
    assert answer.headers["x-correlation-id"] == "req-500"
    assert answer.headers["x-request-id"] == "req-500"
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    (error,) = [e for e in logged if e["event"] == "unhandled_error"]
    assert error["correlation_id"] == "req-500"
    assert "hunter2" not in json.dumps(logged)


@pytest.mark.parametrize(
    "sent",
    ["", "has space", "x" * 129, 'quote"d', "semi;colon", "caf\u00e9", "a/b", "{json}"],
)
def test_an_unfit_request_id_is_replaced(failing_app: TestClient, sent: str) -> None:
    """Empty, too long, or outside [A-Za-z0-9._:-]: a fresh id, never an echo."""
    answer = failing_app.get("/healthz", headers={"X-Request-ID": sent.encode()})
    echoed = answer.headers["x-request-id"]
    assert echoed != sent
    assert len(echoed) == FRESH
    assert all(c in "0123456789abcdef" for c in echoed)


def test_the_longest_fit_request_id_is_echoed(failing_app: TestClient) -> None:
    sent = "A-z_0.9:" * 16  # 128 characters
    answer = failing_app.get("/v1/none", headers={"X-Request-ID": sent})
    assert answer.headers["x-request-id"] == sent
