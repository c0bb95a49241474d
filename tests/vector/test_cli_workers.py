"""`sellerpolicy evaluate --workers N` from the command line: the same decisions
as the single-process run, and clear errors for options that do not combine."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sellerpolicy.engine.cli import app
from sellerpolicy.engine.generate import generate

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
    actions that the single-process run gives."""
    runner = CliRunner()
    single = tmp_path / "single.jsonl"
    first = runner.invoke(
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
            str(single),
            "--log-format",
            "json",
        ],
    )
    assert first.exit_code == 0, first.output
    parts = tmp_path / "parts"
    second = runner.invoke(
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
            str(parts),
            "--workers",
            "2",
            "--log-format",
            "json",
        ],
    )
    assert second.exit_code == 0, second.output
    manifest = json.loads((parts / "manifest.json").read_text())
    assert len(manifest["partitions"]) == 2

    expected = {}
    for line in single.read_text().splitlines():
        record = json.loads(line)
        enforced = sorted((a["rule"], a["action"]) for a in record["actions"] if a["enforced"])
        expected[record["seller_id"]] = (record["status"], enforced)
    got = {}
    for row in pq.read_table(sorted(parts.glob("part-*.parquet"))).to_pylist():
        actions = json.loads(row["actions"]) if isinstance(row["actions"], str) else row["actions"]
        enforced = sorted((a["rule"], a["action"]) for a in actions if a["enforced"])
        got[row["seller_id"]] = (row["status"], enforced)
    assert len(expected) > 100
    assert got == expected


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "2", "--cluster", "tcp://127.0.0.1:1"], "at most one of --workers"),
        (["--workers", "2", "--store", "x.db"], "decision store"),
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
