"""Amazon's order and feedback reports to a source: rows, rejects with file, line,
column and reason, item lines folded, and a source that loads without a reject."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from importkit import (
    FEEDBACK_COLUMNS,
    ORDER_COLUMNS,
    feedback_line,
    load,
    order_line,
    write_report,
)

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.importers.amazon_reports import (
    MANIFEST,
    AccountReports,
    account_folders,
    import_amazon_reports,
)
from sellerpolicy.engine.sources.tables import Format


def _accounts(tmp_path: Path) -> Path:
    """Two accounts: S1 with folded, broken and cancelled orders and feedback; S2."""
    root = tmp_path / "reports"
    write_report(
        root / "S1" / "orders.txt",
        ORDER_COLUMNS,
        [
            order_line("111-1", "2026-10-01T10:00:00+02:00", price="10.10"),  # line 2
            order_line("111-1", "2026-10-01T10:00:00+02:00", price="0.20"),  # line 3
            order_line("111-2", "2026-10-02T10:00:00Z", status="Canceled"),  # line 4
            order_line("111-3", "soon"),  # line 5: bad_timestamp
            order_line("111-3", "2026-10-02T10:00:00Z"),  # line 6: rejected with it
            order_line("111-4", status="Lost"),  # line 7: unknown_value
            order_line("111-5", "2026-10-03T10:00:00Z"),  # line 8: conflicting dates
            order_line("111-5", "2026-10-04T10:00:00Z"),  # line 9
            order_line("111-6", price="ten"),  # line 10: bad_number
            order_line("111-7", currency="dollars"),  # line 11: bad_currency
            order_line(""),  # line 12: missing_value
            order_line("111-8", "2026-10-06"),  # line 13: a date is midnight UTC
        ],
    )
    write_report(
        root / "S1" / "feedback.txt",
        FEEDBACK_COLUMNS,
        [
            feedback_line("111-1", "1", "2026-10-01"),  # line 2: kept, at the order's time
            feedback_line("111-1", "2", "2026-10-09"),  # line 3: duplicate_left
            feedback_line("111-2", "7"),  # line 4: out_of_range
            feedback_line("111-3"),  # line 5: rejected_order
            feedback_line("999"),  # line 6: unknown_order
            feedback_line("222-1"),  # line 7: seller_mismatch
            feedback_line("111-2", "3", "2026-09-09"),  # line 8: before_order
            feedback_line("111-8", "x"),  # line 9: bad_integer
        ],
    )
    write_report(
        root / "S2" / "orders.txt",
        ORDER_COLUMNS,
        [order_line("111-1"), order_line("222-1", status="Pending", price="")],
    )
    return root


@pytest.fixture
def imported(tmp_path: Path) -> tuple[Path, object]:
    out = tmp_path / "source"
    summary = import_amazon_reports(account_folders(_accounts(tmp_path)), out)
    return out, summary


def test_each_bad_line_is_a_reject_naming_file_line_column(imported: tuple[Path, object]) -> None:
    """Every rejected line, with the report's own column and a reason starting with
    the contract's reject code."""
    _, summary = imported
    got = {(Path(r.file).parts[-2:], r.line, r.column, r.code) for r in summary.rejects}  # type: ignore[attr-defined]
    orders, feedback, other = ("S1", "orders.txt"), ("S1", "feedback.txt"), ("S2", "orders.txt")
    assert got == {
        (orders, 5, "purchase-date", "bad_timestamp"),
        (orders, 6, "amazon-order-id", "rejected_order"),
        (orders, 7, "order-status", "unknown_value"),
        (orders, 8, "purchase-date", "conflicting_value"),
        (orders, 9, "purchase-date", "conflicting_value"),
        (orders, 10, "item-price", "bad_number"),
        (orders, 11, "currency", "bad_currency"),
        (orders, 12, "amazon-order-id", "missing_value"),
        (other, 2, "amazon-order-id", "duplicate_id"),
        (feedback, 3, "Order ID", "duplicate_left"),
        (feedback, 4, "Rating", "out_of_range"),
        (feedback, 5, "Order ID", "rejected_order"),
        (feedback, 6, "Order ID", "unknown_order"),
        (feedback, 7, "Order ID", "seller_mismatch"),
        (feedback, 8, "Date", "before_order"),
        (feedback, 9, "Rating", "bad_integer"),
    }
    reasons = {r.code: r.reason for r in summary.rejects}  # type: ignore[attr-defined]
    assert reasons["bad_timestamp"] == (
        "bad_timestamp: purchase-date 'soon' is not an ISO 8601 timestamp or date"
    )
    assert "S1/orders.txt line 2" in reasons["duplicate_id"]


def test_orders_fold_items_and_keep_amounts_of_sales(imported: tuple[Path, object]) -> None:
    """Item prices sum exactly; a cancelled or pending order keeps no amount; offsets
    become UTC; a date-only purchase-date is midnight UTC."""
    out, _ = imported
    con, report = load(out)
    assert report.rejects == ()
    rows = con.execute(
        "SELECT order_id, seller_id, ordered_at, amount, currency, cancelled_at FROM orders "
        "ORDER BY order_id"
    ).fetchall()
    assert rows == [
        ("111-1", "S1", datetime(2026, 10, 1, 8), 10.3, "USD", None),
        ("111-2", "S1", datetime(2026, 10, 2, 10), None, "USD", None),
        ("111-8", "S1", datetime(2026, 10, 6), 10.0, "USD", None),
        ("222-1", "S2", datetime(2026, 10, 1, 10), None, "USD", None),
    ]


def test_feedback_becomes_left_events_at_or_after_their_order(
    imported: tuple[Path, object],
) -> None:
    """A feedback dated its order's day is placed at the order's time."""
    out, _ = imported
    con, _ = load(out)
    rows = con.execute('SELECT order_id, seller_id, event, rating, "at" FROM feedback').fetchall()
    assert rows == [("111-1", "S1", "left", 1, datetime(2026, 10, 1, 8))]


def test_manifest_names_mappings_accounts_and_what_is_carried(
    imported: tuple[Path, object],
) -> None:
    """import.json records the mappings, each account's files and order dates, and
    which metrics the reports carry or leave not assessable."""
    out, summary = imported
    manifest = json.loads((out / MANIFEST).read_text())
    assert [m["id"] for m in manifest["mappings"]] == [
        "amazon-all-orders",
        "amazon-seller-feedback",
    ]
    assert [a["seller_id"] for a in manifest["accounts"]] == ["S1", "S2"]
    carried = {c["metric"] for c in manifest["carries"]}
    assert carried == {"orders", "gross_sales", "sales_growth_rate", "negative_feedback_rate"}
    assert {c.metric for c in summary.carried} == carried  # type: ignore[attr-defined]
    left = {n["metric"] for n in manifest["not_assessable"]}
    assert {"late_shipment_rate", "valid_tracking_rate", "positive_feedback_rate"} <= left
    assert not carried & left


def test_without_feedback_report_feedback_metrics_are_not_carried(tmp_path: Path) -> None:
    """No feedback report: no feedback table, and negative feedback is not carried."""
    orders = write_report(tmp_path / "o.txt", ORDER_COLUMNS, [order_line("1")])
    out = tmp_path / "src"
    summary = import_amazon_reports([AccountReports("S9", (orders,))], out, fmt=Format.CSV)
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "orders.csv"]
    assert "negative_feedback_rate" not in {c.metric for c in summary.carried}
    assert "negative_feedback_rate" in {n.metric for n in summary.not_assessable}
    _, report = load(out)
    assert report.rows_valid["orders"] == 1


def test_malformed_lines_are_rejected_and_others_keep_their_numbers(tmp_path: Path) -> None:
    """Blank lines, a wrong field count, bytes that are not UTF-8 and stray carriage
    returns send a file line by line: each bad line a reject, the rest numbered."""
    good = "\t".join(order_line("1").get(c, "") for c in ORDER_COLUMNS)
    path = write_report(tmp_path / "o.txt", ORDER_COLUMNS, [good, "", "too\tfew", good])
    with path.open("ab") as fh:
        fh.write(b"\xff\xfe" + good.replace("1", "2", 1).encode() + b"\n")
        fh.write(good.replace("1", "3", 1).encode() + b"\r\n")
    summary = import_amazon_reports([AccountReports("S1", (path,))], tmp_path / "src")
    got = [(r.line, r.code) for r in summary.rejects]
    assert got == [(4, "field_count"), (6, "bad_encoding")]
    assert summary.rows == {"orders": 2}  # lines 2 and 5 are the items of order 1
    con, _ = load(tmp_path / "src")
    assert con.execute("SELECT order_id, amount FROM orders ORDER BY 1").fetchall() == [
        ("1", 20.0),
        ("3", 10.0),
    ]


def test_crlf_and_bom_files_read_like_plain_ones(tmp_path: Path) -> None:
    """A Windows file (CR LF, byte order mark) gives the same rows and line numbers."""
    rows = [order_line("1"), order_line("2", "never")]
    plain = write_report(tmp_path / "a" / "o.txt", ORDER_COLUMNS, rows)
    crlf = write_report(tmp_path / "b" / "o.txt", ORDER_COLUMNS, rows, newline="\r\n")
    crlf.write_bytes(b"\xef\xbb\xbf" + crlf.read_bytes())
    a = import_amazon_reports([AccountReports("S1", (plain,))], tmp_path / "sa")
    b = import_amazon_reports([AccountReports("S1", (crlf,))], tmp_path / "sb")
    assert [(r.line, r.code) for r in a.rejects] == [(3, "bad_timestamp")]
    assert [(r.line, r.code) for r in b.rejects] == [(3, "bad_timestamp")]
    assert a.rows == b.rows == {"orders": 1}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["amazon-order-id", "purchase-date", "order-id"], "unknown column 'order-id'"),
        (["amazon-order-id", "purchase-date"], "missing column(s) 'item-price', 'currency'"),
        (["amazon-order-id", "amazon-order-id"], "names column 'amazon-order-id' twice"),
    ],
)
def test_a_report_with_another_header_is_refused(
    tmp_path: Path, header: list[str], message: str
) -> None:
    """A file that is not this report (or another version of it) stops the import with
    one error naming the file, and nothing is written."""
    path = write_report(tmp_path / "o.txt", header, [])
    with pytest.raises(SourceError) as caught:
        import_amazon_reports([AccountReports("S1", (path,))], tmp_path / "src")
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert not (tmp_path / "src").exists()


def test_an_empty_file_and_a_full_output_folder_are_refused(tmp_path: Path) -> None:
    """An empty report has no header; an output folder holding files is not overwritten."""
    empty = tmp_path / "o.txt"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="is empty"):
        import_amazon_reports([AccountReports("S1", (empty,))], tmp_path / "src")
    full = tmp_path / "full"
    full.mkdir()
    (full / "orders.csv").write_text("x\n")
    good = write_report(tmp_path / "g.txt", ORDER_COLUMNS, [order_line("1")])
    with pytest.raises(ValueError, match="not an empty folder"):
        import_amazon_reports([AccountReports("S1", (good,))], full)


def test_account_folders_need_an_order_report(tmp_path: Path) -> None:
    """--accounts: one sub-folder per seller id, each with its order report."""
    (tmp_path / "S1").mkdir()
    with pytest.raises(ValueError, match="no order report"):
        account_folders(tmp_path)
    with pytest.raises(ValueError, match="no account folders"):
        account_folders(tmp_path / "S1")
