"""Benchmarks of the evaluation service and of the decision store.

``python bench/bench_service.py http``: starts ``sellerpolicy serve`` as a
second process on 127.0.0.1 (a free port, a fresh SQLite store or
``--store URL``), creates an evaluator key, then sends single-seller
evaluations (metric facts, the Walmart pack) from this process at a fixed
target rate with at most ``--concurrency`` in flight (default 200
requests/s for 20 s, 32 connections), and prints throughput and
p50/p90/p99/max latency, then the CPU the server and this client spent per
request and how many cores *other* processes kept busy meanwhile (a
non-zero figure means the numbers are not from a quiet machine).
``--repeat N`` runs N timed loads on the same server.

Latency is measured from each request's scheduled start (open loop), so a
stalled server cannot hide its queueing delay. The default client
(``--client raw``) writes pre-built HTTP/1.1 requests on keep-alive
sockets and reads the answers with asyncio streams: about 0.25 ms of CPU a
request, where ``--client httpx`` (``httpx.AsyncClient``) costs about 2 ms,
enough on a 2-core machine to measure the client instead of the server.
Loopback only; bounded in count and time.

``python bench/bench_service.py ramp --store postgresql+psycopg://...``: the
overload benchmark. For each worker count (``--workers 1 2``) it starts
``sellerpolicy serve --workers N`` on a fresh PostgreSQL database (created
beside the one in the URL, dropped after), then sends an open-loop load at
rising rates (``--rates``, default 200 to 2,000 requests/s, ``--seconds``
10 each) over up to ``--concurrency`` connections (default 256), and prints
for each rate: the rate served (2xx per second), how many requests were shed
(503) and how fast (p99), and p50/p99 of the answered ones, measured from
each request's scheduled start.

``python bench/bench_service.py asgi [--requests N] [--gap-ms G]``: the same
requests sent one at a time straight to the ASGI app in this process (no
sockets, no uvicorn; a fresh SQLite store), printing the CPU time per
request (``time.process_time``, all threads): a figure other processes on
the machine barely move, to compare the service's own cost before and after
a change. ``--gap-ms`` idles between requests as the 200/s load does (caches
go cold: each request then costs more).

``python bench/bench_service.py store [--store URL]``: appends one batch of
decisions (default 20,000 sellers, the amazon pack) to a fresh store and
prints decisions/s for building the records (``DecisionRecord.of``, which
encodes the JSON) and for ``DecisionStore.append``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import httpx

from sellerpolicy.engine.metrics.facts import SellerFacts, as_of_instant

PACK = "walmart-seller-performance"  # the facts below are its metric facts
_WARMUP = 64  # requests before the timed load (pack compiled, connections and caches warm)
_LOWER_BOUND = ("valid_tracking_rate", "on_time_delivery_rate", "message_response_rate")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _facts(rng: random.Random) -> dict[str, float | int]:
    orders = rng.randint(200, 3000)
    cancels = rng.randint(0, orders // 40)
    return {
        "orders": orders,
        "cancellation_rate": cancels / orders,
        "cancellation_rate__num": cancels,
        "cancellation_rate__den": orders,
    }


def _bodies(total: int) -> list[bytes]:
    rng = random.Random(7)
    return [
        json.dumps(
            {
                "pack": PACK,
                "as_of": "2026-11-01",
                "sellers": [{"seller_id": f"B-{i}", "facts": _facts(rng)}],
            },
            separators=(",", ":"),
        ).encode()
        for i in range(total)
    ]


def _report(ms: list[float], elapsed: float, errors: int, args: argparse.Namespace) -> None:
    print(
        f"{args.client}: {len(ms)} requests in {elapsed:.1f} s: {len(ms) / elapsed:.1f} req/s "
        f"(target {args.rate:g}/s, concurrency {args.concurrency}), errors {errors}"
    )
    print(
        f"latency ms: p50 {_percentile(ms, 0.5):.2f}  p90 {_percentile(ms, 0.9):.2f}  "
        f"p99 {_percentile(ms, 0.99):.2f}  max {max(ms):.2f}"
    )


async def _load_httpx(port: int, key: str, args: argparse.Namespace) -> None:
    """The load with httpx (heavier on the client: about 1 ms of CPU per request)."""
    total = int(args.rate * args.seconds)
    bodies = _bodies(total)
    latencies: list[float] = []
    errors = 0
    next_index = 0
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers) as client:
        for warm in range(_WARMUP):  # compile the pack, warm connections
            await client.post("/v1/evaluations", content=bodies[warm % total])
        start = time.perf_counter()

        async def worker() -> None:
            nonlocal next_index, errors
            while next_index < total:
                index = next_index
                next_index += 1
                scheduled = start + index / args.rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                response = await client.post("/v1/evaluations", content=bodies[index])
                latencies.append(time.perf_counter() - scheduled)
                if response.status_code != 200:
                    errors += 1

        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(args.concurrency))),
            timeout=args.seconds * 3 + 30,
        )
        elapsed = time.perf_counter() - start
    _report([x * 1000 for x in latencies], elapsed, errors, args)


class _Connection:
    """One keep-alive HTTP/1.1 connection: send pre-built request bytes, read one answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> int:
        """Send one request and read its whole answer; the status code."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                raise SystemExit("the bench client reads Content-Length answers only")
        await self.reader.readexactly(length)
        return status


async def _load_raw(port: int, key: str, args: argparse.Namespace) -> None:
    """The load over raw keep-alive sockets with pre-built request bytes (a light client)."""
    total = int(args.rate * args.seconds)
    head = (
        "POST /v1/evaluations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        "Content-Length: {length}\r\n\r\n"
    )
    requests = [
        head.format(port=port, key=key, length=len(body)).encode() + body for body in _bodies(total)
    ]
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(args.concurrency):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connection = _Connection(reader, writer)
        for warm in range(_WARMUP // args.concurrency + 1):  # compile the pack, warm up
            await connection.exchange(requests[warm % total])
        idle.put_nowait(connection)
    latencies = [0.0] * total
    statuses = [0] * total

    async def one(index: int, scheduled: float) -> None:
        connection = await idle.get()  # a free connection (more wait: counted as latency)
        statuses[index] = await connection.exchange(requests[index])
        latencies[index] = time.perf_counter() - scheduled
        idle.put_nowait(connection)

    tasks = []
    start = time.perf_counter()
    for index in range(total):
        scheduled = start + index / args.rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, scheduled)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.seconds * 2 + 30)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().writer.close()
    errors = sum(1 for status in statuses if status != 200)
    _report([x * 1000 for x in latencies], elapsed, errors, args)


async def _load_open(
    port: int, key: str, rate: float, seconds: float, connections: int
) -> tuple[list[int], list[float], float]:
    """An open-loop load at ``rate``: each request's status and latency (s), and the time taken.

    A request starts at its scheduled instant on an idle connection, or on a
    new one while fewer than ``connections`` are open; otherwise it waits for
    one (counted in its latency). A connection the server closed is replaced.
    """
    total = int(rate * seconds)
    head = (
        "POST /v1/evaluations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        "Content-Length: {length}\r\n\r\n"
    )
    requests = [
        head.format(port=port, key=key, length=len(body)).encode() + body for body in _bodies(total)
    ]
    idle: list[_Connection] = []
    opened = 0
    freed = asyncio.Condition()
    latencies = [0.0] * total
    statuses = [0] * total

    async def connection() -> _Connection:
        nonlocal opened
        async with freed:
            while not idle and opened >= connections:
                await freed.wait()
            if idle:
                return idle.pop()
            opened += 1
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return _Connection(reader, writer)

    async def one(index: int, scheduled: float) -> None:
        nonlocal opened
        chosen = await connection()
        try:
            statuses[index] = await chosen.exchange(requests[index])
            kept = True
        except (OSError, asyncio.IncompleteReadError):
            statuses[index], kept = -1, False
        latencies[index] = time.perf_counter() - scheduled
        async with freed:
            if kept:
                idle.append(chosen)
            else:
                opened -= 1
            freed.notify()

    tasks = []
    start = time.perf_counter()
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, scheduled)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds * 3 + 60)
    elapsed = time.perf_counter() - start
    for chosen in idle:
        chosen.writer.close()
    return statuses, latencies, elapsed


def run_ramp(args: argparse.Namespace) -> None:
    """Rising open-loop rates against 1 and 2 workers on PostgreSQL: served, shed, p50/p99."""
    if not args.store.startswith("postgresql"):
        raise SystemExit("ramp needs --store postgresql+psycopg://... (workers need PostgreSQL)")
    exe = [str(Path(sys.executable).with_name("sellerpolicy"))]
    print(
        f"{'workers':>7} {'offered/s':>9} {'served/s':>9} {'shed':>6} {'shed p99 ms':>11} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'other':>5}",
        flush=True,
    )
    for workers in args.workers:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        admin = args.store  # CREATE DATABASE runs from the database given
        _pg(admin, f'CREATE DATABASE "{name}"', autocommit=True)
        store = args.store.rsplit("/", 1)[0] + f"/{name}"
        try:
            key = subprocess.run(
                [*exe, "keys", "create", "--role", "evaluator", "--store", store],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            port = _free_port()
            command = [*exe, "serve", "--port", str(port), "--store", store, "--no-access-log"]
            server = subprocess.Popen(
                [*command, "--workers", str(workers)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                _wait_ready(server, port)
                asyncio.run(_load_open(port, key, 100, 2, 16))  # warm up: keys, packs, pools
                for rate in args.rates:
                    _ramp_step(workers, port, key, rate, args)
            finally:
                server.terminate()
                server.wait(timeout=60)
        finally:
            _pg(admin, f'DROP DATABASE "{name}" WITH (FORCE)', autocommit=True)


def _ramp_step(workers: int, port: int, key: str, rate: float, args: argparse.Namespace) -> None:
    """One rate of the ramp: one line of the table."""
    gc.collect()
    gc.disable()  # a collection in this client would be timed as server latency
    busy_before, wall_before, own_before = _machine_busy(), time.monotonic(), time.process_time()
    try:
        statuses, latencies, elapsed = asyncio.run(
            _load_open(port, key, rate, args.seconds, args.concurrency)
        )
    finally:
        gc.enable()
    wall = time.monotonic() - wall_before
    ok = [x * 1000 for x, s in zip(latencies, statuses, strict=True) if s == 200]
    shed = [x * 1000 for x, s in zip(latencies, statuses, strict=True) if s == 503]
    busy = _machine_busy() - busy_before - (time.process_time() - own_before)
    p50 = f"{_percentile(ok, 0.5):7.1f}" if ok else "      -"
    p99 = f"{_percentile(ok, 0.99):7.1f}" if ok else "      -"
    shed_p99 = f"{_percentile(shed, 0.99):11.1f}" if shed else "          -"
    others = sum(1 for s in statuses if s not in (200, 503))
    print(
        f"{workers:>7} {rate:>9g} {len(ok) / elapsed:>9.0f} {len(shed):>6} {shed_p99} "
        f"{p50} {p99} {others:>5}  (cores busy besides this client: {busy / wall:.2f})",
        flush=True,
    )


def _wait_ready(server: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("the server did not become ready")
        time.sleep(0.2)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    """CPU seconds all cores spent on anything but idling, since boot (Linux ``/proc``)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _measured(pid: int, port: int, key: str, args: argparse.Namespace) -> None:
    """One timed load; then the CPU it cost the server and this client, and what else ran."""
    load = _load_raw if args.client == "raw" else _load_httpx
    server_before = _cpu_seconds(pid)
    client_before = time.process_time()
    busy_before, wall_before = _machine_busy(), time.monotonic()
    gc.collect()
    gc.disable()  # a collection in this client would be timed as server latency
    try:
        asyncio.run(load(port, key, args))
    finally:
        gc.enable()
    server_cpu = _cpu_seconds(pid) - server_before
    client_cpu = time.process_time() - client_before
    others = _machine_busy() - busy_before - server_cpu - client_cpu
    total = int(args.rate * args.seconds) + _WARMUP
    print(
        f"CPU per request (warm-up included): server {server_cpu / total * 1000:.2f} ms, "
        f"client {client_cpu / total * 1000:.2f} ms; other processes kept "
        f"{max(others, 0) / (time.monotonic() - wall_before):.2f} cores busy",
        flush=True,
    )


def run_http(args: argparse.Namespace) -> None:
    """Start the server, create a key, drive the load, stop the server."""
    with tempfile.TemporaryDirectory(prefix="bench-service-") as folder:
        store = args.store or str(Path(folder) / "bench.db")
        exe = [str(Path(sys.executable).with_name("sellerpolicy"))]
        key = subprocess.run(
            [*exe, "keys", "create", "--role", "evaluator", "--store", store],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        port = _free_port()
        server = subprocess.Popen(
            [
                *exe,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--store",
                store,
                "--no-access-log",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not become ready")
                time.sleep(0.2)
            for _ in range(args.repeat):
                _measured(server.pid, port, key, args)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _scope(key: str, length: int) -> dict[str, object]:
    """The ASGI scope of one evaluation request (as uvicorn builds it)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/evaluations",
        "raw_path": b"/v1/evaluations",
        "query_string": b"",
        "root_path": "",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(length).encode()),
        ],
    }


async def _asgi_loop(args: argparse.Namespace, folder: str) -> None:
    # Imported here: the HTTP client process of ``http`` stays small.
    from sellerpolicy.engine.service.app import Settings, create_app  # noqa: PLC0415
    from sellerpolicy.engine.store.keys import Role  # noqa: PLC0415

    app = create_app(Settings(store_url=str(Path(folder) / "asgi.db")))
    key = app.state.service.keys.create(Role.EVALUATOR, actor="bench")[1]
    bodies = _bodies(args.requests + _WARMUP)

    async def request(body: bytes) -> int:
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status = 0

        async def receive() -> dict[str, object]:
            if messages:
                return messages.pop()
            await asyncio.sleep(3600)  # the client never disconnects
            return {"type": "http.disconnect"}

        async def send(message: dict[str, object]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(str(message["status"]))

        await app(_scope(key, len(body)), receive, send)  # type: ignore[arg-type]
        return status

    async with app.router.lifespan_context(app):
        for body in bodies[:_WARMUP]:  # compile the pack, remember the key
            if await request(body) != 200:
                raise SystemExit("the warm-up request failed")
        gc.collect()
        gc.freeze()  # as sellerpolicy serve does
        gap = args.gap_ms / 1000
        errors = 0
        began_cpu, began = time.process_time(), time.perf_counter()
        for body in bodies[_WARMUP:]:
            errors += await request(body) != 200
            if gap:
                time.sleep(gap)  # idle, as between requests of a 200/s load
        cpu, wall = time.process_time() - began_cpu, time.perf_counter() - began
    print(
        f"asgi: {args.requests} requests, errors {errors}: CPU {cpu / args.requests * 1000:.3f} "
        f"ms per request (wall {(wall - gap * args.requests) / args.requests * 1000:.3f} ms "
        f"without the gaps), gap {args.gap_ms:g} ms"
    )


def run_asgi(args: argparse.Namespace) -> None:
    """Single-seller evaluations straight through the ASGI app; CPU per request."""
    with tempfile.TemporaryDirectory(prefix="bench-asgi-") as folder:
        asyncio.run(_asgi_loop(args, folder))


def run_store(args: argparse.Namespace) -> None:
    """Append one batch of decisions to a fresh store; print the rates."""
    # Imported here: the HTTP client process stays small (no pandas, DuckDB...).
    from sellerpolicy.engine.evaluation.evaluate import evaluate  # noqa: PLC0415
    from sellerpolicy.engine.evaluation.levels import ExplainLevel  # noqa: PLC0415
    from sellerpolicy.engine.store.decisions import DecisionStore  # noqa: PLC0415
    from sellerpolicy.engine.store.records import DecisionRecord  # noqa: PLC0415
    from sellerpolicy.rules import load_pack  # noqa: PLC0415

    pack = load_pack("amazon")
    rng = random.Random(1)
    facts = []
    for i in range(args.sellers):
        values: dict[str, float | int | None] = {"orders": 2000}
        for use in pack.metrics:
            den = rng.randint(100, 3000)
            num = rng.randint(0, den // 100) if rng.random() < 0.9 else rng.randint(0, den // 15)
            num = den - num if use.name in _LOWER_BOUND else num
            values |= {use.name: num / den, f"{use.name}__num": num, f"{use.name}__den": den}
        facts.append(SellerFacts(f"S{i}", as_of_instant(date(2026, 11, 1)), values))
    decisions = evaluate(pack, facts, explain=ExplainLevel.NONE)
    began = time.perf_counter()
    records = [DecisionRecord.of(d) for d in decisions]
    built = time.perf_counter() - began
    fired = sum(rule.fired for r in records for rule in r.rules)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        schema = None
        target = args.store or str(Path(folder) / "store.db")
        if args.store and args.store.startswith("postgresql"):
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            _pg(args.store, f'CREATE SCHEMA "{schema}"')
        try:
            with DecisionStore(target, schema=schema) as store:
                began = time.perf_counter()
                store.append(pack, records, run_id=str(uuid.uuid4()))
                appended = time.perf_counter() - began
        finally:
            if schema is not None:
                _pg(args.store, f'DROP SCHEMA "{schema}" CASCADE')
    size = sum(len(r.document_json) for r in records) / len(records)
    print(f"{len(records)} decisions ({fired} firing rules, {size:,.0f} bytes of JSON each)")
    print(f"records (to_json + encode): {len(records) / built:,.0f} decisions/s")
    print(f"append:                     {len(records) / appended:,.0f} decisions/s")


def _pg(url: str, statement: str, *, autocommit: bool = False) -> None:
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    engine = create_engine(url, **options)
    with engine.begin() as connection:
        connection.execute(text(statement))
    engine.dispose()


def main() -> None:
    """Parse the command line and run one benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    http = sub.add_parser("http", help="load-test sellerpolicy serve")
    http.add_argument("--rate", type=float, default=200.0, help="requests per second")
    http.add_argument("--seconds", type=float, default=20.0, help="how long to send")
    http.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    http.add_argument("--store", help="store URL (default: a fresh SQLite file)")
    http.add_argument("--repeat", type=int, default=1, help="timed loads on the same server")
    http.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw: pre-built requests on keep-alive sockets (light); httpx: httpx.AsyncClient",
    )
    ramp = sub.add_parser("ramp", help="rising open-loop rates, 1 and 2 workers (PostgreSQL)")
    ramp.add_argument("--store", required=True, help="a PostgreSQL URL (a database beside it)")
    ramp.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ramp.add_argument(
        "--rates", type=float, nargs="+", default=[200.0, 500.0, 1000.0, 1500.0, 2000.0]
    )
    ramp.add_argument("--seconds", type=float, default=10.0, help="at each rate")
    ramp.add_argument("--concurrency", type=int, default=256, help="connections at most")
    asgi = sub.add_parser("asgi", help="CPU per request through the ASGI app, in process")
    asgi.add_argument("--requests", type=int, default=3000)
    asgi.add_argument("--gap-ms", type=float, default=0.0, help="idle time between requests")
    store = sub.add_parser("store", help="decision store append rate")
    store.add_argument("--sellers", type=int, default=20_000)
    store.add_argument("--store", help="store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    if args.bench == "http":
        args.seconds = min(args.seconds, 120.0)
        args.repeat = max(1, min(args.repeat, 20))
        run_http(args)
    elif args.bench == "ramp":
        args.seconds = min(args.seconds, 60.0)
        args.workers = [max(1, min(w, 8)) for w in args.workers]
        run_ramp(args)
    elif args.bench == "asgi":
        args.requests = max(1, min(args.requests, 100_000))
        run_asgi(args)
    else:
        run_store(args)


if __name__ == "__main__":
    main()
