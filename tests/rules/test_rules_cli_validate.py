"""``sellerpolicy validate``: every finding printed, exit 1 on errors, 0 when clean."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rulekit import EXAMPLE, VALID, variant, write
from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import EXIT_FINDINGS, EXIT_OK, app
from sellerpolicy.engine.cli.validate import collect_files, default_kind
from sellerpolicy.engine.errors import SourceError

BROKEN = Path(__file__).resolve().parents[1] / "broken_packs"
PACKTEST = """\
apiVersion: sellerpolicy/v1
kind: PackTest
metadata: {pack: small-pack}
cases:
  - name: fires
    facts: {order_defect_rate: 0.02}
    expect: {status: at_risk}
"""


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", *args])
    return result.exit_code, result.output


def test_clean_pack_exits_zero_with_a_summary(tmp_path: Path) -> None:
    """A valid pack prints only the summary line and exits 0."""
    code, output = _invoke(str(EXAMPLE))
    assert code == EXIT_OK
    assert output.strip().splitlines() == [
        "validated 1 document(s): 0 error(s), 0 warning(s); 0 document(s) invalid"
    ]


def test_errors_are_printed_one_per_line_and_exit_one(tmp_path: Path) -> None:
    """Each diagnostic is rendered as file:line:col: code: json_path: message (hint)."""
    path = write(tmp_path, variant("[lose_buy_box]", "[lose_buybox]"))
    code, output = _invoke(str(path))
    assert code == EXIT_FINDINGS
    lines = output.strip().splitlines()
    assert lines[0] == (
        f"{path}:22:17: unknown_action: $.spec.rules[0].actions[0]: 'lose_buybox' is not an "
        "action (did you mean 'lose_buy_box'?)"
    )
    assert lines[-1].startswith("validated 1 document(s): 1 error(s)")


def test_warnings_do_not_fail(tmp_path: Path) -> None:
    """A pack with only warnings passes."""
    text = variant(
        "      window: 10d\n", "      window: 10d\n    - {metric: refund_rate, window: 30d}\n"
    )
    code, output = _invoke(str(write(tmp_path, text)))
    assert code == EXIT_OK
    assert "unused_metric" in output
    assert "0 error(s), 1 warning(s)" in output


def test_folders_are_searched_and_tests_are_packtests(tmp_path: Path) -> None:
    """A folder is searched recursively; files under tests/ are read as PackTest."""
    pack_dir = tmp_path / "small"
    (pack_dir / "tests").mkdir(parents=True)
    write(pack_dir, VALID)
    write(pack_dir / "tests", PACKTEST, "cases.yaml")
    write(pack_dir / "tests", "metadata: {pack: small-pack}\ncases: []\n", "kindless.yaml")
    (tmp_path / ".hidden").mkdir()
    write(tmp_path / ".hidden", "not: [valid", "x.yaml")
    files = collect_files([tmp_path])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "small/pack.yaml",
        "small/tests/cases.yaml",
        "small/tests/kindless.yaml",
    ]
    assert default_kind(files[2]) == "PackTest"
    assert default_kind(files[0]) == "PolicyPack"
    code, output = _invoke(str(tmp_path))
    assert code == EXIT_FINDINGS
    kindless = [line for line in output.splitlines() if "kindless.yaml" in line]
    assert any("$.cases: " in line and "schema_minItems" in line for line in kindless)
    assert "validated 3 document(s)" in output


def test_folder_without_yaml_is_unusable_input(tmp_path: Path) -> None:
    """An empty folder is an input error, not a silent pass."""
    with pytest.raises(SourceError, match=r"no \.yaml or \.yml files"):
        collect_files([tmp_path])


def test_json_format_lists_documents_and_diagnostics(tmp_path: Path) -> None:
    """--format json gives one JSON object with every diagnostic and the totals."""
    broken = tmp_path / "broken"
    shutil.copytree(BROKEN, broken)
    code, output = _invoke("--format", "json", str(broken), str(EXAMPLE))
    assert code == EXIT_FINDINGS
    report = json.loads(output)
    files = len(list(BROKEN.glob("*.yaml")))
    assert report["summary"]["documents"] == files + 1
    assert report["summary"]["errors"] == files
    first = report["diagnostics"][0]
    assert set(first) == {"file", "line", "column", "code", "json_path", "message", "hint", "level"}
    assert [d["valid"] for d in report["documents"]].count(True) == 1


def test_missing_path_is_unusable_input(tmp_path: Path) -> None:
    """A path that does not exist exits 2 with a message naming it, no traceback."""
    missing = tmp_path / "nope.yaml"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from sellerpolicy.engine.cli.app import main; main()",
            "validate",
            str(missing),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert f"error: {missing}: no such file or directory" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
