"""Benchmarks of the evaluation service and of the decision store.

``python bench/bench_service.py http``: starts ``sellerpolicy serve`` as a
second process on 127.0.0.1 (a free port, a fresh SQLite store or
``--store URL``), creates an evaluator key, then sends single-seller
evaluations from this process with httpx (async) at a fixed target rate and
fixed concurrency (default 200 requests/s for 20 s, at most 32 in flight),
and prints throughput and p50/p90/p99/max latency. Latency is measured from
each request's scheduled start (open loop), so a stalled server cannot hide
its queueing delay. Loopback only; bounded in count and time.

``python bench/bench_service.py store [--store URL]``: appends one batch of
decisions (default 20,000 sellers, the amazon pack) to a fresh store and
prints decisions/s for building the records (``DecisionRecord.of``, which
encodes the JSON) and for ``DecisionStore.append``.
"""

from __future__ import annotations

import argparse
import asyncio
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

from sellerpolicy.engine.evaluate import ExplainLevel, evaluate
from sellerpolicy.engine.facts import SellerFacts, as_of_instant
from sellerpolicy.engine.store import DecisionRecord, DecisionStore
from sellerpolicy.rules import load_pack

PACK = "walmart-seller-performance"
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


async def _load(base: str, key: str, rate: float, seconds: float, concurrency: int) -> None:
    total = int(rate * seconds)
    rng = random.Random(7)
    bodies = [
        {
            "pack": PACK,
            "as_of": "2026-11-01",
            "sellers": [{"seller_id": f"B-{i}", "facts": _facts(rng)}],
        }
        for i in range(total)
    ]
    latencies: list[float] = []
    errors = 0
    next_index = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers) as client:
        for warm in range(20):  # compile the pack, warm connections
            await client.post("/v1/evaluations", json=bodies[warm % total])
        start = time.perf_counter()

        async def worker() -> None:
            nonlocal next_index, errors
            while next_index < total:
                index = next_index
                next_index += 1
                scheduled = start + index / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                response = await client.post("/v1/evaluations", json=bodies[index])
                latencies.append(time.perf_counter() - scheduled)
                if response.status_code != 200:
                    errors += 1

        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(concurrency))), timeout=seconds * 3 + 30
        )
        elapsed = time.perf_counter() - start
    ms = [x * 1000 for x in latencies]
    print(
        f"{len(ms)} requests in {elapsed:.1f} s: {len(ms) / elapsed:.1f} req/s "
        f"(target {rate:g}/s, concurrency {concurrency}), errors {errors}"
    )
    print(
        f"latency ms: p50 {_percentile(ms, 0.5):.2f}  p90 {_percentile(ms, 0.9):.2f}  "
        f"p99 {_percentile(ms, 0.99):.2f}  max {max(ms):.2f}"
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
            asyncio.run(_load(base, key, args.rate, args.seconds, args.concurrency))
        finally:
            server.terminate()
            server.wait(timeout=30)


def run_store(args: argparse.Namespace) -> None:
    """Append one batch of decisions to a fresh store; print the rates."""
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


def _pg(url: str, statement: str) -> None:
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    engine = create_engine(url)
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
    store = sub.add_parser("store", help="decision store append rate")
    store.add_argument("--sellers", type=int, default=20_000)
    store.add_argument("--store", help="store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    if args.bench == "http":
        args.seconds = min(args.seconds, 120.0)
        run_http(args)
    else:
        run_store(args)


if __name__ == "__main__":
    main()
