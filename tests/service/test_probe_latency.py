"""/healthz is answered promptly while a 10,000-seller evaluation runs: the large request
is parsed, decided, stored and encoded off the server's event loop, and that work leaves
the loop its turns (a real ``sellerpolicy serve`` process on 127.0.0.1, raw sockets)."""

from __future__ import annotations

import json
import random
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from servicekit import free_port, serve_process

from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import KeyStore, Role

PACK = "walmart-seller-performance"
SELLERS = 10_000
PROBE_GAP = 0.005  # seconds between the end of one probe and the next
DEADLINE = 120.0  # seconds: the whole exchange, start-up excluded


@dataclass
class Server:
    port: int
    key: str


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``sellerpolicy serve`` on a fresh SQLite store and a free loopback port."""
    db = str(tmp_path / "probe.db")
    with DecisionStore(db) as store:
        key = KeyStore(store.engine, store.where).create(Role.EVALUATOR, actor="test")[1]
    port = free_port()
    process = serve_process(db, port)
    try:
        yield Server(port, key)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def _post(key: str, body: bytes) -> bytes:
    head = (
        "POST /v1/evaluations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _read_response(sock: socket.socket, first: bytes = b"") -> bytes:
    """One whole HTTP/1.1 response (its ``Content-Length`` body) from a keep-alive socket."""
    data = bytearray(first)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, _ = bytes(data).partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    total = len(head) + 4 + length
    while len(data) < total:
        chunk = sock.recv(1 << 20)
        assert chunk, "the server closed the connection"
        data += chunk
    return bytes(data)


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    return _read_response(sock)


def _body(sellers: int, prefix: str) -> bytes:
    rng = random.Random(7)
    items = []
    for index in range(sellers):
        orders = rng.randint(200, 3000)
        cancels = rng.randint(0, orders // 40)
        facts = {
            "orders": orders,
            "cancellation_rate": cancels / orders,
            "cancellation_rate__num": cancels,
            "cancellation_rate__den": orders,
        }
        items.append({"seller_id": f"{prefix}-{index}", "facts": facts})
    return json.dumps({"pack": PACK, "as_of": "2026-11-01", "sellers": items}).encode()


@dataclass
class _Large:
    """The large request's timeline (``time.monotonic``) and its answer."""

    sent: float = 0.0  # its last byte was handed to the kernel
    first_byte: float = 0.0  # the first byte of the answer arrived
    answer: bytes = b""
    errors: list[BaseException] = field(default_factory=list)


def test_healthz_answers_within_50ms_during_a_10000_seller_evaluation(server: Server) -> None:
    """While one 10,000-seller evaluation (metric facts, ~1.5 MB in, ~25 MB out) is sent,
    decided, stored and answered, a client polls /healthz on another connection every
    5 ms. Measured client-side on loopback: the median probe takes at most 10 ms, at most
    1% of the probes (and at most 2) take over 50 ms, and none over 150 ms: this machine
    is shared, so a bound on every probe at 50 ms would fail on the scheduler's noise,
    not on the service; before the fix, full garbage collections (60-75 ms each), the
    JSON parsing and the worker thread's hold on the interpreter lock stalled the loop
    several times per request for 50-180 ms. The probes overlap the work: at least 20
    of them were sent after the last byte of the request and answered before the first
    byte of its answer."""
    key = server.key
    address = ("127.0.0.1", server.port)
    with socket.create_connection(address) as warm:  # pack compiled, key remembered
        warmed = _exchange(warm, _post(key, _body(100, "warm")))
        assert warmed.startswith(b"HTTP/1.1 200"), warmed[:300]
    large = _Large()
    request = _post(key, _body(SELLERS, "big"))

    def send_large() -> None:
        try:
            with socket.create_connection(address) as sock:
                sock.sendall(request)
                large.sent = time.monotonic()
                first = sock.recv(65536)
                large.first_byte = time.monotonic()
                large.answer = _read_response(sock, first)
        except BaseException as exc:  # reported by the test thread
            large.errors.append(exc)

    sender = threading.Thread(target=send_large)
    probes: list[tuple[float, float]] = []  # (sent at, seconds to answer)
    deadline = time.monotonic() + DEADLINE
    with socket.create_connection(address) as probe:
        probe.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sender.start()
        while sender.is_alive() and time.monotonic() < deadline:
            began = time.monotonic()
            answered = _exchange(probe, _get("/healthz"))
            probes.append((began, time.monotonic() - began))
            assert answered.startswith(b"HTTP/1.1 200"), answered
            time.sleep(PROBE_GAP)
    sender.join(timeout=max(deadline - time.monotonic(), 1.0))
    assert not sender.is_alive(), "the large evaluation did not finish in time"
    assert large.errors == []
    head, _, content = large.answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), large.answer[:500]
    assert len(json.loads(content)["decisions"]) == SELLERS

    inside = [
        seconds
        for began, seconds in probes
        if large.sent <= began and began + seconds <= large.first_byte
    ]
    assert len(inside) >= 20, (len(inside), large.first_byte - large.sent)
    milliseconds = sorted(seconds * 1000 for _, seconds in probes)
    slow = [ms for ms in milliseconds if ms > 50]
    summary = (
        f"{len(milliseconds)} probes ({len(inside)} while deciding): median "
        f"{statistics.median(milliseconds):.1f} ms, max {milliseconds[-1]:.1f} ms, "
        f"{len(slow)} over 50 ms"
    )
    print(summary)
    assert statistics.median(milliseconds) <= 10, summary
    assert len(slow) <= min(2, len(milliseconds) // 100), summary
    assert milliseconds[-1] <= 150, summary
