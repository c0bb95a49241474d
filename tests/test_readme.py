"""The README's examples work: the pack-authoring example validates and its
fixture cases pass, and the columnar-output snippet reads what `evaluate`
writes, so the guide cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import app

ROOT = Path(__file__).resolve().parents[1]


def _example(name: str, language: str = "yaml") -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- readme-example: {name} -->\n```{language}\n(.*?)```", text, re.S)
    assert match, f"README has no '{name}' example"
    return match.group(1)


def _write_example(tmp_path: Path) -> Path:
    pack_dir = tmp_path / "my-pack"
    (pack_dir / "tests").mkdir(parents=True)
    (pack_dir / "pack.yaml").write_text(_example("pack"), encoding="utf-8")
    (pack_dir / "tests" / "cases.yaml").write_text(_example("packtest"), encoding="utf-8")
    return pack_dir


def test_readme_example_pack_validates(tmp_path: Path) -> None:
    """`sellerpolicy validate` accepts the README's example pack and its tests."""
    pack_dir = _write_example(tmp_path)
    result = CliRunner().invoke(app, ["validate", str(pack_dir)])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_readme_example_pack_tests_pass(tmp_path: Path) -> None:
    """`sellerpolicy test` runs the README's four example cases, all passing."""
    pack_dir = _write_example(tmp_path)
    result = CliRunner().invoke(app, ["test", str(pack_dir)])
    assert result.exit_code == 0, result.output
    assert "4 passed" in result.output


def test_readme_columnar_snippet_reads_an_evaluate_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's Python snippet runs on the ``decisions.arrows`` that
    ``sellerpolicy evaluate`` writes from a generated marketplace."""
    runner = CliRunner()
    source = tmp_path / "src"
    made = runner.invoke(
        app, ["generate", "--sellers", "30", "--as-of", "2026-11-01", "--out", str(source)]
    )
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(tmp_path)
    done = runner.invoke(
        app,
        [
            *("evaluate", "--pack", "amazon", "--source", "src"),
            *("--as-of", "2026-11-01", "--out", "decisions.arrows"),
        ],
    )
    assert done.exit_code == 0, done.output
    scope: dict[str, object] = {}
    exec(compile(_example("columnar", "python"), "README.md", "exec"), scope)
    table = scope["table"]
    assert isinstance(table, pa.Table)
    assert table.num_rows > 10
