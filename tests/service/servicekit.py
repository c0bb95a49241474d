"""Helpers of the service tests: the running service, a PostgreSQL schema per use,
a clock the tests move, and a small test pack (with fixtures) derived from a shipped one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sellerpolicy.engine.service.app import Settings, create_app
from sellerpolicy.engine.service.state import ServiceState
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.migrations.schema import decisions_table
from sellerpolicy.rules import resolve_pack

BASE_PACK = "walmart-seller-performance"
BASE_VERSION = "2026.12.1"
#: An as_of later than every activation the tests make: evaluating a pack id for it
#: uses the version active now (an earlier as_of uses the version active back then).
LATER_AS_OF = "2100-01-01"
#: Where the clock of a clocked service (conftest ``clocked``) starts.
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Service:
    """A running app (in process), its state and a key per role."""

    client: TestClient
    state: ServiceState
    keys: dict[Role, str]
    backend: str

    def auth(self, role: Role) -> dict[str, str]:
        """The Authorization header of the key of ``role``."""
        return {"Authorization": f"Bearer {self.keys[role]}"}


def pack_text(pack_id: str, version: str) -> str:
    """The shipped Walmart pack's YAML under another id and version."""
    text_ = resolve_pack("walmart").read_text(encoding="utf-8")
    return text_.replace(f"id: {BASE_PACK}", f"id: {pack_id}").replace(
        f"version: {BASE_VERSION}", f"version: {version}"
    )


def fixture_texts(pack_id: str) -> list[str]:
    """The shipped Walmart pack's fixture files, naming ``pack_id``."""
    folder = resolve_pack("walmart").parent / "tests"
    return [
        path.read_text(encoding="utf-8").replace(BASE_PACK, pack_id)
        for path in sorted(folder.glob("*.yaml"))
    ]


def healthy_facts() -> dict[str, float | int]:
    """Facts of a healthy seller under the Walmart pack."""
    return {
        "orders": 1200,
        "cancellation_rate": 0.01,
        "cancellation_rate__num": 12,
        "cancellation_rate__den": 1200,
    }


class MovableClock:
    """A clock for the service that stands still until a test moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def move_to(self, when: datetime) -> None:
        """From now on the service's time is ``when``."""
        self.now = when


def upload_approved(service: Service, pack_id: str, *versions: str) -> None:
    """Upload versions of ``pack_id`` (editor key), each approved by the admin key."""
    for version in versions:
        body = {"content": pack_text(pack_id, version)}
        created = service.client.post("/v1/packs", json=body, headers=service.auth(Role.EDITOR))
        assert created.status_code == 201, created.text
        approved = service.client.post(
            f"/v1/packs/{pack_id}/versions/{version}/approve",
            json={"comment": f"{version} reviewed"},
            headers=service.auth(Role.ADMIN),
        )
        assert approved.status_code == 201, approved.text


def evaluate_twice(service: Service, body: dict[str, Any]) -> list[Any]:
    """Two evaluations of ``body`` (new seller ids each time) by the evaluator key: the
    first authenticates on the regular route, the second takes the fast path."""
    answers = []
    for _ in range(2):
        sellers = [
            {**seller, "seller_id": f"{seller['seller_id']}-{uuid.uuid4().hex[:8]}"}
            for seller in body.get("sellers", ())
        ]
        request = {**body, "sellers": sellers} if sellers else body
        answers.append(
            service.client.post(
                "/v1/evaluations", json=request, headers=service.auth(Role.EVALUATOR)
            )
        )
    return answers


def start_service(
    settings: Settings, backend: str, clock: MovableClock | None = None
) -> Iterator[Service]:
    """The app on ``settings`` (and ``clock``) behind a test client, with a key per role."""
    app = create_app(settings, clock=clock)
    state: ServiceState = app.state.service
    keys = {role: state.keys.create(role, actor="test")[1] for role in Role}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Service(client, state, keys, backend)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_process(store: str, port: int) -> subprocess.Popen[bytes]:
    """A real ``sellerpolicy serve`` process on 127.0.0.1:``port``, once it is ready."""
    exe = str(Path(sys.executable).with_name("sellerpolicy"))
    command = [exe, "serve", "--port", str(port), "--store", store, "--no-access-log"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=30)
            raise RuntimeError(f"sellerpolicy serve on port {port} did not become ready")
        time.sleep(0.1)


def start_serve(
    store: str, port: int, *options: str, log: Path | None = None, wait: bool = True
) -> subprocess.Popen[bytes]:
    """``sellerpolicy serve`` with more ``options`` (its log to ``log``), ready unless not ``wait``.

    Unlike :func:`serve_process` the caller sees the process's log: its
    stdout and stderr go to ``log`` (or nowhere).
    """
    exe = str(Path(sys.executable).with_name("sellerpolicy"))
    command = [exe, "serve", "--port", str(port), "--store", store, "--no-access-log", *options]
    sink = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    finally:
        if log is not None:
            sink.close()  # type: ignore[union-attr]
    if wait:
        wait_ready(process, port)
    return process


def wait_ready(process: subprocess.Popen[bytes], port: int, seconds: float = 60) -> None:
    """Wait until ``/readyz`` on ``port`` answers 200; kill ``process`` if it never does."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=30)
            raise RuntimeError(f"sellerpolicy serve on port {port} did not become ready")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], seconds: float = 60) -> int:
    """SIGTERM ``process`` and wait for it (killed after ``seconds``): its exit code."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=30)


def stored_runs(store: str, schema: str | None = None) -> dict[str, int]:
    """Decisions stored per run id in ``store`` (a SQLite path or a URL)."""
    with DecisionStore(store, schema=schema) as opened, opened.engine.connect() as connection:
        run_id = decisions_table.c.run_id
        rows = connection.execute(select(run_id, func.count()).group_by(run_id))
        return {row[0]: row[1] for row in rows}
