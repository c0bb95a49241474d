"""Exit codes as documented, one line per error, and a CLI that starts light.

0 ok, 1 findings, 2 unusable input (one ``error:`` line, no traceback),
3 internal error (one line with a correlation id; the traceback is logged at
debug level only).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from runkit import AS_OF, MAIN, ROOT, healthy_facts, run_cli

from sellerpolicy.engine.cli import validate as validate_module
from sellerpolicy.engine.logs import configure_logging
from sellerpolicy.rules import load_pack


@pytest.fixture
def facts(tmp_path: Path) -> Path:
    path = tmp_path / "facts.jsonl"
    path.write_text(json.dumps(healthy_facts(load_pack("amazon"), "S1", AS_OF)) + "\n")
    return path


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_unknown_pack_is_unusable_input(facts: Path, tmp_path: Path) -> None:
    """An unknown pack exits 2 with one line naming it and the shipped packs."""
    done = run_cli(
        "evaluate", "--pack", "nosuchpack", "--facts", facts, "--as-of", AS_OF.isoformat(),
        "--out", tmp_path / "d.jsonl",
    )  # fmt: skip
    assert done.returncode == 2
    line = _one_line(done)
    assert "'nosuchpack'" in line
    assert "amazon" in line


def test_missing_output_folder_is_unusable_input(facts: Path) -> None:
    """An --out in a folder that does not exist exits 2 before any work, one line."""
    done = run_cli(
        "evaluate", "--pack", "amazon", "--facts", facts, "--as-of", AS_OF.isoformat(),
        "--out", "/nonexistent/x.jsonl",
    )  # fmt: skip
    assert done.returncode == 2
    line = _one_line(done)
    assert "--out" in line
    assert "/nonexistent" in line
    assert not Path("/nonexistent").exists()


@pytest.mark.parametrize(
    "as_of", ["2026-13-45", "2026-02-30", "99999-01-01", "0001-01-01", "9999-12-31"]
)
def test_out_of_range_date_is_unusable_input(facts: Path, tmp_path: Path, as_of: str) -> None:
    done = run_cli(
        "evaluate", "--pack", "amazon", "--facts", facts, "--as-of", as_of,
        "--out", tmp_path / "d.jsonl",
    )  # fmt: skip
    assert done.returncode == 2
    assert "--as-of" in _one_line(done)


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31"])
def test_metrics_at_the_calendar_ends_is_unusable_input(
    small_source: Path, tmp_path: Path, as_of: str
) -> None:
    """A window reaching past year 1 or 9999 is exit 2, not an OverflowError (exit 3)."""
    done = run_cli(
        "metrics", "--pack", "amazon", "--source", small_source, "--as-of", as_of,
        "--out", tmp_path / "m.jsonl",
    )  # fmt: skip
    assert done.returncode == 2
    assert "out of range" in _one_line(done)


def test_usage_error_is_one_line(tmp_path: Path) -> None:
    """Click's usage errors keep their message, on one line, with where to find help."""
    done = run_cli("evaluate", "--pack", "amazon", "--as-of", "2026-11-01", "--out", "d.jsonl")
    assert done.returncode == 2
    line = _one_line(done)
    assert "--source" in line
    assert "sellerpolicy evaluate --help" in line
    unknown = run_cli("evaluate", "--no-such-option")
    assert unknown.returncode == 2
    assert "--no-such-option" in _one_line(unknown)


def test_no_arguments_prints_help_and_exits_2() -> None:
    done = run_cli()
    assert done.returncode == 2
    assert "validate" in done.stdout
    assert done.stderr == ""


def test_unexpected_exception_exits_3_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug inside a command: exit 3, one line with a correlation id, the same id
    in the error log, and no traceback at the default level."""

    def broken(*_: object) -> None:
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(validate_module, "validate_paths", broken)
    monkeypatch.setattr(sys, "argv", ["sellerpolicy", "validate", "policies/amazon"])
    configure_logging(level=20)
    capsys.readouterr()
    from sellerpolicy.engine.cli.root import main  # noqa: PLC0415

    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 3
    assert "Traceback" not in err
    said = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(said) == 1
    assert "ZeroDivisionError: planted" in said[0]
    correlation_id = said[0].split("internal error ")[1].split()[0]
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [(e["event"], e["correlation_id"]) for e in logged] == [
        ("internal_error", correlation_id)
    ]


def test_traceback_is_logged_at_debug_level(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: object) -> None:
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(validate_module, "validate_paths", broken)
    monkeypatch.setattr(sys, "argv", ["sellerpolicy", "validate", "policies/amazon"])
    monkeypatch.setenv("SELLERPOLICY_LOG_LEVEL", "debug")
    configure_logging()
    capsys.readouterr()
    from sellerpolicy.engine.cli.root import main  # noqa: PLC0415

    try:
        with pytest.raises(SystemExit) as exited:
            main()
    finally:
        configure_logging(level=20)
    err = capsys.readouterr().err
    assert exited.value.code == 3
    logged = {e["event"]: e for e in map(json.loads, filter(None, err.splitlines()[:-1]))}
    assert "ZeroDivisionError: planted" in logged["internal_error_traceback"]["traceback"]
    assert (
        logged["internal_error_traceback"]["correlation_id"]
        == logged["internal_error"]["correlation_id"]
    )


HEAVY = ("duckdb", "pyarrow", "sqlalchemy", "alembic", "fastapi", "uvicorn", "dask", "distributed")


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", "policies/amazon"], ["test", "policies/amazon"]],
    ids=["help", "validate", "test"],
)
def test_light_commands_import_no_heavy_library(args: list[str]) -> None:
    """--help, validate and test import none of DuckDB, Arrow, SQLAlchemy, Alembic,
    FastAPI or Dask: they start in a fraction of a second."""
    probe = (
        "import atexit, sys\n"
        f"heavy = {HEAVY!r}\n"
        "atexit.register(lambda: print('HEAVY', sorted(m for m in heavy if m in sys.modules)))\n"
        f"sys.argv = ['sellerpolicy', *{args!r}]\n" + MAIN
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []"


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_same_seller_twice_in_a_facts_file_is_refused(tmp_path: Path, suffix: str) -> None:
    """Two rows for one seller would be two decisions: one clear line, exit 2."""
    pack = load_pack("amazon")
    rows = [healthy_facts(pack, s, AS_OF) for s in ("S1", "S2", "S1")]
    path = tmp_path / f"facts{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif suffix == ".csv":
        pa_csv.write_csv(pa.Table.from_pylist(rows), path)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    done = run_cli(
        "evaluate", "--pack", "amazon", "--facts", path, "--as-of", AS_OF.isoformat(),
        "--out", tmp_path / "d.jsonl",
    )  # fmt: skip
    assert done.returncode == 2
    line = _one_line(done)
    assert "'S1' has 2 rows" in line
    assert str(path) in line
    assert not (tmp_path / "d.jsonl").exists()
