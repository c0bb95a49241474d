"""`sellerpolicy evaluate --workers N` from the command line: the same decisions
as the single-process run, and clear errors for options that do not combine."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import app
from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.store.decisions import DecisionStore

AS_OF = "2026-11-01"


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated marketplace (150 sellers, 90 days)."""
    out = tmp_path_factory.mktemp("market")
    generate(sellers=150, days=90, seed=11, as_of=date(2026, 11, 1), out=out)
    return out


@pytest.mark.slow
def test_workers_two_equals_single_process_seller_by_seller(
    marketplace: Path, tmp_path: Path
) -> None:
    """Two local worker processes give every seller the status and enforced
    actions that the single-process run gives, and read back with
    ``sellerpolicy decisions``, the very same records."""
    runner = CliRunner()
    single, parts = tmp_path / "single.jsonl", tmp_path / "parts"
    _run(runner, marketplace, single, AS_OF)
    _run(runner, marketplace, parts, AS_OF, "--workers", "2")
    manifest = json.loads((parts / "manifest.json").read_text())
    assert len(manifest["partitions"]) == 2

    expected = {}
    for line in single.read_text().splitlines():
        record = json.loads(line)
        expected[record["seller_id"]] = (record["status"], _enforced(record["actions"]))
    got = {}
    for row in pq.read_table(sorted(parts.glob("part-*.parquet"))).to_pylist():
        actions = json.loads(row["actions"]) if isinstance(row["actions"], str) else row["actions"]
        got[row["seller_id"]] = (row["status"], _enforced(actions))
    assert len(expected) > 100
    assert got == expected
    full = runner.invoke(app, ["decisions", str(parts), "--pack", "amazon"])
    assert full.exit_code == 0
    records = {}
    for line in full.stdout.splitlines():
        record = json.loads(line)
        del record["decision_id"]
        records[record["seller_id"]] = record
    for line in single.read_text().splitlines():
        record = json.loads(line)
        del record["decision_id"]
        assert records.pop(record["seller_id"]) == record  # whole records, field by field
    assert not records


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "2", "--cluster", "tcp://127.0.0.1:1"], "at most one of --workers"),
    ],
)
def test_distributed_option_misuse_is_a_usage_error(
    marketplace: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    """Options a distributed run cannot honour are refused with exit 2 and a
    message naming the problem, before any cluster starts."""
    result = CliRunner(env={"COLUMNS": "250"}).invoke(
        app,
        [
            "evaluate",
            "--pack",
            "amazon",
            "--source",
            str(marketplace),
            "--as-of",
            AS_OF,
            "--out",
            str(tmp_path / "parts"),
            *extra,
        ],
    )
    assert result.exit_code == 2
    assert message in result.output


def _run(runner: CliRunner, marketplace: Path, out: Path, day: str, *extra: str) -> None:
    result = runner.invoke(
        app,
        [
            *("evaluate", "--pack", "amazon", "--source", str(marketplace)),
            *("--as-of", day, "--out", str(out), "--log-format", "json", *extra),
        ],
    )
    assert result.exit_code == 0, result.output


def _enforced(actions: list[dict[str, object]]) -> list[tuple[object, object]]:
    return sorted((a["rule"], a["action"]) for a in actions if a["enforced"])


@pytest.mark.slow
def test_workers_with_a_store_escalate_like_the_single_process(
    marketplace: Path, tmp_path: Path
) -> None:
    """With --store, two local workers read the escalation history and the run's
    decisions are appended: on two consecutive days they decide what the single
    process decides (the second day escalates), and the stores hold the same."""
    runner = CliRunner()
    single_db, parts_db = tmp_path / "single.db", tmp_path / "parts.db"
    per_day = []
    for day in ("2026-11-01", "2026-11-02"):
        single = tmp_path / f"single-{day}.jsonl"
        parts = tmp_path / f"parts-{day}"
        _run(runner, marketplace, single, day, "--store", str(single_db))
        _run(runner, marketplace, parts, day, "--store", str(parts_db), "--workers", "2")
        expected = {}
        for line in single.read_text().splitlines():
            record = json.loads(line)
            expected[record["seller_id"]] = (record["status"], _enforced(record["actions"]))
        got = {
            row["seller_id"]: (row["status"], _enforced(row["actions"]))
            for row in pq.read_table(sorted(parts.glob("part-*.parquet"))).to_pylist()
        }
        assert got == expected
        manifest = json.loads((parts / "manifest.json").read_text())
        assert manifest["store"] is not None
        per_day.append(expected)
    escalated = [s for s in per_day[0] if per_day[0][s][1] != per_day[1][s][1]]
    assert escalated, "the second day escalates some ladder"
    with DecisionStore(single_db) as one, DecisionStore(parts_db) as two:
        for seller in list(per_day[0])[:40] + escalated:
            a = [(d.as_of, d.status) for d in one.decisions(seller, "amazon-seller-performance")]
            b = [(d.as_of, d.status) for d in two.decisions(seller, "amazon-seller-performance")]
            assert len(a) == 2
            assert sorted(a) == sorted(b)
