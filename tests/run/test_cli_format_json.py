"""``--format json`` on evaluate, metrics and explain: one JSON document on stdout.

Logs, progress and notes stay on stderr, so the output pipes straight into
``jq`` or ``json.loads``; without the option the commands print text as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runkit import run_cli

from sellerpolicy.rules import load_pack

AS_OF = "2026-11-01"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("source")
    result = run_cli(
        "generate", "--sellers", "6", "--days", "40", "--seed", "3", "--as-of", AS_OF,
        "--out", folder, "--format", "csv",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder


def _json(stdout: str) -> dict[str, object]:
    data = json.loads(stdout)  # the whole of stdout is one document
    assert isinstance(data, dict)
    return data


def test_evaluate_summary_as_json(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "decisions.jsonl"
    result = run_cli(
        "evaluate", "--pack", "amazon", "--source", source, "--as-of", AS_OF, "--out", out,
        "--format", "json", "--log-format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = _json(result.stdout)
    assert summary["pack"] == "amazon-seller-performance"
    assert summary["as_of"] == AS_OF
    assert summary["sellers"] == 6
    assert isinstance(summary["statuses"], dict)
    assert sum(summary["statuses"].values()) == 6
    assert summary["output"] == str(out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6
    # the logs went to stderr, one JSON object per line
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert any(log["event"] == "source.loaded" for log in logs)


def test_evaluate_text_summary_is_unchanged(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "decisions.jsonl"
    result = run_cli(
        "evaluate", "--pack", "amazon", "--source", source, "--as-of", AS_OF, "--out", out,
        "--log-format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"decisions written to {out}" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)
    assert '"event"' not in result.stdout  # no log line on stdout


def test_metrics_summary_as_json(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "facts.jsonl"
    result = run_cli(
        "metrics", "--pack", "amazon", "--source", source, "--as-of", AS_OF, "--out", out,
        "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = _json(result.stdout)
    assert summary["sellers"] == 6 == len(out.read_text(encoding="utf-8").splitlines())
    assert summary["pack_version"] == load_pack("amazon").version
    assert isinstance(summary["orders"], int)
    assert summary["orders"] > 0
    assert isinstance(summary["warnings"], list)
    assert summary["output"] == str(out)
    if summary["rejects"]:
        assert Path(str(summary["rejects_path"])).is_file()


def test_explain_result_as_json(source: Path) -> None:
    seller = (source / "orders.csv").read_text(encoding="utf-8").splitlines()[1].split(",")[1]
    result = run_cli(
        "explain", "--pack", "amazon", "--source", source, "--seller", seller, "--as-of", AS_OF,
        "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = _json(result.stdout)
    decision = data["decision"]
    assert isinstance(decision, dict)
    assert decision["seller_id"] == seller
    assert decision["status"] in ("healthy", "at_risk", "critical")
    assert seller in str(data["report"])
    assert isinstance(data["rejects"], int)
