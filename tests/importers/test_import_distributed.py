"""A distributed run over an imported source honours its import.json as one process does:
the metrics the reports cannot carry are null facts on every worker, so their rules are
not assessed, and each seller's decision is the single-process one."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from sellerpolicy.engine.batch.distributed import run_distributed
from sellerpolicy.engine.columnar.typed_rows import decisions_from_records
from sellerpolicy.engine.evaluation.decision import Outcome
from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.engine.generate.amazon_reports import generate_amazon_reports
from sellerpolicy.engine.importers.amazon_reports import account_folders, import_amazon_reports
from sellerpolicy.engine.metrics.compute import compute_metrics, iter_facts
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.rules import load_pack, resolve_pack

AS_OF = date(2026, 11, 1)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 30 accounts' order and feedback reports, imported to a Parquet source."""
    root = tmp_path_factory.mktemp("imported")
    generate_amazon_reports(
        sellers=30, days=90, seed=11, as_of=AS_OF, out=root / "reports", broken_share=0
    )
    summary = import_amazon_reports(account_folders(root / "reports"), root / "source")
    assert summary.not_assessable
    return root / "source"


def _by_seller(decisions: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for decision in decisions:
        record = decision.to_json()
        del record["decision_id"]
        out[decision.seller_id] = record
    return out


@pytest.mark.parametrize("validated", [False, True], ids=["imported-source", "validated-duckdb"])
def test_distributed_run_over_an_imported_source_matches_one_process(
    imported: Path, tmp_path: Path, validated: bool
) -> None:
    pack_path = resolve_pack("amazon")
    pack = load_pack(pack_path)
    with duckdb.connect() as con:
        report = load_source(imported, con)
        table = compute_metrics(con, pack.metrics, AS_OF).table
    lacking = set(report.not_assessable)
    assert {"late_shipment_rate", "valid_tracking_rate", "order_defect_rate"} <= lacking
    expected = _by_seller(evaluate(pack, list(iter_facts(table, AS_OF))))
    source = imported
    if validated:  # load_source into a DuckDB file keeps the limits beside the tables
        source = tmp_path / "canonical.duckdb"
        with duckdb.connect(str(source)) as con:
            load_source(imported, con)
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
    decided = []
    for part in sorted(out.glob("part-*.parquet")):
        decided += decisions_from_records(pq.read_table(part), pack)
    got = _by_seller(decided)
    assert len(expected) >= 25
    assert got == expected
    # Every rule of the amazon pack reads a metric the reports cannot carry.
    assert {r.outcome for d in decided for r in d.rules} == {Outcome.NOT_ASSESSED}
    assert set(summary.statuses) == {"healthy"}
