"""The import commands on the command line: help, a generated marketplace imported
from its report folders, rejects beside the source, --strict, unusable options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from importkit import (
    ORDER_COLUMNS,
    RETURNS_COLUMNS,
    error_line,
    load,
    order_line,
    return_line,
    run_main,
    write_report,
)

from sellerpolicy.engine.formats.registry import MAPPINGS_DIR, SHIPPED


def test_help_lists_the_import_commands_and_reconcile() -> None:
    """`import --help` names its three formats; reconcile and generate document theirs."""
    done = run_main("import", "--help")
    assert done.returncode == 0, done.stderr
    for command in ("amazon-reports", "amazon-account-health", "ebay-seller-standards"):
        assert command in done.stdout
    done = run_main("reconcile", "--help")
    assert done.returncode == 0
    assert "--tolerance" in done.stdout
    assert "not carried" in done.stdout
    assert "amazon-reports" in run_main("generate", "--help").stdout


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small marketplace written as reports, with deliberately broken lines."""
    out = tmp_path_factory.mktemp("cli") / "reports"
    done = run_main(
        "generate", "--sellers", "40", "--days", "60", "--seed", "3", "--as-of", "2026-11-01",
        "--out", out, "--format", "amazon-reports", "--broken-share", "0.005",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def test_generated_reports_import_with_rejects_beside_the_source(
    generated: Path, tmp_path: Path
) -> None:
    """--accounts: one folder per account; bad lines in <out>.rejects.jsonl with file,
    line, column and reason; the source loads with no reject."""
    out = tmp_path / "source"
    done = run_main("import", "amazon-reports", "--accounts", generated, "--out", out,
                    "--format", "csv")  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "source.rejects.jsonl").read_text()
    rejects = [json.loads(line) for line in text.splitlines()]
    assert rejects
    assert set(rejects[0]) == {"file", "line", "column", "reason"}
    assert {r["reason"].split(":")[0] for r in rejects} == {
        "bad_timestamp",
        "unknown_value",
        "field_count",
        "unknown_order",
    }
    assert "rejected: " in done.stderr
    _, report = load(out)
    assert report.rejects == ()
    assert report.rows_valid["orders"] > 1000
    assert report.rows_valid["returns"] > 10
    assert "return_rate" not in report.not_assessable


def test_strict_keeps_no_source_when_a_line_is_rejected(generated: Path, tmp_path: Path) -> None:
    """--strict: exit 1, the rejects written, no source folder left."""
    out = tmp_path / "source"
    done = run_main("import", "amazon-reports", "--accounts", generated, "--out", out, "--strict")
    assert done.returncode == 1
    assert "--strict forbids rejects" in error_line(done)
    assert not out.exists()
    assert (tmp_path / "source.rejects.jsonl").exists()


def test_one_account_by_its_files(tmp_path: Path) -> None:
    """--orders with --seller-id: a one-account source."""
    orders = write_report(tmp_path / "orders.txt", ORDER_COLUMNS, [order_line("1")])
    out = tmp_path / "source"
    done = run_main("import", "amazon-reports", "--orders", orders, "--seller-id", "A1",
                    "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    con, _ = load(out)
    assert con.execute("SELECT seller_id FROM orders").fetchall() == [("A1",)]


def test_one_account_with_its_returns_report(tmp_path: Path) -> None:
    """--returns: the returns table, an orphan return rejected beside the source, an
    unlisted reason code read as `other` with a warning on the output."""
    orders = write_report(tmp_path / "orders.txt", ORDER_COLUMNS, [order_line("1")])
    returns = write_report(
        tmp_path / "returns.txt",
        RETURNS_COLUMNS,
        [return_line("R1", "1", reason="SOMETHING_NEW"), return_line("R2", "2")],
    )
    out = tmp_path / "source"
    done = run_main("import", "amazon-reports", "--orders", orders, "--returns", returns,
                    "--seller-id", "A1", "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning: unlisted_code: Return Reason 'SOMETHING_NEW'" in done.stderr
    rejects = [json.loads(x) for x in (tmp_path / "source.rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["column"], r["reason"].split(":")[0]) for r in rejects] == [
        (3, "Order ID", "unknown_order")
    ]
    con, report = load(out)
    assert con.execute("SELECT return_id, reason FROM returns").fetchall() == [("R1", "other")]
    assert "return_rate" not in report.not_assessable


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--orders", "o.txt"], "give --accounts DIR, or --orders FILE with --seller-id ID"),
        (["--accounts", "nowhere"], "nowhere"),
        (["--accounts", ".", "--seller-id", "S1"], "not both"),
    ],
)
def test_unusable_options_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    """One error line, exit 2, nothing written."""
    done = run_main("import", "amazon-reports", *args, "--out", tmp_path / "source")
    assert done.returncode == 2
    assert message in error_line(done)
    assert not (tmp_path / "source").exists()


def test_a_report_that_is_another_report_exits_2(tmp_path: Path) -> None:
    """An order report with an unknown column: exit 2, one line naming the file."""
    orders = write_report(tmp_path / "orders.txt", ["amazon-order-id", "ship-date"], [])
    done = run_main("import", "amazon-reports", "--orders", orders, "--seller-id", "A1",
                    "--out", tmp_path / "source")  # fmt: skip
    assert done.returncode == 2
    line = error_line(done)
    assert str(orders) in line
    assert "unknown column 'ship-date'" in line


def test_a_user_mapping_reads_a_newer_report_version(tmp_path: Path) -> None:
    """A new report version is a new mapping file (--orders-mapping), not new code."""
    text = (MAPPINGS_DIR / SHIPPED["amazon-all-orders"]).read_text()
    newer = tmp_path / "orders-2027.yaml"
    newer.write_text(
        text.replace('version: "2021-06-30"', 'version: "2027-01-01"').replace(
            "  - price-designation\n", "  - price-designation\n  - buyer-company-name\n"
        )
    )
    columns = [*ORDER_COLUMNS, "buyer-company-name"]
    orders = write_report(tmp_path / "orders.txt", columns, [order_line("1")])
    out = tmp_path / "source"
    plain = run_main("import", "amazon-reports", "--orders", orders, "--seller-id", "A1",
                     "--out", out)  # fmt: skip
    assert plain.returncode == 2
    done = run_main("import", "amazon-reports", "--orders", orders, "--seller-id", "A1",
                    "--out", out, "--orders-mapping", newer)  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "import.json").read_text())
    assert manifest["mappings"][0]["version"] == "2027-01-01"
