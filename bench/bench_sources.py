"""Benchmark: read, validate and register a source with ``engine.sources.load_source``.

Generates (once, cached under ``bench/.cache/``) a synthetic marketplace with
``engine.generate.generate`` in each format asked for (every event table
present, the default share of broken rows), then times ``load_source`` into a
fresh in-memory DuckDB connection, one format per child process so that each
peak RSS (``ru_maxrss``) is that format's own. The Parquet source of
``bench/bench_metrics.py`` is reused when it exists (it has no broken rows).

Prints orders/s, wall and process CPU seconds (every thread of DuckDB), event
rows, rejects and peak memory; never asserts on time. Parquet is read in place
(views over the files) unless ``--materialize`` copies it like the text formats.
Run small with ``python bench/bench_sources.py --sellers 1000 --orders 100000``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from benchkit import peak_rss_mb, source_dir

from sellerpolicy.engine.sources.reader import load_source


def measure(folder: Path, fmt: str, threads: int | None, materialize: bool) -> None:
    """Load ``folder`` once into a fresh connection and print the figures."""
    with duckdb.connect() as con:
        if threads is not None:
            con.execute(f"SET threads = {threads}")
        started, cpu = time.perf_counter(), time.process_time()
        report = load_source(folder, con, materialize=materialize)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    orders = report.rows_read["orders"]
    events = sum(n for t, n in report.rows_read.items() if t != "orders")
    print(
        f"{fmt:8} {orders:>12,} orders + {events:>11,} event rows in {seconds:6.2f} s"
        f" (CPU {cpu:5.2f} s) = {orders / seconds:>12,.0f} orders/s;"
        f" {report.reject_count:,} rejects;"
        f" peak RSS {peak_rss_mb():,.0f} MiB",
        flush=True,
    )


def main() -> None:
    """Parse the arguments; measure each format in its own child process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sellers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--formats", default="parquet,csv", help="comma-separated")
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads")
    parser.add_argument(
        "--materialize", action="store_true", help="copy Parquet tables instead of views"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        measure(Path(args.child), args.formats, args.threads, args.materialize)
        return
    for fmt in args.formats.split(","):
        folder = source_dir(args.sellers, args.orders, args.seed, fmt)
        command = [sys.executable, __file__, "--child", str(folder), "--formats", fmt]
        if args.threads is not None:
            command += ["--threads", str(args.threads)]
        if args.materialize:
            command.append("--materialize")
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
