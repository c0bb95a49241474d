"""``sellerpolicy decisions``: records from columnar decisions, equal to evaluate's JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import app

BASE = ("--pack", "amazon", "--as-of", "2026-11-01")


def _records(text: str) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    for row in rows:
        del row["decision_id"]
    return rows


@pytest.fixture(scope="module")
def runs(small_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small marketplace evaluated to JSON lines, .arrows, .arrow and typed Parquet."""
    folder = tmp_path_factory.mktemp("runs")
    runner = CliRunner()
    for out in ("d.jsonl", "d.arrows", "d.arrow", "d.parquet"):
        done = runner.invoke(
            app, ["evaluate", *BASE, "--source", str(small_source), "--out", str(folder / out)]
        )
        assert done.exit_code == 0, done.output
    return folder


def test_every_decision_read_back_equals_the_json_lines(runs: Path, tmp_path: Path) -> None:
    """All decisions of the .arrows file, as JSON lines (to a file and to stdout), are
    evaluate's JSON lines record for record (ids aside)."""
    expected = _records((runs / "d.jsonl").read_text())
    out = tmp_path / "back.jsonl"
    done = CliRunner().invoke(
        app, ["decisions", str(runs / "d.arrows"), "--pack", "amazon", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert _records(out.read_text()) == expected
    shown = CliRunner().invoke(app, ["decisions", str(runs / "d.arrows"), "--pack", "amazon"])
    assert shown.exit_code == 0
    assert _records(shown.stdout) == expected


def test_sellers_are_picked_and_unknown_ones_named(runs: Path) -> None:
    """--seller picks sellers; a seller without a decision is a usage error naming it."""
    expected = {r["seller_id"]: r for r in _records((runs / "d.jsonl").read_text())}
    some = sorted(expected)[3:5]
    args = ["decisions", str(runs / "d.arrows"), "--pack", "amazon"]
    picked = CliRunner().invoke(app, [*args, "--seller", some[0], "--seller", some[1]])
    assert picked.exit_code == 0
    assert {r["seller_id"]: r for r in _records(picked.stdout)} == {s: expected[s] for s in some}
    unknown = CliRunner(env={"COLUMNS": "200"}).invoke(app, [*args, "--seller", "NOPE"])
    assert unknown.exit_code == 2
    assert "NOPE" in unknown.output


@pytest.mark.parametrize(
    ("target", "pack", "message"),
    [
        ("d.arrows", "amazon-2015", "read them with the pack that made them"),
        ("d.jsonl", "amazon", "already hold full decisions"),
        ("nothing.arrows", "amazon", "no such file"),
    ],
)
def test_wrong_inputs_are_usage_errors(runs: Path, target: str, pack: str, message: str) -> None:
    """Another pack, a records file, a missing file: exit 2 with a message saying which."""
    done = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["decisions", str(runs / target), "--pack", pack]
    )
    assert done.exit_code == 2
    assert message in " ".join(done.output.split())


@pytest.mark.parametrize("target", ["d.arrow", "d.parquet"])
def test_arrow_files_and_typed_parquet_read_back_alike(runs: Path, target: str) -> None:
    """The IPC file and the typed Parquet records give evaluate's JSON lines too."""
    expected = _records((runs / "d.jsonl").read_text())
    shown = CliRunner().invoke(app, ["decisions", str(runs / target), "--pack", "amazon"])
    assert shown.exit_code == 0, shown.output
    assert _records(shown.stdout) == expected


def test_records_written_from_columns_read_back_byte_for_byte(runs: Path, tmp_path: Path) -> None:
    """.arrows to typed Parquet, then Parquet to JSON lines: the same bytes as .arrows to
    JSON lines, decision ids included; CSV has one row per decision."""
    args = ["decisions", str(runs / "d.arrows"), "--pack", "amazon", "--out"]
    for out in ("a.jsonl", "b.parquet", "c.csv"):
        done = CliRunner().invoke(app, [*args, str(tmp_path / out)])
        assert done.exit_code == 0, done.output
    again = CliRunner().invoke(
        app,
        [
            "decisions",
            str(tmp_path / "b.parquet"),
            "--pack",
            "amazon",
            "--out",
            str(tmp_path / "d.jsonl"),
        ],
    )
    assert again.exit_code == 0, again.output
    assert (tmp_path / "d.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert len(lines) == len(_records((runs / "d.jsonl").read_text()))
    assert len((tmp_path / "c.csv").read_text().splitlines()) == len(lines) + 1
