"""Benchmark: importing Amazon's order reports against reading the same rows as a source.

Generates (once, cached under ``bench/.cache/``) a marketplace of ``--sellers``
accounts written as Amazon's All Orders reports by
``engine.generate.amazon_reports`` (one folder per account, one line per order
item), about ``--lines`` order-report lines in all, and the same orders as
contract CSV sources two ways:

* ``same``: the rows the import itself writes (``import --format csv``): every
  order, with only the columns the report carries filled;
* ``full``: the same marketplace as ``generate`` writes it (same seed, so the
  same orders), every contract column filled (ship-by, shipment, tracking,
  delivery, cancellation, refund...).

Then times, each in its own child process and alternating, best of ``--repeat``:
``import`` (``import_amazon_reports`` of the order reports into a new Parquet
source: reading, checking, folding item lines, writing) and ``load`` of each CSV
source (``load_source`` into a fresh in-memory DuckDB connection: reading,
checking, registering). Prints order-report lines/s and orders/s, and the
ratios, of the best runs and of the medians (with CPU times); never asserts on time.
Run small with ``--lines 100000``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
from benchkit import AS_OF, CACHE, peak_rss_mb

from sellerpolicy.engine.generate.amazon_reports import generate_amazon_reports
from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.importers.amazon_reports import (
    AccountReports,
    account_folders,
    import_amazon_reports,
)
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.tables import Format

DAYS = 100
ITEMS_PER_ORDER = 1.33  # the generator's mean item lines per order
KINDS = ("import", "same", "full")


def prepared(sellers: int, lines: int, seed: int) -> dict[str, Path]:
    """The cached order reports and the two CSV sources of the same orders."""
    folder = CACHE / f"import-s{sellers}-l{lines}-seed{seed}"
    paths = {"import": folder / "reports", "same": folder / "same", "full": folder / "full"}
    if (paths["full"] / "orders.csv").exists():
        return paths
    shutil.rmtree(folder, ignore_errors=True)
    rate = lines / ITEMS_PER_ORDER / (sellers * DAYS)
    started = time.perf_counter()
    summary = generate_amazon_reports(
        sellers=sellers,
        days=DAYS,
        seed=seed,
        as_of=AS_OF,
        out=paths["import"],
        orders_per_seller_day=rate,
    )
    made = ", ".join(f"{k} {v:,} lines" for k, v in summary.lines.items())
    print(f"generated {paths['import']} in {time.perf_counter() - started:.1f} s: {made}")
    import_amazon_reports(_orders_only(paths["import"]), paths["same"], fmt=Format.CSV)
    generate(
        sellers=sellers,
        days=DAYS,
        seed=seed,
        as_of=AS_OF,
        out=paths["full"],
        fmt=Format.CSV,
        orders_per_seller_day=rate,
        broken_share=0,
    )
    for table in paths["full"].iterdir():
        if table.name != "orders.csv":
            table.unlink()
    return paths


def _orders_only(reports: Path) -> list[AccountReports]:
    """The accounts of the report folders, their order reports only."""
    return [AccountReports(a.seller_id, a.orders) for a in account_folders(reports)]


def measure(kind: str, path: Path) -> None:
    """One timed run in this (child) process; prints one line.

    Arrow's first array imports pandas when it is installed (a one-time cost of
    the process, not of the work): done before the clock starts, for every kind.
    """
    pa.array([0])
    if kind == "import":
        accounts = _orders_only(path)
        with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
            started, cpu = time.perf_counter(), time.process_time()
            summary = import_amazon_reports(accounts, Path(tmp) / "source")
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        lines, orders = summary.lines["amazon-all-orders"], summary.rows["orders"]
    else:
        with duckdb.connect() as con:
            started, cpu = time.perf_counter(), time.process_time()
            report = load_source(path, con)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        lines, orders = 0, report.rows_read["orders"]
    per_line = f"{lines:>10,} lines {lines / seconds:>10,.0f} lines/s" if lines else ""
    print(
        f"{kind:6} {seconds:6.2f} s (CPU {cpu:5.2f} s) {orders:>9,} orders "
        f"{orders / seconds:>10,.0f} orders/s {per_line} (peak RSS {peak_rss_mb():,.0f} MiB)",
        flush=True,
    )


def main() -> None:
    """Parse the arguments; run each measurement in a child process, alternating."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sellers", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        measure(args.child[0], Path(args.child[1]))
        return
    paths = prepared(args.sellers, args.lines, args.seed)
    runs: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}  # (wall, CPU)
    for _ in range(args.repeat):
        for kind in KINDS:
            command = [sys.executable, __file__, "--child", kind, str(paths[kind])]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            print(done.stdout, end="", flush=True)
            fields = done.stdout.split()
            runs[kind].append((float(fields[1]), float(fields[4])))
    best = {kind: min(wall for wall, _ in times) for kind, times in runs.items()}
    print(
        f"best of {args.repeat}: import {best['import']:.2f} s; loading the same orders as "
        f"contract CSV: {best['same']:.2f} s with the report's columns only "
        f"(import at {best['same'] / best['import']:.2f}x its speed), {best['full']:.2f} s "
        f"with every column (import at {best['full'] / best['import']:.2f}x its speed)"
    )
    # One lucky run makes a best: the medians, and the CPU (others may share the box).
    wall = {kind: statistics.median(w for w, _ in times) for kind, times in runs.items()}
    cpu = {kind: statistics.median(c for _, c in times) for kind, times in runs.items()}
    print(
        f"median of {args.repeat}: import {wall['import']:.2f} s (CPU {cpu['import']:.2f} s), "
        f"same {wall['same']:.2f} s (CPU {cpu['same']:.2f} s): import at "
        f"{wall['same'] / wall['import']:.2f}x its speed; full {wall['full']:.2f} s "
        f"(CPU {cpu['full']:.2f} s): {wall['full'] / wall['import']:.2f}x"
    )


if __name__ == "__main__":
    main()
