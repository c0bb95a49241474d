"""``sellerpolicy test``: report formats, exit codes, generated edges."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from evalkit import CASES, FAILING, write_pack
from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import EXIT_FINDINGS, app

runner = CliRunner()


def test_text_report_counts_per_pack(tmp_path: Path) -> None:
    """The text report gives one line per pack with its counts and exits 0 when all pass."""
    pack = write_pack(tmp_path, ("cases.yaml", CASES))
    result = runner.invoke(app, ["test", str(pack.parent)])
    assert result.exit_code == 0, result.output
    assert "tiny-pack: 3 passed, 0 failed" in result.output


def test_failures_exit_1_and_show_expected_vs_got(tmp_path: Path) -> None:
    """A failing case makes the command exit 1 and prints expected vs got."""
    pack = write_pack(tmp_path, ("bad.yaml", FAILING))
    result = runner.invoke(app, ["test", str(pack)])
    assert result.exit_code == EXIT_FINDINGS
    assert "tiny-pack: 0 passed, 1 failed" in result.output
    assert "status: expected healthy, got at_risk" in result.output


def test_json_report(tmp_path: Path) -> None:
    """``--format json`` prints totals and every case with its mismatches."""
    write_pack(tmp_path, ("cases.yaml", CASES), ("bad.yaml", FAILING))
    result = runner.invoke(app, ["test", str(tmp_path), "--format", "json"])
    assert result.exit_code == EXIT_FINDINGS
    report = json.loads(result.output)
    assert (report["passed"], report["failed"]) == (3, 1)
    [failed] = [c for c in report["packs"][0]["cases"] if not c["passed"]]
    assert {"what": "status", "expected": "healthy", "got": "at_risk"} in failed["mismatches"]


def test_junit_report_with_generated_edges(tmp_path: Path) -> None:
    """``--format junit --generate-edges`` writes JUnit XML including generated cases."""
    write_pack(tmp_path, ("bad.yaml", FAILING))
    out = tmp_path / "report.xml"
    result = runner.invoke(
        app, ["test", str(tmp_path), "--format", "junit", "--generate-edges", "--out", str(out)]
    )
    assert result.exit_code == EXIT_FINDINGS
    root = ET.fromstring(out.read_text())
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == (
        "tiny-pack",
        "13",
        "1",
    )
    generated = [c for c in suite.iter("testcase") if c.get("classname") == "tiny-pack.generated"]
    assert len(generated) == 12
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failures] == ["wrong expectations"]


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    """A path that is no pack is reported with its name and a findings exit code."""
    result = runner.invoke(app, ["test", str(tmp_path / "nope")])
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    assert "pack_not_found" in str(result.exception)


def test_pack_without_fixtures_is_flagged(tmp_path: Path) -> None:
    """A pack with no fixture file is listed with a note rather than silently passing."""
    result = runner.invoke(app, ["test", str(write_pack(tmp_path))])
    assert result.exit_code == 0
    assert "tiny-pack: 0 passed, 0 failed (no fixtures in tests/)" in result.output
