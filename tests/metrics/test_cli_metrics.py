"""``sellerpolicy metrics`` end to end: files, rejects, --strict, schema-valid records."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import EXIT_FINDINGS, app
from sellerpolicy.engine.generate.marketplace import generate

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "metric-facts.schema.json").read_text()
)
AS_OF = "2026-11-01"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated source with a few deliberately broken rows."""
    out = tmp_path_factory.mktemp("source")
    generate(sellers=40, days=100, seed=5, as_of=date(2026, 11, 1), out=out, broken_share=0.01)
    return out


def run(*args: str) -> tuple[int, str]:
    """Invoke the CLI; return the exit code and the combined output."""
    result = CliRunner().invoke(app, ["metrics", *args])
    return result.exit_code, result.output


def test_writes_schema_valid_jsonl_and_rejects(generated: Path, tmp_path: Path) -> None:
    """JSONL facts validate against the schema; rejects go beside the output."""
    out = tmp_path / "facts.jsonl"
    code, output = run(
        "--source", str(generated), "--pack", "amazon", "--as-of", AS_OF, "--out", str(out)
    )
    assert code == 0, output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for record in records[:50]:
        validator.validate(record)
    assert {"order_defect_rate", "order_defect_rate__den", "late_shipment_rate_10d"} <= set(
        records[0]
    )
    rejects = tmp_path / "facts.rejects.jsonl"
    assert rejects.exists()
    first = json.loads(rejects.read_text().splitlines()[0])
    assert set(first) == {"table", "row", "column", "reason"}
    assert "sellers" in output


def test_parquet_output(generated: Path, tmp_path: Path) -> None:
    """A .parquet --out writes Parquet with the facts columns."""
    out = tmp_path / "facts.parquet"
    code, output = run(
        "--source",
        str(generated),
        "--pack",
        "walmart",
        "--as-of",
        AS_OF,
        "--out",
        str(out),
        "--memory-limit",
        "1GB",
    )
    assert code == 0, output
    table = pq.read_table(out)
    assert table.column_names[:3] == ["seller_id", "as_of", "orders"]
    assert "refund_rate__num" in table.column_names


def test_strict_exits_1_with_rejects(generated: Path, tmp_path: Path) -> None:
    """--strict with rejected rows exits 1, writes the rejects and no facts."""
    out = tmp_path / "facts.csv"
    code, _ = run(
        "--source",
        str(generated),
        "--pack",
        "amazon",
        "--as-of",
        AS_OF,
        "--out",
        str(out),
        "--strict",
    )
    assert code == EXIT_FINDINGS
    assert not out.exists()
    assert (tmp_path / "facts.rejects.jsonl").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--out", "facts.txt"), ("--memory-limit", "lots")],
)
def test_bad_options_exit_2(generated: Path, tmp_path: Path, option: str, value: str) -> None:
    """An unknown output extension or memory size is a usage error (exit 2)."""
    args = {
        "--source": str(generated),
        "--pack": "amazon",
        "--as-of": AS_OF,
        "--out": str(tmp_path / "facts.jsonl"),
    }
    args[option] = value if option != "--out" else str(tmp_path / value)
    code, _ = run(*(x for pair in args.items() for x in pair))
    assert code == 2
