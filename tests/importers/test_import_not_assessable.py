"""A source imported from reports measures only what the reports carry: the metrics its
import.json declares not assessable are null facts, so their rules are not assessed
(computed from the empty columns they would fire or pass wrongly)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from sellerpolicy.engine.api import Policy
from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.evaluation.decision import Outcome
from sellerpolicy.engine.generate.amazon_reports import generate_amazon_reports
from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.importers.amazon_reports import account_folders, import_amazon_reports
from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.sources.reader import load_source

AS_OF = date(2026, 11, 1)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("limits")
    generate_amazon_reports(
        sellers=40, days=90, seed=4, as_of=AS_OF, out=root / "reports", broken_share=0
    )
    import_amazon_reports(account_folders(root / "reports"), root / "source")
    return root / "source"


def test_metrics_the_reports_lack_are_null_and_their_rules_not_assessed(imported: Path) -> None:
    manifest = json.loads((imported / "import.json").read_text(encoding="utf-8"))
    lacking = {n["metric"] for n in manifest["not_assessable"]}
    assert {"late_shipment_rate", "order_defect_rate", "valid_tracking_rate"} <= lacking
    policy = Policy.load("amazon")
    with duckdb.connect() as con:
        report = load_source(imported, con)
        # and the optional contract inputs the reports do not carry (issue #17); the
        # returns report carries the returns table, so return_rate is assessable
        optional = {"account_age_days", "tracking_on_time_rate"}
        assert set(report.not_assessable) == lacking | optional
        assert "return_rate" not in lacking | set(report.not_assessable)
        facts = compute_metrics(con, policy.pack.metrics, AS_OF).table
    rows = facts.to_pylist()
    assert rows
    for use in policy.pack.metrics:
        values = {r[use.name] for r in rows}
        if use.metric in lacking | optional:
            assert values == {None}, use.name
            if f"{use.name}__den" in facts.column_names:
                assert {r[f"{use.name}__den"] for r in rows} == {None}
        elif use.metric == "orders":
            assert None not in values
            assert max(values) > 0
    decisions = list(
        policy.evaluate_source(imported, as_of=AS_OF, rejects_out=imported / "r.jsonl")
    )
    assert decisions
    for decision in decisions:
        assert decision.status.label == "healthy"
        assert {r.outcome for r in decision.rules} == {Outcome.NOT_ASSESSED}


def test_a_contract_source_measures_everything(tmp_path: Path) -> None:
    generate(sellers=20, days=60, seed=2, as_of=AS_OF, out=tmp_path / "src", broken_share=0)
    with duckdb.connect() as con:
        assert load_source(tmp_path / "src", con).not_assessable == {}
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert "__source_not_assessable" not in tables


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("{not json", "cannot be read as JSON"),
        ('{"not_assessable": "late_shipment_rate"}', "'not_assessable' must be a list"),
        ('{"not_assessable": [{"because": "x"}]}', "not_assessable[0] has no metric name"),
    ],
)
def test_a_broken_manifest_is_one_clear_error(tmp_path: Path, manifest: str, message: str) -> None:
    generate(sellers=5, days=30, seed=2, as_of=AS_OF, out=tmp_path / "src", broken_share=0)
    (tmp_path / "src" / "import.json").write_text(manifest, encoding="utf-8")
    with duckdb.connect() as con, pytest.raises(SourceError, match=r"import\.json") as caught:
        load_source(tmp_path / "src", con)
    assert message in str(caught.value)
