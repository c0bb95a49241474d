"""A rejected row of each kind in the middle of many clean rows: exactly the rejects
(rows, columns, reasons, order) the validation gave before it looked for rejected
rows with a plain predicate first and skipped the duplicate-id checks of unique ids
(issue #15): the expected lists were written by that earlier validation.

Each table has clean rows before and after its bad ones, so a check that ran only
on a prefix, lost the file order or mixed up row numbers would show; the source is
loaded with its duplicated ids (every duplicate check runs) and without them (each
id column is unique, so those checks are skipped), in every format, Parquet both in
place and copied.
"""

# The expected reasons are kept one a line, as the report shows them.
# ruff: noqa: E501

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from sourcekit import FORMATS, Row, write_source

from sellerpolicy.engine.sources.reader import load_source

CLEAN = 300  # clean rows before and after the bad ones of each table
T0 = "2026-10-01T10:00:00Z"
BEFORE = "2026-09-30T10:00:00Z"


def _order(i: int, **changes: object) -> dict[str, object]:
    return {"order_id": f"C{i:05d}", "seller_id": "S1", "ordered_at": T0} | changes


def _fb(i: int, event: str = "left", at: str = "2026-10-05T00:00:00Z", **changes: object) -> Row:
    row = {"order_id": f"C{i:05d}", "seller_id": "S1", "event": event, "rating": 5, "at": at}
    return row | {"removed_by": None} | changes


def _claim(i: int, **changes: object) -> Row:
    base = {"claim_id": f"K{i:05d}", "order_id": f"C{i:05d}", "seller_id": "S1"}
    return base | {"filed_at": T0, "status": "granted"} | changes


def _chargeback(i: int, **changes: object) -> Row:
    base = {"chargeback_id": f"B{i:05d}", "order_id": f"C{i:05d}", "seller_id": "S1"}
    return base | {"filed_at": T0, "kind": "service"} | changes


def _message(i: int, **changes: object) -> Row:
    base = {"message_id": f"M{i:05d}", "seller_id": "S1", "order_id": f"C{i:05d}"}
    return base | {"received_at": T0, "responded_at": "2026-10-01T11:00:00Z"} | changes


def _dispute(i: int, **changes: object) -> Row:
    base = {"dispute_id": f"D{i:05d}", "order_id": f"C{i:05d}", "seller_id": "S1"}
    base |= {"opened_at": T0, "kind": "other", "escalated": "false"}
    return base | {"seller_responsible": None, "closed_at": None} | changes


def _rating(i: int, **changes: object) -> Row:
    base = {"order_id": f"C{i:05d}", "seller_id": "S1", "rated_at": "2026-10-09T00:00:00Z"}
    return base | {"item_as_described": 5, "communication": 4, "shipping_speed": 3} | changes


def _return(i: int, **changes: object) -> Row:
    base = {"return_id": f"R{i:05d}", "order_id": f"C{i:05d}", "seller_id": "S1"}
    return base | {"requested_at": T0, "reason": "damaged"} | changes


def _seller(i: int, **changes: object) -> Row:
    return {"seller_id": f"S{i}", "account_opened_at": "2020-01-01", "country": "DE"} | changes


def _around(make: object, bad: list[Row], start: int = 0) -> list[Row]:
    """``CLEAN`` clean rows (from index ``start``), ``bad``, ``CLEAN`` more."""
    assert callable(make)
    head = [make(i) for i in range(start, start + CLEAN)]
    tail = [make(i) for i in range(start + CLEAN, start + 2 * CLEAN)]
    return [*head, *bad, *tail]


def source(duplicates: bool) -> dict[str, list[Row]]:
    """The tables; ``duplicates`` adds a row reusing an id to each table with ids."""
    n = 2 * CLEAN
    dup = duplicates
    orders = _around(
        _order,
        [
            _order(n, seller_id=None),
            _order(n + 1, ordered_at="yesterday"),  # rejected: its events are too
            _order(n + 2, shipped_at=BEFORE),
            _order(n + 3, currency="US"),
            _order(n + 4, cancelled_at=T0, cancelled_by=None),
            _order(n + 5, amount="ten"),
            *([_order(7, seller_id="S9"), _order(n + 1)] if dup else []),
            _order(n + 6),  # clean, for the feedback sequences below
            _order(n + 7),
        ],
    )
    feedback = _around(
        _fb,
        [
            _fb(n, rating=7),
            _fb(n + 1),  # rejected order
            _fb(99_999),  # unknown order
            _fb(3, seller_id="S2"),
            _fb(n + 6, at=BEFORE),
            _fb(n + 6, event="left", at="2026-10-04T00:00:00Z"),
            _fb(n + 6, event="left", at="2026-10-06T00:00:00Z"),
            _fb(n + 7, event="updated"),
            _fb(n + 7, event="removed", rating=None),
            _fb(n + 6, event="updated", at="2026-10-03T00:00:00Z"),
            _fb(n + 6, event="updated", at="2026-12-04T00:00:00Z"),
            _fb(n + 6, event="updated", at="2026-10-08T00:00:00Z"),
            _fb(n + 6, event="updated", at="2026-10-07T00:00:00Z"),
            _fb(n + 6, event="shared"),
            _fb(n + 6, event="left", rating=None),
        ],
    )
    claims = _around(
        _claim,
        [
            _claim(n + 1),  # rejected order
            _claim(n + 2),  # a rejected order of its own (shipped before ordered)
            _claim(n + 9, order_id="C99999"),
            _claim(n + 10, order_id="C00004", filed_at=BEFORE),
            *([_claim(5, status="denied")] if dup else []),
            _claim(n + 11, status="lost"),
        ],
    )
    chargebacks = _around(
        _chargeback,
        [
            _chargeback(n, order_id="C00004", seller_id="S3"),
            *([_chargeback(2)] if dup else []),
            _chargeback(n + 1, kind=None),
        ],
    )
    messages = _around(
        _message,
        [
            _message(n, order_id="C00004", responded_at="2026-10-01T09:00:00Z"),
            _message(n + 1, order_id=None),  # no order: fine
            _message(n + 2, order_id="C00004", seller_id="S4"),
            *([_message(9, order_id="C00009")] if dup else []),
            _message(n + 3, order_id="C00004", received_at="soon"),
        ],
    )
    disputes = _around(
        _dispute,
        [
            _dispute(n, order_id="C00004", closed_at="2026-10-01T09:59:00Z"),
            _dispute(n + 1, order_id="C00004", escalated=None),
            *([_dispute(1, order_id="C00004")] if dup else []),
            _dispute(n + 2, order_id="C00004", escalated="maybe"),
        ],
    )
    ratings = _around(
        _rating,
        [
            _rating(10, rated_at="2026-10-10T00:00:00Z"),  # a second rating of C00010
            _rating(n, communication="4.5"),
            _rating(n + 1, order_id="C00011", shipping_speed=9),
            _rating(n + 2, order_id="C00012", rated_at="2026-09-30T00:00:00Z"),
        ],
    )
    returns = _around(
        _return,
        [
            _return(n, order_id="C00004", reason="bored"),
            *([_return(3, order_id="C00004")] if dup else []),
            _return(n + 1, order_id="C00004", requested_at=BEFORE),
        ],
    )
    sellers = _around(
        _seller,
        [
            _seller(n, account_opened_at="long ago"),
            *([_seller(2, country="FR")] if dup else []),
            _seller(n + 1, seller_id=None),
        ],
    )
    return {
        "orders": orders,
        "feedback": feedback,
        "claims": claims,
        "chargebacks": chargebacks,
        "messages": messages,
        "disputes": disputes,
        "ratings": ratings,
        "returns": returns,
        "sellers": sellers,
    }


# Every reject as ``table row column | reason``, as the validation before issue #15
# item 4 gave them (the same in every format), with and without the duplicated ids.
DUPLICATES = """
orders 301 seller_id | missing_value: seller_id is required
orders 302 ordered_at | bad_timestamp: ordered_at 'yesterday' is not an ISO 8601 timestamp or date
orders 303 shipped_at | before_order: shipped_at 2026-09-30 10:00:00 is earlier than ordered_at 2026-10-01 10:00:00
orders 304 currency | bad_currency: currency 'US' is not a three-letter ISO 4217 code
orders 305 cancelled_by | missing_value: cancelled_by is required when cancelled_at is set
orders 306 amount | bad_number: amount 'ten' is not a finite decimal number below 1e18 in magnitude
orders 307 order_id | duplicate_id: order_id 'C00007' already used by row 8
orders 308 order_id | duplicate_id: order_id 'C00601' already used by row 302
feedback 301 rating | out_of_range: rating 7 is outside 1-5
feedback 302 order_id | rejected_order: order 'C00601' was rejected (orders row 302)
feedback 303 order_id | unknown_order: order_id 'C99999' is not in orders
feedback 304 seller_id | seller_mismatch: seller_id 'S2' differs from the seller 'S1' of order 'C00003'
feedback 305 at | before_order: at 2026-09-30 10:00:00 is earlier than the order's ordered_at 2026-10-01 10:00:00
feedback 307 event | duplicate_left: order 'C00606' already has its original left (row 306)
feedback 308 event | update_without_left: order 'C00607' has no accepted left feedback
feedback 309 removed_by | missing_value: removed_by is required for a 'removed' event
feedback 310 at | update_before_left: at 2026-10-03 00:00:00 precedes the left at 2026-10-04 00:00:00
feedback 311 at | update_too_late: at 2026-12-04 00:00:00 is more than 60 days after the left at 2026-10-04 00:00:00
feedback 312 event | second_update: order 'C00606' already has an accepted update (row 313)
feedback 314 event | unknown_value: event 'shared' is not one of left, updated, removed
feedback 315 rating | missing_value: rating is required for a 'left' event
claims 301 order_id | rejected_order: order 'C00601' was rejected (orders row 302)
claims 302 order_id | rejected_order: order 'C00602' was rejected (orders row 303)
claims 303 order_id | unknown_order: order_id 'C99999' is not in orders
claims 304 filed_at | before_order: filed_at 2026-09-30 10:00:00 is earlier than the order's ordered_at 2026-10-01 10:00:00
claims 305 claim_id | duplicate_id: claim_id 'K00005' already used by row 6
claims 306 status | unknown_value: status 'lost' is not one of open, granted, refunded, denied, withdrawn
chargebacks 301 seller_id | seller_mismatch: seller_id 'S3' differs from the seller 'S1' of order 'C00004'
chargebacks 302 chargeback_id | duplicate_id: chargeback_id 'B00002' already used by row 3
chargebacks 303 kind | missing_value: kind is required
messages 301 responded_at | responded_before_received: responded_at 2026-10-01 09:00:00 precedes received_at 2026-10-01 10:00:00
messages 303 seller_id | seller_mismatch: seller_id 'S4' differs from the seller 'S1' of order 'C00004'
messages 304 message_id | duplicate_id: message_id 'M00009' already used by row 10
messages 305 received_at | bad_timestamp: received_at 'soon' is not an ISO 8601 timestamp or date
disputes 301 closed_at | closed_before_opened: closed_at 2026-10-01 09:59:00 precedes opened_at 2026-10-01 10:00:00
disputes 302 escalated | missing_value: escalated is required
disputes 303 dispute_id | duplicate_id: dispute_id 'D00001' already used by row 2
disputes 304 escalated | bad_bool: escalated 'maybe' is not a boolean (true/false/1/0)
ratings 301 order_id | duplicate_rating: order 'C00010' was already rated (row 11)
ratings 302 communication | bad_integer: communication '4.5' is not a whole number
ratings 303 shipping_speed | out_of_range: shipping_speed 9 is outside 1-5
ratings 304 rated_at | before_order: rated_at 2026-09-30 00:00:00 is earlier than the order's ordered_at 2026-10-01 10:00:00
returns 301 reason | unknown_value: reason 'bored' is not one of not_as_described, damaged, wrong_item, arrived_late, changed_mind, other
returns 302 return_id | duplicate_id: return_id 'R00003' already used by row 4
returns 303 requested_at | before_order: requested_at 2026-09-30 10:00:00 is earlier than the order's ordered_at 2026-10-01 10:00:00
sellers 301 account_opened_at | bad_timestamp: account_opened_at 'long ago' is not an ISO 8601 timestamp or date
sellers 302 seller_id | duplicate_id: seller_id 'S2' already used by row 3
sellers 303 seller_id | missing_value: seller_id is required
"""
UNIQUE = """
orders 301 seller_id | missing_value: seller_id is required
orders 302 ordered_at | bad_timestamp: ordered_at 'yesterday' is not an ISO 8601 timestamp or date
orders 303 shipped_at | before_order: shipped_at 2026-09-30 10:00:00 is earlier than ordered_at 2026-10-01 10:00:00
orders 304 currency | bad_currency: currency 'US' is not a three-letter ISO 4217 code
orders 305 cancelled_by | missing_value: cancelled_by is required when cancelled_at is set
orders 306 amount | bad_number: amount 'ten' is not a finite decimal number below 1e18 in magnitude
feedback 301 rating | out_of_range: rating 7 is outside 1-5
feedback 302 order_id | rejected_order: order 'C00601' was rejected (orders row 302)
feedback 303 order_id | unknown_order: order_id 'C99999' is not in orders
feedback 304 seller_id | seller_mismatch: seller_id 'S2' differs from the seller 'S1' of order 'C00003'
feedback 305 at | before_order: at 2026-09-30 10:00:00 is earlier than the order's ordered_at 2026-10-01 10:00:00
feedback 307 event | duplicate_left: order 'C00606' already has its original left (row 306)
feedback 308 event | update_without_left: order 'C00607' has no accepted left feedback
feedback 309 removed_by | missing_value: removed_by is required for a 'removed' event
feedback 310 at | update_before_left: at 2026-10-03 00:00:00 precedes the left at 2026-10-04 00:00:00
feedback 311 at | update_too_late: at 2026-12-04 00:00:00 is more than 60 days after the left at 2026-10-04 00:00:00
feedback 312 event | second_update: order 'C00606' already has an accepted update (row 313)
feedback 314 event | unknown_value: event 'shared' is not one of left, updated, removed
feedback 315 rating | missing_value: rating is required for a 'left' event
claims 301 order_id | rejected_order: order 'C00601' was rejected (orders row 302)
claims 302 order_id | rejected_order: order 'C00602' was rejected (orders row 303)
claims 303 order_id | unknown_order: order_id 'C99999' is not in orders
claims 304 filed_at | before_order: filed_at 2026-09-30 10:00:00 is earlier than the order's ordered_at 2026-10-01 10:00:00
claims 305 status | unknown_value: status 'lost' is not one of open, granted, refunded, denied, withdrawn
chargebacks 301 seller_id | seller_mismatch: seller_id 'S3' differs from the seller 'S1' of order 'C00004'
chargebacks 302 kind | missing_value: kind is required
messages 301 responded_at | responded_before_received: responded_at 2026-10-01 09:00:00 precedes received_at 2026-10-01 10:00:00
messages 303 seller_id | seller_mismatch: seller_id 'S4' differs from the seller 'S1' of order 'C00004'
messages 304 received_at | bad_timestamp: received_at 'soon' is not an ISO 8601 timestamp or date
disputes 301 closed_at | closed_before_opened: closed_at 2026-10-01 09:59:00 precedes opened_at 2026-10-01 10:00:00
disputes 302 escalated | missing_value: escalated is required
disputes 303 escalated | bad_bool: escalated 'maybe' is not a boolean (true/false/1/0)
ratings 301 order_id | duplicate_rating: order 'C00010' was already rated (row 11)
ratings 302 communication | bad_integer: communication '4.5' is not a whole number
ratings 303 shipping_speed | out_of_range: shipping_speed 9 is outside 1-5
ratings 304 rated_at | before_order: rated_at 2026-09-30 00:00:00 is earlier than the order's ordered_at 2026-10-01 10:00:00
returns 301 reason | unknown_value: reason 'bored' is not one of not_as_described, damaged, wrong_item, arrived_late, changed_mind, other
returns 302 requested_at | before_order: requested_at 2026-09-30 10:00:00 is earlier than the order's ordered_at 2026-10-01 10:00:00
sellers 301 account_opened_at | bad_timestamp: account_opened_at 'long ago' is not an ISO 8601 timestamp or date
sellers 302 seller_id | missing_value: seller_id is required
"""


def _expected(text: str) -> list[tuple[str, int, str | None, str]]:
    rows = []
    for line in text.strip().splitlines():
        where, reason = line.split(" | ", 1)
        table, row, column = where.split(" ")
        rows.append((table, int(row), column, reason))
    return rows


EXPECTED = {True: _expected(DUPLICATES), False: _expected(UNIQUE)}


def _load(folder: Path, materialize: bool) -> list[tuple[str, int, str | None, str]]:
    with duckdb.connect() as con:
        report = load_source(folder, con, materialize=materialize)
    return [(r.table, r.row, r.column, r.reason) for r in report.rejects]


PARAMS = [
    pytest.param(fmt, materialize, duplicates, id=f"{fmt}{'-copied' * materialize}-{dups}")
    for fmt in FORMATS
    for materialize in ((False, True) if fmt == "parquet" else (False,))
    for duplicates, dups in ((True, "duplicates"), (False, "unique"))
]


@pytest.mark.parametrize(("fmt", "materialize", "duplicates"), PARAMS)
def test_rejects_among_many_clean_rows_are_unchanged(
    tmp_path: Path, fmt: str, materialize: bool, duplicates: bool
) -> None:
    """Every table's bad rows, amid clean ones, give the same rejects as before."""
    got = _load(write_source(tmp_path, source(duplicates), fmt), materialize)
    assert got == EXPECTED[duplicates]
