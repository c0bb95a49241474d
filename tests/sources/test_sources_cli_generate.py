"""The ``sellerpolicy generate`` command."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import app
from sellerpolicy.engine.sources.tables import TABLES

ARGS = ["generate", "--sellers", "30", "--days", "20", "--seed", "4", "--as-of", "2026-11-01"]


def test_generate_writes_every_table(tmp_path: Path) -> None:
    """The command writes one file per contract table in the chosen format and
    prints a summary with the row counts."""
    result = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.csv" for t in TABLES)
    assert "orders" in result.output
    assert "seed 4" in result.output


def test_generate_rejects_bad_options(tmp_path: Path) -> None:
    """An unknown format or a non-positive order rate is a usage error (exit 2)."""
    runner = CliRunner()
    bad_format = runner.invoke(app, [*ARGS, "--out", str(tmp_path), "--format", "xml"])
    assert bad_format.exit_code == 2
    bad_rate = runner.invoke(app, [*ARGS, "--out", str(tmp_path), "--orders-per-seller-day", "0"])
    assert bad_rate.exit_code == 2
    assert not any(tmp_path.iterdir())
