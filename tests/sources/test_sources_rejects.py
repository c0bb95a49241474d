"""Every reject reason of docs/data-contract.md ("Rejects") and the feedback rules,
each on a tiny hand-written source, in CSV, JSONL and Parquet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from sourcekit import FORMATS, Row, load, order, write_source

T0 = "2026-10-01T10:00:00Z"
O1 = order("O1")
O2 = order("O2")


def fb(event: str, at: str, rating: int | None = 5, **changes: object) -> dict[str, object]:
    """A feedback event of order O1 (seller S1)."""
    row: dict[str, object] = {"order_id": "O1", "seller_id": "S1", "event": event}
    row.update({"rating": rating, "at": at, "removed_by": None, **changes})
    return row


def claim(claim_id: str, **changes: object) -> dict[str, object]:
    """A claim of order O1 (seller S1)."""
    base = {"claim_id": claim_id, "order_id": "O1", "seller_id": "S1", "filed_at": T0}
    return {**base, "status": "granted", **changes}


def msg(message_id: str, **changes: object) -> dict[str, object]:
    """A message to seller S1 about order O1, answered after an hour."""
    base = {"message_id": message_id, "seller_id": "S1", "order_id": "O1"}
    return {**base, "received_at": T0, "responded_at": "2026-10-01T11:00:00Z", **changes}


def rating(**changes: object) -> dict[str, object]:
    """A detailed rating of order O1."""
    base = {"order_id": "O1", "seller_id": "S1", "rated_at": "2026-10-09T00:00:00Z"}
    return {**base, "item_as_described": 5, "communication": 4, "shipping_speed": 3, **changes}


def dispute(**changes: object) -> dict[str, object]:
    """An open dispute of order O1."""
    base = {"dispute_id": "D1", "order_id": "O1", "seller_id": "S1", "opened_at": T0}
    return {**base, "kind": "other", "escalated": "true", "seller_responsible": None, **changes}


Tables = Mapping[str, Sequence[Row]]
Expected = tuple[str, int, str, str]  # table, row, column, code

CASES: dict[str, tuple[Tables, list[Expected]]] = {
    "missing seller_id": (
        {"orders": [O1, order("O2", seller_id=None)]},
        [("orders", 2, "seller_id", "missing_value")],
    ),
    "unknown cancelled_by": (
        {"orders": [O1, order("O2", cancelled_at=T0, cancelled_by="robot")]},
        [("orders", 2, "cancelled_by", "unknown_value")],
    ),
    "cancelled_by missing when cancelled_at set": (
        {"orders": [order("O1", cancelled_at=T0, cancelled_by=None)]},
        [("orders", 1, "cancelled_by", "missing_value")],
    ),
    "bad timestamp": (
        {"orders": [O1, order("O2", ordered_at="yesterday"), order("O3", ordered_at="2026-02-30")]},
        [
            ("orders", 2, "ordered_at", "bad_timestamp"),
            ("orders", 3, "ordered_at", "bad_timestamp"),
        ],
    ),
    "bad bool": (
        {"orders": [order("O1", tracking_valid="yes"), order("O2", tracking_valid="TRUE")]},
        [("orders", 1, "tracking_valid", "bad_bool")],
    ),
    "bad decimal": (
        {"orders": [order("O1", amount="ten"), order("O2", amount="10.5")]},
        [("orders", 1, "amount", "bad_number")],
    ),
    "bad currency": (
        {"orders": [order("O1", currency="US"), order("O2", currency="USD")]},
        [("orders", 1, "currency", "bad_currency")],
    ),
    "order timestamp before ordered_at": (
        {"orders": [O1, order("O2", shipped_at="2026-09-30T10:00:00Z")]},
        [("orders", 2, "shipped_at", "before_order")],
    ),
    "duplicate order_id, first kept": (
        {"orders": [O1, O2, order("O1", seller_id="S9")]},
        [("orders", 3, "order_id", "duplicate_id")],
    ),
    "rating out of range": (
        {"orders": [O1], "feedback": [fb("left", T0, rating=7)]},
        [("feedback", 1, "rating", "out_of_range")],
    ),
    "rating not a whole number": (
        {"orders": [O1], "ratings": [rating(communication="4.5")]},
        [("ratings", 1, "communication", "bad_integer")],
    ),
    "rating missing for left": (
        {"orders": [O1], "feedback": [fb("left", T0, rating=None)]},
        [("feedback", 1, "rating", "missing_value")],
    ),
    "unknown feedback event": (
        {"orders": [O1], "feedback": [fb("edited", T0)]},
        [("feedback", 1, "event", "unknown_value")],
    ),
    "event for an unknown order": (
        {"orders": [O1], "claims": [claim("C1"), claim("C2", order_id="O9")]},
        [("claims", 2, "order_id", "unknown_order")],
    ),
    "event for a rejected order": (
        {"orders": [O1, order("O2", ordered_at="soon")], "claims": [claim("C1", order_id="O2")]},
        [("orders", 2, "ordered_at", "bad_timestamp"), ("claims", 1, "order_id", "rejected_order")],
    ),
    "event of another seller": (
        {
            "orders": [O1],
            "chargebacks": [
                {"chargeback_id": "B1", "order_id": "O1", "seller_id": "S2", "filed_at": T0}
                | {"kind": "service"}
            ],
        },
        [("chargebacks", 1, "seller_id", "seller_mismatch")],
    ),
    "event before its order": (
        {"orders": [O1], "claims": [claim("C1", filed_at="2026-10-01T09:59:59Z")]},
        [("claims", 1, "filed_at", "before_order")],
    ),
    "duplicate claim_id": (
        {"orders": [O1], "claims": [claim("C1"), claim("C1", status="denied")]},
        [("claims", 2, "claim_id", "duplicate_id")],
    ),
    "another left": (
        {"orders": [O1], "feedback": [fb("left", "2026-10-05"), fb("left", "2026-10-04")]},
        [("feedback", 1, "event", "duplicate_left")],
    ),
    "update without left": (
        {"orders": [O1], "feedback": [fb("updated", "2026-10-05")]},
        [("feedback", 1, "event", "update_without_left")],
    ),
    "update before its left": (
        {"orders": [O1], "feedback": [fb("left", "2026-10-05"), fb("updated", "2026-10-04")]},
        [("feedback", 2, "at", "update_before_left")],
    ),
    "update more than 60 days after the left": (
        {
            "orders": [O1],
            "feedback": [fb("left", "2026-10-05T00:00:00Z"), fb("updated", "2026-12-04T00:00:01Z")],
        },
        [("feedback", 2, "at", "update_too_late")],
    ),
    "second update": (
        {
            "orders": [O1],
            "feedback": [
                fb("left", "2026-10-05", rating=1),
                fb("updated", "2026-10-07", rating=3),
                fb("updated", "2026-10-06", rating=4),
            ],
        },
        [("feedback", 2, "event", "second_update")],
    ),
    "removed without removed_by": (
        {"orders": [O1], "feedback": [fb("left", "2026-10-05"), fb("removed", "2026-10-06", None)]},
        [("feedback", 2, "removed_by", "missing_value")],
    ),
    "response before the message": (
        {"orders": [O1], "messages": [msg("M1", responded_at="2026-10-01T09:00:00+00:00")]},
        [("messages", 1, "responded_at", "responded_before_received")],
    ),
    "message naming another seller's order": (
        {"orders": [O1], "messages": [msg("M1", seller_id="S2"), msg("M2", order_id=None)]},
        [("messages", 1, "seller_id", "seller_mismatch")],
    ),
    "second rating for one order": (
        {"orders": [O1], "ratings": [rating(rated_at="2026-10-10"), rating()]},
        [("ratings", 1, "order_id", "duplicate_rating")],
    ),
    "dispute closed before opened, escalated missing": (
        {
            "orders": [O1],
            "disputes": [
                dispute(closed_at="2026-10-01T09:59:00Z"),
                dispute(dispute_id="D2", escalated=None),
            ],
        },
        [
            ("disputes", 1, "closed_at", "closed_before_opened"),
            ("disputes", 2, "escalated", "missing_value"),
        ],
    ),
}


# Each case runs in one format, the formats taking turns, so every format sees
# every kind of check (row-local, duplicates, orders, feedback sequencing).
PARAMS = [
    pytest.param(case, FORMATS[i % 3], id=f"{case}-{FORMATS[i % 3]}")
    for i, case in enumerate(CASES)
]


@pytest.mark.parametrize(("case", "fmt"), PARAMS)
def test_each_reject_reason(tmp_path: Path, case: str, fmt: str) -> None:
    """Each contract violation is rejected with its code, column and exact 1-based row,
    and every other row of the source stays valid."""
    tables, expected = CASES[case]
    report, _ = load(write_source(tmp_path, tables, fmt))
    got = [(r.table, r.row, r.column, r.code) for r in report.rejects]
    assert got == expected, [r.reason for r in report.rejects]
    for table, rows in tables.items():
        rejected = sum(1 for r in report.rejects if r.table == table)
        assert report.rows_read[table] == len(rows)
        assert report.rows_valid[table] == len(rows) - rejected


@pytest.mark.parametrize("fmt", FORMATS)
def test_currency_codes_are_read_case_insensitively(tmp_path: Path, fmt: str) -> None:
    """'usd' is USD: a lower-case code is no reject (it used to drop the order from the
    ODR, cancel and late-shipment denominators) and is stored upper case."""
    tables = {"orders": [order("O1", currency="usd"), order("O2", currency="Eur")]}
    report, con = load(write_source(tmp_path, tables, fmt))
    assert list(report.rejects) == []
    stored = con.execute("SELECT currency FROM orders ORDER BY order_id").fetchall()
    assert stored == [("USD",), ("EUR",)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_impossible_utc_offsets_are_rejects(tmp_path: Path, fmt: str) -> None:
    """+99:99, +2400 or +24:00 name no UTC offset: a reject, not a silently shifted time;
    real offsets (-12:00 .. +14:00) convert."""
    times = ["+99:99", "+2400", "+24:00", "-15:00", "+05:60", "+05:30", "-0800", "+14:00", "Z"]
    orders = [order(f"O{i}", ordered_at=f"2026-10-20T10:00:00{t}") for i, t in enumerate(times)]
    report, con = load(write_source(tmp_path, {"orders": orders}, fmt))
    assert [(r.row, r.column, r.code) for r in report.rejects] == [
        (row, "ordered_at", "bad_timestamp") for row in range(1, 6)
    ]
    kept = con.execute("SELECT order_id, ordered_at FROM orders ORDER BY order_id").fetchall()
    assert [(o, t.isoformat()) for o, t in kept] == [
        ("O5", "2026-10-20T04:30:00"),
        ("O6", "2026-10-20T18:00:00"),
        ("O7", "2026-10-19T20:00:00"),
        ("O8", "2026-10-20T10:00:00"),
    ]
