"""The distributed run on a real Dask LocalCluster agrees with the single-process run."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from sellerpolicy.engine.batch.distributed import MANIFEST, run_distributed
from sellerpolicy.engine.batch.partition import PartitionTask, partition_of, run_partition
from sellerpolicy.engine.columnar.typed_rows import decisions_from_records
from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.metrics.compute import compute_metrics, iter_facts
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.tables import create_table_sql
from sellerpolicy.rules import load_pack, resolve_pack

AS_OF = date(2026, 11, 1)


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated marketplace (about 80 sellers, 90 days)."""
    out = tmp_path_factory.mktemp("market")
    generate(sellers=80, days=90, seed=7, as_of=AS_OF, out=out, orders_per_seller_day=2.0)
    return out


def _by_seller(decisions: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for decision in decisions:
        record = decision.to_json()
        del record["decision_id"]
        out[decision.seller_id] = record
    return out


def test_partition_function_is_stable_and_spreads_sellers() -> None:
    """partition_of is a fixed function of the id (not the salted hash()) using every partition."""
    ids = [f"S{i:06d}" for i in range(500)]
    assert [partition_of(s, 7) for s in ids] == [partition_of(s, 7) for s in ids]
    assert len({partition_of(s, 7) for s in ids}) == 7
    assert partition_of("S1", 1_000_003) == 468201140394920920 % 1_000_003


@pytest.mark.parametrize("validated", [False, True], ids=["raw-source", "validated-duckdb"])
def test_local_cluster_matches_single_process(
    marketplace: Path, tmp_path: Path, validated: bool
) -> None:
    """Two worker processes write partitions whose decisions equal the in-process evaluation.

    Either every worker validates the raw files, or the workers read an
    already validated DuckDB file (the driver hashes the sellers).
    """
    pack_path = resolve_pack("amazon")
    pack = load_pack(pack_path)
    source = marketplace
    if validated:
        source = tmp_path / "canonical.duckdb"
        with duckdb.connect(str(source)) as con:
            load_source(marketplace, con)
    out = tmp_path / "out"
    summary = run_distributed(
        pack_path,
        source=source,
        as_of=AS_OF,
        out_dir=out,
        workers=2,
        partitions=3,
        validated=validated,
    )
    assert summary.ok, summary.failures
    with duckdb.connect() as con:
        load_source(marketplace, con)
        table = compute_metrics(con, pack.metrics, AS_OF).table
    expected = _by_seller(evaluate(pack, list(iter_facts(table, AS_OF))))
    got: dict[str, dict[str, Any]] = {}
    for part in sorted(out.glob("part-*.parquet")):
        batch = pq.read_table(part)
        decided = _by_seller(decisions_from_records(batch, pack))
        assert {partition_of(s, 3) for s in decided} == {int(part.stem.split("-")[1])}
        got |= decided
    assert len(expected) > 50
    assert got == expected
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["pack"] == {"id": pack.id, "version": pack.version, "digest": pack.digest}
    assert manifest["totals"]["sellers"] == len(expected) == summary.sellers
    assert sum(p["sellers"] for p in manifest["partitions"]) == len(expected)
    assert manifest["failures"] == []
    assert (out / "rejects.jsonl").exists() is not validated
    assert manifest["totals"]["rejects"] == (None if validated else summary.rejects)
    assert not list(out.glob("*.duckdb"))  # the staged source is removed


def test_failed_partitions_are_reported_not_missing(tmp_path: Path) -> None:
    """A partition that fails after its retries is listed in the manifest and makes ok false."""
    broken = tmp_path / "broken.duckdb"
    with duckdb.connect(str(broken)) as con:  # orders and messages only: the views fail
        con.execute(create_table_sql("orders"))
        con.execute(create_table_sql("messages"))
        con.execute("INSERT INTO orders (order_id, seller_id) VALUES ('o1', 'S1'), ('o2', 'S2')")
    summary = run_distributed(
        resolve_pack("amazon"),
        source=broken,
        as_of=AS_OF,
        out_dir=tmp_path / "out",
        workers=1,
        partitions=2,
        retries=1,
        validated=True,
    )
    assert not summary.ok
    assert [f.index for f in summary.failures] == [0, 1]
    assert "feedback" in summary.failures[0].error
    manifest = json.loads(summary.manifest.read_text(encoding="utf-8"))
    assert manifest["totals"]["partitions_failed"] == 2
    assert [f["index"] for f in manifest["failures"]] == [0, 1]
    assert not list((tmp_path / "out").glob("*.duckdb"))


def test_unreadable_source_fails_before_any_task(tmp_path: Path) -> None:
    """A missing source is the source's own error, raised by the driver."""
    with pytest.raises(SourceError, match="no such file"):
        run_distributed(
            resolve_pack("amazon"),
            source=tmp_path / "missing",
            as_of=AS_OF,
            out_dir=tmp_path / "out",
            workers=1,
        )


def test_worker_refuses_a_different_pack(marketplace: Path, tmp_path: Path) -> None:
    """A partition task whose pack digest differs from the pack on disk fails loudly."""
    task = PartitionTask(
        index=0,
        source=str(marketplace / "canonical.duckdb"),
        sellers=("S1",),
        pack=str(resolve_pack("amazon")),
        pack_digest="sha256:0000",
        as_of="2026-11-01T00:00:00+00:00",
        out_dir=str(tmp_path),
    )
    with pytest.raises(ValueError, match="digest"):
        run_partition(task)
