"""Amazon's Flat File Returns Report to the contract's returns table: reason codes
mapped by the mapping (an unlisted code kept as `other` and counted), returns linked
to the imported orders with the rejects of an orphan row, and return_rate assessable
only when a returns report is imported."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from importkit import (
    ORDER_COLUMNS,
    RETURNS_COLUMNS,
    load,
    order_line,
    return_line,
    write_report,
)

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.formats.registry import flat_mapping
from sellerpolicy.engine.importers.amazon_reports import (
    MANIFEST,
    AccountReports,
    ImportSummary,
    account_folders,
    import_amazon_reports,
)
from sellerpolicy.engine.sources.validate_rows import RETURN_REASONS


def _accounts(tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    write_report(
        root / "S1" / "orders.txt",
        ORDER_COLUMNS,
        [
            order_line("111-1", "2026-10-01T10:00:00+02:00"),  # line 2
            order_line("111-2", "2026-10-02T10:00:00Z", status="Canceled"),  # line 3
            order_line("111-3", "soon"),  # line 4: bad_timestamp, the order is rejected
            order_line("111-8", "2026-10-06T12:00:00Z"),  # line 5
        ],
    )
    write_report(
        root / "S1" / "returns.txt",
        RETURNS_COLUMNS,
        [
            return_line("R1", "111-1", "2026-10-01"),  # line 2: kept, at the order's time
            return_line("R2", "111-2", reason="WEIRD_CODE"),  # line 3: kept as other
            return_line("R3", "999"),  # line 4: unknown_order
            return_line("R4", "111-3"),  # line 5: rejected_order
            return_line("R5", "222-1"),  # line 6: seller_mismatch
            return_line("R6", "111-8", "2026-10-01"),  # line 7: before_order
            return_line("R7", "111-8", "soon"),  # line 8: bad_timestamp
            return_line("R8", "111-8", "2026-10-07", reason=""),  # line 9: missing_value
            return_line("R9", "111-8", "2026-10-07", "NOT_AS_DESCRIBED"),  # line 10: two
            return_line("R9", "111-8", "2026-10-07", "QUALITY_UNACCEPTABLE"),  # 11: items
            return_line("R10", "111-8", "2026-10-07", "UNWANTED_ITEM"),  # line 12: the
            return_line("R10", "111-8", "2026-10-07", "DEFECTIVE"),  # 13: reasons differ
            return_line("R11", "111-8", "2026-10-08", "WEIRD_CODE"),  # line 14: other
        ],
    )
    write_report(root / "S2" / "orders.txt", ORDER_COLUMNS, [order_line("222-1")])
    return root


@pytest.fixture
def imported(tmp_path: Path) -> tuple[Path, ImportSummary]:
    out = tmp_path / "source"
    return out, import_amazon_reports(account_folders(_accounts(tmp_path)), out)


def test_each_bad_return_line_is_a_reject_naming_file_line_column(
    imported: tuple[Path, ImportSummary],
) -> None:
    _, summary = imported
    got = {(Path(r.file).name, r.line, r.column, r.code) for r in summary.rejects}
    assert got == {
        ("orders.txt", 4, "purchase-date", "bad_timestamp"),
        ("returns.txt", 4, "Order ID", "unknown_order"),
        ("returns.txt", 5, "Order ID", "rejected_order"),
        ("returns.txt", 6, "Order ID", "seller_mismatch"),
        ("returns.txt", 7, "Return request date", "before_order"),
        ("returns.txt", 8, "Return request date", "bad_timestamp"),
        ("returns.txt", 9, "Return Reason", "missing_value"),
        ("returns.txt", 12, "Return Reason", "conflicting_value"),
        ("returns.txt", 13, "Return Reason", "conflicting_value"),
    }
    assert summary.lines["amazon-returns"] == 13
    assert summary.rows["returns"] == 4


def test_returns_rows_have_contract_reasons_and_load_without_a_reject(
    imported: tuple[Path, ImportSummary],
) -> None:
    out, _ = imported
    con, report = load(out)
    try:
        assert report.rejects == ()
        rows = con.execute(
            "SELECT return_id, order_id, seller_id, requested_at, reason FROM returns "
            "ORDER BY return_id"
        ).fetchall()
    finally:
        con.close()
    assert rows == [
        ("R1", "111-1", "S1", datetime(2026, 10, 1, 8, 0), "damaged"),
        ("R11", "111-8", "S1", datetime(2026, 10, 8), "other"),
        ("R2", "111-2", "S1", datetime(2026, 10, 5), "other"),
        ("R9", "111-8", "S1", datetime(2026, 10, 7), "not_as_described"),
    ]
    assert "return_rate" not in report.not_assessable


def test_an_unlisted_code_is_other_with_a_counted_warning(
    imported: tuple[Path, ImportSummary],
) -> None:
    out, summary = imported
    assert summary.warnings == (
        "unlisted_code: Return Reason 'WEIRD_CODE' on 2 kept line(s), read as 'other' "
        "(mapping amazon-returns 2021-06-30)",
    )
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["warnings"] == list(summary.warnings)
    assert [m["id"] for m in manifest["mappings"]] == ["amazon-all-orders", "amazon-returns"]
    assert manifest["rows"]["returns"] == 4
    assert manifest["accounts"][0]["returns"][0].endswith("returns.txt")
    carried = {c["metric"] for c in manifest["carries"]}
    left = {n["metric"] for n in manifest["not_assessable"]}
    assert "return_rate" in carried
    assert "return_rate" not in left
    assert "negative_feedback_rate" in left  # no feedback report was given


def test_without_returns_report_return_rate_is_not_assessable(tmp_path: Path) -> None:
    orders = write_report(tmp_path / "o.txt", ORDER_COLUMNS, [order_line("1")])
    out = tmp_path / "src"
    summary = import_amazon_reports([AccountReports("S9", (orders,))], out)
    left = {n.metric: n.because for n in summary.not_assessable}
    assert left["return_rate"] == "no Amazon Flat File Returns Report by Return Date was imported"
    assert "returns" not in summary.rows
    manifest = json.loads((out / MANIFEST).read_text())
    assert "return_rate" in {n["metric"] for n in manifest["not_assessable"]}
    assert manifest["warnings"] == []
    _, report = load(out)
    assert "return_rate" in report.not_assessable


def test_the_mapping_maps_every_code_to_a_contract_reason() -> None:
    field = flat_mapping("amazon-returns").field("reason")
    assert field is not None
    assert set(field.codes.values()) == set(RETURN_REASONS)
    assert field.otherwise == "other"


def test_a_returns_report_with_hyphenated_headers_is_refused(tmp_path: Path) -> None:
    """The documented header names are read; other spellings are another format."""
    root = _accounts(tmp_path)
    text = (root / "S1" / "returns.txt").read_text().replace("Order ID", "order-id", 1)
    (root / "S1" / "returns.txt").write_text(text)
    with pytest.raises(SourceError, match="unknown column 'order-id'"):
        import_amazon_reports(account_folders(root), tmp_path / "out")
