"""A distributed run on a real cluster: ``dask scheduler`` and two ``dask worker`` processes.

Started from the command line as an operator starts them (not ``LocalCluster``),
the workers read the generated marketplace's Parquet files in place, leaving
out the rows the driver rejected by their numbers (nothing is staged), and
their parts hold, seller by seller, the decisions one process makes. A CSV
source is staged (its tables are copied once for the workers) and agrees too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from dask.distributed import Client

from sellerpolicy.engine.batch.distributed import MANIFEST, run_distributed
from sellerpolicy.engine.columnar.typed_rows import decisions_from_records
from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.engine.generate.files import Format
from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.metrics.compute import compute_metrics, iter_facts
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.tables import TABLES
from sellerpolicy.rules import load_pack, resolve_pack

AS_OF = date(2026, 11, 1)
DASK = shutil.which("dask", path=str(Path(sys.executable).parent))


def _wait(check: Any, what: str, seconds: float = 90) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise TimeoutError(f"no {what} after {seconds} s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two single-threaded workers, each its own process; their address."""
    if DASK is None:
        pytest.fail("the dask command is not installed (the cluster extra)")
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    log = (folder / "dask.log").open("w")
    started = [
        subprocess.Popen(
            [
                DASK,
                "scheduler",
                *("--scheduler-file", str(scheduler_file), "--port", "0"),
                *("--dashboard-address", ":0", "--no-show"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )
    ]
    try:
        _wait(scheduler_file.exists, "scheduler file")
        address = _wait(
            lambda: json.loads(scheduler_file.read_text() or "{}").get("address"), "address"
        )
        for k in range(2):
            started.append(
                subprocess.Popen(
                    [
                        *(DASK, "worker", address, "--nthreads", "1", "--nworkers", "1"),
                        *("--no-dashboard", "--local-directory", str(folder / f"worker-{k}")),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=folder,
                )
            )
        with Client(address) as client:  # type: ignore[no-untyped-call]
            _wait(lambda: len(client.scheduler_info()["workers"]) == 2, "two workers")
        yield address
    finally:
        for process in reversed(started):
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def _one_process(source: Path) -> dict[str, dict[str, Any]]:
    pack = load_pack(resolve_pack("amazon"))
    with duckdb.connect() as con:
        load_source(source, con)
        table = compute_metrics(con, pack.metrics, AS_OF).table
    out = {}
    for decision in evaluate(pack, list(iter_facts(table, AS_OF))):
        record = decision.to_json()
        del record["decision_id"]
        out[decision.seller_id] = record
    return out


def _parts(out: Path) -> dict[str, dict[str, Any]]:
    pack = load_pack(resolve_pack("amazon"))
    got: dict[str, dict[str, Any]] = {}
    for part in sorted(out.glob("part-*.parquet")):
        for decision in decisions_from_records(pq.read_table(part), pack):
            record = decision.to_json()
            del record["decision_id"]
            got[decision.seller_id] = record
    return got


@pytest.mark.parametrize("fmt", [Format.PARQUET, Format.CSV], ids=["parquet", "csv"])
def test_command_line_cluster_matches_one_process(
    cluster: str, tmp_path: Path, fmt: Format
) -> None:
    """Two ``dask worker`` processes decide every seller as one process does; Parquet
    sources are read in place (nothing staged), CSV sources are staged."""
    source = tmp_path / "source"
    generate(sellers=60, days=90, seed=5, as_of=AS_OF, out=source, fmt=fmt, broken_share=0.01)
    out = tmp_path / "out"
    summary = run_distributed(
        resolve_pack("amazon"), source=source, as_of=AS_OF, out_dir=out, cluster=cluster
    )
    assert summary.ok, summary.failures
    assert len(summary.partitions) == 2
    assert summary.rejects
    expected = _one_process(source)
    assert len(expected) > 40
    assert _parts(out) == expected
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["staged_tables"] == ([] if fmt is Format.PARQUET else list(TABLES))
    assert not list(out.glob("*.duckdb"))
