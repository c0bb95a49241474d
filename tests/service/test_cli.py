"""The service's commands: keys create / list / revoke (the key is printed once,
stored hashed, and stops working when revoked) and serve (a real uvicorn process)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import app
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import KeyStore, Role, hash_key
from sellerpolicy.engine.store.packs import PackStore


def test_keys_lifecycle_on_the_command_line(tmp_path: Path) -> None:
    """create prints a key that authenticates with its role; list never shows it; the store
    keeps only its hash; revoke makes it fail; both are audited; an unknown role is a
    usage error."""
    db = str(tmp_path / "keys.db")
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--role", "editor", "--store", db])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("spk_")
    with DecisionStore(db) as store:
        keys = KeyStore(store.engine, store.where)
        record = keys.authenticate(key)
        assert record is not None
        assert record.role is Role.EDITOR
        with store.engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT hash FROM api_keys").scalars().all()
        assert stored == [hash_key(key)]
    listed = runner.invoke(app, ["keys", "list", "--store", db])
    assert record.id in listed.stdout
    assert key not in listed.stdout
    revoked = runner.invoke(app, ["keys", "revoke", record.id, "--store", db])
    assert revoked.exit_code == 0
    with DecisionStore(db) as store:
        assert KeyStore(store.engine, store.where).authenticate(key) is None
        trail = PackStore(store.engine, store.where).audit(f"key:{record.id}")
        assert [entry.action for entry in trail] == ["key_create", "key_revoke"]
        assert all(entry.actor.startswith("cli") for entry in trail)
    bad = runner.invoke(app, ["keys", "create", "--role", "root", "--store", db])
    assert bad.exit_code == 2
    assert "reader, evaluator, editor, admin" in bad.output


def test_serve_runs_the_service_on_a_free_port(tmp_path: Path) -> None:
    """`sellerpolicy serve` starts uvicorn on the store: /readyz answers once the
    shipped packs are imported, and a key created beforehand authenticates."""
    db = str(tmp_path / "serve.db")
    key = CliRunner().invoke(app, ["keys", "create", "--role", "reader", "--store", db]).stdout
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = str(Path(sys.executable).with_name("sellerpolicy"))
    command = [exe, "serve", "--port", str(port), "--store", db, "--no-access-log"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert ready.json()["active_packs"] >= 5
        headers = {"Authorization": f"Bearer {key.strip()}"}
        packs = httpx.get(f"{base}/v1/packs", headers=headers, timeout=5)
        assert packs.status_code == 200
        assert httpx.get(f"{base}/v1/packs", timeout=5).status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=30)
