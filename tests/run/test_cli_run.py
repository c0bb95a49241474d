"""The `evaluate`, `explain` and `demo` commands, run as a user runs them."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest
from runkit import AS_OF, healthy_facts, run_cli

from sellerpolicy.engine.cli.app import main
from sellerpolicy.rules import load_pack

# 4 defective orders of 200: an ODR of 2%, counts and rate agreeing
ODR_TWO_PERCENT = {"order_defect_rate": 0.02, "order_defect_rate__num": 4}


@dataclass(frozen=True)
class Done:
    """What a command run returned and printed."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Done]:
    """Run ``sellerpolicy ARGS`` in this process through the console entry point."""

    def run(*args: str | Path) -> Done:
        monkeypatch.setattr(sys, "argv", ["sellerpolicy", *map(str, args)])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main()
        captured = capsys.readouterr()
        code = exited.value.code
        return Done(code if isinstance(code, int) else 0, captured.out, captured.err)

    return run


def _validator() -> jsonschema.Draft202012Validator:
    text = resources.files("sellerpolicy.schemas").joinpath("decision.schema.json").read_text()
    return jsonschema.Draft202012Validator(json.loads(text))


def test_evaluate_writes_valid_decisions_and_prints_a_summary(
    cli: Callable[..., Done], tmp_path: Path, small_source: Path
) -> None:
    """`evaluate --source` writes schema-valid decisions carrying the pack digest,
    appends them to the store and prints the summary tables."""
    out = tmp_path / "decisions.jsonl"
    store = tmp_path / "history.db"
    done = cli(
        "evaluate", "--pack", "amazon", "--source", small_source, "--as-of", AS_OF.isoformat(),
        "--out", out, "--store", store, "--log-format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    digest = load_pack("amazon").digest
    validator = _validator()
    decisions = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(decisions) > 100
    for decision in decisions:
        assert list(validator.iter_errors(decision)) == []
        assert decision["pack_digest"] == digest
    for heading in ("sellers", "Actions per rule", "Not assessed", "rejected input rows"):
        assert heading in done.stdout
    assert str(out) in done.stdout.replace("\n", "")
    assert (tmp_path / "decisions.rejects.jsonl").is_file()
    assert store.is_file()
    assert all(json.loads(line)["level"] for line in done.stderr.splitlines())


def test_evaluate_from_a_facts_file_to_parquet(cli: Callable[..., Done], tmp_path: Path) -> None:
    """`evaluate --facts` reads a facts file; Parquet output holds typed records (actions a
    list of structs, the as_of a date)."""
    pack = load_pack("amazon")
    record = healthy_facts(pack, "S1", AS_OF) | ODR_TWO_PERCENT
    facts = tmp_path / "facts.jsonl"
    facts.write_text(json.dumps(record) + "\n")
    out = tmp_path / "d.parquet"
    done = cli(
        "evaluate", "--pack", "amazon", "--facts", facts, "--as-of", AS_OF.isoformat(),
        "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = pq.read_table(out).to_pylist()
    assert row["seller_id"] == "S1"
    assert row["pack_digest"] == pack.digest
    assert row["as_of"] == AS_OF
    assert [(a["rule"], a["value"]) for a in row["actions"]] == [("odr-over-target", 0.02)]


@pytest.mark.parametrize("problem", ["missing-metric", "wrong-format"])
def test_unusable_facts_give_one_message_and_exit_2(tmp_path: Path, problem: str) -> None:
    """A facts file missing a metric, or not in its extension's format, stops with
    one clear line naming the file, exit code 2 and no traceback."""
    record = healthy_facts(load_pack("amazon"), "S1", AS_OF)
    facts = tmp_path / "facts.parquet"
    if problem == "missing-metric":
        del record["late_shipment_rate_10d"]
        facts = tmp_path / "facts.jsonl"
    facts.write_text(json.dumps(record) + "\n")
    done = run_cli(
        "evaluate", "--pack", "amazon", "--facts", facts, "--as-of", AS_OF.isoformat(),
        "--out", tmp_path / "d.jsonl",
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(facts) in lines[0]
    expected = "late_shipment_rate_10d" if problem == "missing-metric" else "not a Parquet file"
    assert expected in lines[0]


def test_strict_rejects_exit_1(
    cli: Callable[..., Done], tmp_path: Path, small_source: Path
) -> None:
    """`--strict` on a source with rejected rows exits 1 naming the rejects file."""
    done = cli(
        "evaluate", "--pack", "amazon", "--source", small_source, "--as-of", AS_OF.isoformat(),
        "--out", tmp_path / "d.jsonl", "--strict",
    )  # fmt: skip
    assert done.returncode == 1
    assert "d.rejects.jsonl" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_options_exit_2(cli: Callable[..., Done], tmp_path: Path) -> None:
    """A bad date, neither --source nor --facts, or an unknown --out extension is a
    usage error (exit 2)."""
    bad_date = cli(
        "evaluate", "--pack", "amazon", "--facts", tmp_path / "f.jsonl", "--as-of", "01/11/2026",
        "--out", tmp_path / "d.jsonl",
    )  # fmt: skip
    assert bad_date.returncode == 2
    assert "--as-of" in bad_date.stderr
    neither = cli(
        "evaluate", "--pack", "amazon", "--as-of", "2026-11-01", "--out", tmp_path / "d.jsonl"
    )
    assert neither.returncode == 2
    assert "--source" in neither.stderr
    bad_out = cli(
        "evaluate", "--pack", "amazon", "--facts", tmp_path / "f.jsonl", "--as-of", "2026-11-01",
        "--out", tmp_path / "d.xlsx",
    )  # fmt: skip
    assert bad_out.returncode == 2
    assert ".xlsx" in bad_out.stderr


def test_explain_prints_a_report_per_rule(cli: Callable[..., Done], small_source: Path) -> None:
    """`explain` prints one seller's report with every rule of the pack."""
    sellers = pq.read_table(small_source / "orders.parquet", columns=["seller_id"]).column(0)
    ((seller, _),) = Counter(sellers.to_pylist()).most_common(1)
    done = cli(
        "explain", "--pack", "amazon", "--source", small_source, "--seller", seller,
        "--as-of", AS_OF.isoformat(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"Seller {seller}" in done.stdout
    for rule in load_pack("amazon").rules:
        assert rule.id in done.stdout
    assert "rejected source rows were left out" in done.stderr


def test_explain_unknown_seller_is_a_clear_error(
    cli: Callable[..., Done], small_source: Path
) -> None:
    """Explaining a seller absent from the source exits 2 with one message."""
    done = cli(
        "explain", "--pack", "amazon", "--source", small_source, "--seller", "NOPE",
        "--as-of", AS_OF.isoformat(),
    )  # fmt: skip
    assert done.returncode == 2
    assert "seller 'NOPE' has no orders or messages" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_demo_runs_end_to_end(cli: Callable[..., Done], tmp_path: Path) -> None:
    """`demo` generates, evaluates two packs, shows transitions and explains an ODR breach."""
    done = cli("demo", "--out", tmp_path, "--sellers", "300", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    assert "What the policy change does" in done.stdout
    assert "odr-over-target: matched" in done.stdout
    assert f"Files are in {tmp_path}" in done.stdout.replace("\n", "")
    names = ("decisions-amazon.jsonl", "decisions-amazon-2015.jsonl", "history.db")
    for name in (*names, "impact.json", "impact.html"):
        assert (tmp_path / name).is_file()


def test_help_has_examples(cli: Callable[..., Done]) -> None:
    """Each command's --help shows runnable examples."""
    for command in ("evaluate", "explain", "demo"):
        done = cli(command, "--help")
        assert done.returncode == 0
        assert f"sellerpolicy {command}" in done.stdout


def test_exemptions_turn_enforced_actions_into_reported_ones(
    cli: Callable[..., Done], tmp_path: Path
) -> None:
    """An exemption for a seller's rule (from --exemptions) reports its action, unenforced."""
    pack = load_pack("amazon")
    record = healthy_facts(pack, "S1", AS_OF) | ODR_TWO_PERCENT
    facts = tmp_path / "facts.jsonl"
    facts.write_text(json.dumps(record) + "\n")
    folder = tmp_path / "exemptions"
    folder.mkdir()
    (folder / "exm-1.yaml").write_text(
        "apiVersion: sellerpolicy/v1\n"
        "kind: PolicyExemption\n"
        "metadata: {id: exm-1}\n"
        "spec:\n"
        f"  pack: {pack.id}\n"
        "  seller_id: S1\n"
        "  rules: [odr-over-target]\n"
        "  reason: Carrier strike (ticket CS-1)\n"
        "  approver: jane.doe@example.com\n"
        "  expires: 2026-12-31\n"
    )
    out = tmp_path / "d.jsonl"
    done = cli(
        "evaluate", "--pack", "amazon", "--facts", facts, "--as-of", AS_OF.isoformat(),
        "--out", out, "--exemptions", folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (decision,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert decision["status"] == "healthy"
    assert [(a["action"], a["enforced"], a["exemption"]) for a in decision["actions"]] == [
        ("suspend", False, "exm-1")
    ]
