"""The fast path of clean item-line runs (``importers.clean_runs``) changes nothing but
speed: on reports mixing clean orders with every kind of bad or unusual line, the
source written and every reject are those of the general path alone."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from importkit import FEEDBACK_COLUMNS, ORDER_COLUMNS, feedback_line, order_line, write_report

from sellerpolicy.engine.importers import bulk_lines, clean_runs, report_files
from sellerpolicy.engine.importers.amazon_reports import (
    AccountReports,
    ImportSummary,
    import_amazon_reports,
)
from sellerpolicy.engine.importers.clean_runs import arrow_type
from sellerpolicy.engine.sources.tables import TABLES

_TIMES = [
    "2026-10-01T10:00:00+00:00",
    "2026-10-01T23:30:00-05:00",
    "2026-10-02T01:15:00+14:00",
    "2026-10-02T08:00:00Z",
    "2026-10-03",
    "2026-10-03 09:00:00",  # another shape: the contract's own parser reads it
    "2026-10-03T09:00:00+15:00",  # an offset too large
    "2026-02-30T09:00:00+00:00",  # no such day
    " 2026-10-01T10:00:00+00:00",
    "2026-10-01T10:00:00+00:00\u00a0",
    "soon",
    "",
]
_PRICES = [
    *("10.00", "0.01", "1e3", "12.345678912345"),
    *(" 5.5", "5.5 ", "\u00a05.5", "\x0c7", " ", "", "ten", "inf", "-3.20"),
]
_STATUSES = ["Shipped", "Shipped", "Pending", "Canceled", "Complete", " Shipped", "Lost", ""]
_CURRENCIES = ["USD", "USD", "EUR", "usd", "US", " USD", "USD\u00a0", ""]


def _messy_line(rng: random.Random, order_id: str) -> dict[str, str]:
    """An item line with, now and then, a bad or unusual value."""
    line = order_line(order_id)
    if rng.random() < 0.25:
        column, values = rng.choice(
            [
                ("purchase-date", _TIMES),
                ("item-price", _PRICES),
                ("order-status", _STATUSES),
                ("currency", _CURRENCIES),
            ]
        )
        line[column] = rng.choice(values)
    else:
        line["item-price"] = rng.choice(_PRICES[:4])
    return line


def _reports(root: Path, seed: int) -> list[AccountReports]:
    """Three accounts: runs of one to four item lines, lines of one order apart, the same
    order in two files, keys with spaces or none, and malformed lines."""
    rng = random.Random(seed)
    ids = [f"O{n:04d}" for n in range(60)]
    accounts = []
    for account in ("S1", "S2", "S3"):
        rows: list[dict[str, str] | str] = []
        for _ in range(rng.randint(30, 60)):
            order_id = rng.choice(ids)
            if rng.random() < 0.05:
                order_id = rng.choice(
                    [f" {order_id}", f"{order_id} ", f"\u00a0{order_id}", "", "   "]
                )
            template = _messy_line(rng, order_id)
            for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
                line = dict(template)
                if rng.random() < 0.1:
                    line = _messy_line(rng, order_id)
                line["item-price"] = rng.choice([line["item-price"], *_PRICES[:4]])
                rows.append(line)
            if rng.random() < 0.05:
                rows.append(rng.choice(["too\tfew", "O9999\t" * 40]))
        if rng.random() < 0.5:  # the lines of one order, apart
            rows.append(
                order_line(str(rows[0]["amazon-order-id"]) if isinstance(rows[0], dict) else "x")
            )
        orders = write_report(root / account / "orders.txt", ORDER_COLUMNS, rows)
        feedback = write_report(
            root / account / "feedback.txt",
            FEEDBACK_COLUMNS,
            [feedback_line(rng.choice(ids), day="2026-10-05") for _ in range(5)],
        )
        accounts.append(AccountReports(account, (orders,), (feedback,)))
    return accounts


def _outcome(summary: ImportSummary) -> tuple[object, ...]:
    with duckdb.connect() as con:
        orders = con.execute(
            f"SELECT * FROM read_parquet('{summary.out / 'orders.parquet'}')"
        ).fetchall()
        feedback = (
            con.execute(
                f"SELECT * FROM read_parquet('{summary.out / 'feedback.parquet'}')"
            ).fetchall()
            if (summary.out / "feedback.parquet").exists()
            else []
        )
    return orders, feedback, summary.rejects, dict(summary.rows), dict(summary.lines)


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Each settling of the fast path: the lines folded, and those left."""
    calls: list[tuple[int, int]] = []
    settle = clean_runs.settle

    def spy(con: Any, mapping: Any, parts: Sequence[Any]) -> tuple[pa.Table, pa.Table]:
        settled, rest = settle(con, mapping, parts)
        calls.append((sum(p.lines.num_rows for p in parts), rest.num_rows))
        return settled, rest

    monkeypatch.setattr("sellerpolicy.engine.importers.amazon_reports.settle", spy)
    return calls


@pytest.mark.parametrize("seed", range(12))
def test_clean_runs_give_the_general_paths_rows_and_rejects(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = _reports(tmp_path / "reports", seed)
    left = _spy(monkeypatch)
    fast = _outcome(import_amazon_reports(accounts, tmp_path / "fast"))
    (read, rest), *_ = left
    assert 0 < rest < read, "both paths have lines to fold"
    monkeypatch.setattr(clean_runs, "ENABLED", False)
    general = _outcome(import_amazon_reports(accounts, tmp_path / "general"))
    assert fast == general
    orders, _, rejects, _, _ = fast
    assert orders, "some orders are kept"
    assert rejects, "and some lines are rejected"


@pytest.mark.parametrize("seed", range(4))
def test_clean_runs_folded_batch_by_batch_give_the_general_paths_rows(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file read in its own batch, and folded apart: the ids the batches share still
    send their records to the general path."""
    accounts = _reports(tmp_path / "reports", seed)
    monkeypatch.setattr(
        report_files, "_GROUP_BYTES", 1 + min(a.orders[0].stat().st_size for a in accounts)
    )
    left = _spy(monkeypatch)
    folded: list[int] = []
    fold_part = clean_runs.fold_part

    def spy(mapping: Any, lines: pa.Table, sellers: Any) -> Any:
        folded.append(lines.num_rows)
        return fold_part(mapping, lines, sellers)

    monkeypatch.setattr("sellerpolicy.engine.importers.amazon_reports.fold_part", spy)
    fast = _outcome(import_amazon_reports(accounts, tmp_path / "fast"))
    (read, rest), *_ = left
    assert 0 < rest < read, "both paths have lines to fold"
    assert len(folded) > 2, "in several parts"
    monkeypatch.setattr(clean_runs, "ENABLED", False)
    general = _outcome(import_amazon_reports(accounts, tmp_path / "general"))
    assert fast == general


def test_clean_reports_take_the_fast_path_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clean reports leave nothing to the general path (which would find every line)."""
    rows = [order_line(f"O{n}", price=f"{n}.25") for n in range(50) for _ in range(n % 3 + 1)]
    orders = write_report(tmp_path / "S1" / "orders.txt", ORDER_COLUMNS, rows)
    left = _spy(monkeypatch)
    summary = import_amazon_reports([AccountReports("S1", (orders,))], tmp_path / "out")
    assert left == [(len(rows), 0)]
    assert summary.rows["orders"] == 50
    assert not summary.rejects


@pytest.mark.parametrize("names", [False, True], ids=["mixed", "a-line-of-names"])
def test_files_read_together_number_their_lines_as_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, names: bool
) -> None:
    """Small files read in one buffer (``importers.bulk_lines``) give every line the file
    and number the careful path gives, beside files it leaves to that path (line breaks
    CR LF, a byte-order mark, no final line break) and any number of lines in each; a
    line repeating the header's names is read (and rejected) as the careful path reads
    it."""
    bad = order_line("B1", purchase="soon")
    shapes: dict[str, tuple[list[dict[str, str] | str], str]] = {
        "plain": ([order_line("P1"), bad, order_line("P2")], "\n"),
        "crlf": ([order_line("C1"), bad], "\r\n"),
        "header-only": ([], "\n"),
        "long": ([order_line(f"L{n}") for n in range(300)] + [bad], "\n"),
        "other": ([bad, order_line("Q1")], "\n"),
    }
    if names:
        shapes["names"] = (["\t".join(ORDER_COLUMNS), order_line("N1"), bad], "\n")
    accounts = []
    for name, (rows, newline) in shapes.items():
        path = write_report(tmp_path / name / "orders.txt", ORDER_COLUMNS, rows, newline)
        accounts.append(AccountReports(name, (path,)))
    bom = tmp_path / "bom" / "orders.txt"
    bom.parent.mkdir()
    bom.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "plain" / "orders.txt").read_bytes())
    open_end = tmp_path / "open" / "orders.txt"
    open_end.parent.mkdir()
    open_end.write_bytes((tmp_path / "plain" / "orders.txt").read_bytes().rstrip(b"\n"))
    accounts += [AccountReports("bom", (bom,)), AccountReports("open", (open_end,))]
    careful: list[list[int]] = []
    read_bulk = report_files.read_bulk

    def spy(*args: Any) -> Iterator[pa.Table]:
        yield from read_bulk(*args)
        careful.append(list(args[-1]))

    monkeypatch.setattr(report_files, "read_bulk", spy)
    together = import_amazon_reports(accounts, tmp_path / "together")
    everything = list(range(len(accounts)))
    # crlf, bom, open: a line repeating the header's names is a line like any other
    assert careful == [[1, 6, 7] if names else [1, 5, 6]]
    monkeypatch.setattr(report_files, "read_bulk", _none_read_together(everything))
    alone = import_amazon_reports(accounts, tmp_path / "alone")
    assert _outcome(together)[0] == _outcome(alone)[0]
    assert together.rejects == alone.rejects
    found = {(Path(r.file).parent.name, r.line) for r in together.rejects}
    assert {("plain", 3), ("crlf", 3), ("long", 302), ("other", 2), ("bom", 3)} <= found


@pytest.mark.parametrize("seed", range(3))
def test_sums_of_many_decimals_are_the_general_paths(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item prices of every documented shape (up to six digits before the point and nine
    after, negative, zero) summed over runs of one to six lines, and a run too long for
    the fast path, and one summing to more units than a double holds exactly: the amounts
    are those of the general path, bit for bit."""
    rng = random.Random(seed)

    def price() -> str:
        whole = str(rng.randrange(10 ** rng.randint(1, 6)))
        places = rng.randint(0, 9)
        fraction = "".join(rng.choice("0123456789") for _ in range(places))
        return rng.choice(["", "", "-"]) + whole + (f".{fraction}" if places else "")

    statuses = [rng.choice(["Shipped", "Pending"]) for _ in range(300)]
    rows = [
        order_line(f"O{n}", price=price(), status=statuses[n])
        for n in range(300)
        for _ in range(rng.randint(1, 6))
    ]
    rows += [order_line("LONG", price=price()) for _ in range(1001)]
    rows += [order_line("BIG", price="999999.999999999") for _ in range(10)]  # > 2^53 units
    orders = write_report(tmp_path / "S1" / "orders.txt", ORDER_COLUMNS, rows)
    accounts = [AccountReports("S1", (orders,))]
    left = _spy(monkeypatch)
    fast = _outcome(import_amazon_reports(accounts, tmp_path / "fast"))
    assert left == [(len(rows), 1011)], "only the long and big runs take the general path"
    monkeypatch.setattr(clean_runs, "ENABLED", False)
    general = _outcome(import_amazon_reports(accounts, tmp_path / "general"))
    assert fast == general


def test_orders_are_written_in_file_and_line_order(tmp_path: Path) -> None:
    """Records of both paths, interleaved across files: written in the order of their
    first line, file by file."""
    first = [order_line("A1"), order_line("A2", price="x"), order_line("A3"), order_line("A2")]
    second = [order_line("B1"), order_line("B2"), order_line("B1"), order_line("B3")]
    accounts = [
        AccountReports("S1", (write_report(tmp_path / "S1" / "orders.txt", ORDER_COLUMNS, first),)),
        AccountReports(
            "S2", (write_report(tmp_path / "S2" / "orders.txt", ORDER_COLUMNS, second),)
        ),
    ]
    summary = import_amazon_reports(accounts, tmp_path / "out")
    with duckdb.connect() as con:
        written = con.execute(
            f"SELECT order_id FROM read_parquet('{summary.out / 'orders.parquet'}')"
        ).fetchall()
    # A2 is rejected (a bad line), B1's lines are apart (the general path folds them).
    assert [r[0] for r in written] == ["A1", "A3", "B1", "B2", "B3"]
    # The contract's types; a column without null is REQUIRED (as DuckDB writes a table).
    schema = pq.read_schema(summary.out / "orders.parquet")
    assert [(f.name, str(f.type)) for f in schema] == [
        (name, str(arrow_type(kind))) for name, kind in TABLES["orders"]
    ]
    assert {f.name for f in schema if not f.nullable} == {
        "order_id",
        "seller_id",
        "ordered_at",
        "amount",
        "currency",
    }


def test_batches_of_files_share_one_buffer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files read in several batches through one buffer (each batch overwriting the
    last): every line has the values and number it has read alone."""
    accounts = []
    for n in range(12):
        rows = [order_line(f"O{n}-{k}", price=f"{n}.{k:02d}") for k in range(n % 4 + 1)]
        if n == 5:
            rows.append(order_line(f"O{n}-bad", purchase="soon"))
        path = write_report(tmp_path / f"S{n:02d}" / "orders.txt", ORDER_COLUMNS, rows)
        accounts.append(AccountReports(f"S{n:02d}", (path,)))
    size = max(a.orders[0].stat().st_size for a in accounts)
    monkeypatch.setattr(report_files, "_GROUP_BYTES", 2 * size)
    batches = _outcome(import_amazon_reports(accounts, tmp_path / "batches"))
    everything = list(range(len(accounts)))
    monkeypatch.setattr(report_files, "read_bulk", _none_read_together(everything))
    alone = _outcome(import_amazon_reports(accounts, tmp_path / "alone"))
    assert batches == alone
    assert batches[2], "the bad line is rejected"


def _none_read_together(everything: list[int]) -> Any:
    """A ``read_bulk`` leaving every file to the careful path."""

    def read_bulk(*args: Any) -> Iterator[pa.Table]:
        args[-1].extend(everything)
        yield from ()

    return read_bulk


def test_parsed_columns_do_not_share_the_read_buffer() -> None:
    """The buffer of a batch is read over by the next one while the batch's lines are
    folded: Arrow's parse must copy the values out of it (none of its buffers in it)."""
    lines = "\n".join(f"O{n}\t2026-10-01T10:00:00Z\t{n}.25\tUSD\tShipped" for n in range(5000))
    buffer = bytearray((lines + "\n").encode())
    names = ["id", "at", "price", "currency", "status"]
    table = bulk_lines.parse_text_columns(
        pa.BufferReader(pa.py_buffer(memoryview(buffer))), names, names, "\t"
    )
    assert table is not None
    before = table.to_pylist()
    start = np.frombuffer(buffer, np.uint8).ctypes.data
    inside = [
        b
        for column in table.columns
        for chunk in column.chunks
        for b in chunk.buffers()
        if b is not None and start <= b.address < start + len(buffer)
    ]
    assert not inside
    buffer[:] = b"\t" * len(buffer)
    assert table.to_pylist() == before
