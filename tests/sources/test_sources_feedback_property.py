"""Property: feedback sequencing in SQL agrees with a plain-Python reading of docs/metrics.md."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sourcekit import load, order, write_source

START = datetime(2026, 1, 1)
Event = tuple[str, str, int]  # order id, event, minutes after START


def reference(events: list[Event]) -> dict[int, str]:
    """Expected reject code per 1-based row, straight from docs/metrics.md (feedback)."""
    codes: dict[int, str] = {}
    rows = list(enumerate(events, start=1))
    for order_id in {e[0] for e in events}:
        mine = [(row, kind, at) for row, (oid, kind, at) in rows if oid == order_id]
        lefts = sorted((at, row) for row, kind, at in mine if kind == "left")
        for _, row in lefts[1:]:
            codes[row] = "duplicate_left"
        left_at = lefts[0][0] if lefts else None
        accepted: list[tuple[int, int]] = []
        for row, kind, at in mine:
            if kind != "updated":
                continue
            if left_at is None:
                codes[row] = "update_without_left"
            elif at < left_at:
                codes[row] = "update_before_left"
            elif at - left_at > 60 * 24 * 60:
                codes[row] = "update_too_late"
            else:
                accepted.append((at, row))
        for _, row in sorted(accepted)[1:]:
            codes[row] = "second_update"
    return codes


events_strategy = st.lists(
    st.tuples(
        st.sampled_from(["O1", "O2"]),
        st.sampled_from(["left", "left", "updated", "updated", "removed"]),
        # minutes: around the 60-day edge (86,400 min) as often as not
        st.one_of(st.integers(0, 100_000), st.sampled_from([86_399, 86_400, 86_401])),
    ),
    max_size=8,
)


@settings(max_examples=25, deadline=None)
@given(events=events_strategy)
def test_feedback_sequencing_matches_reference(events: list[Event]) -> None:
    """Whatever the order of events in the file, the SQL rejects exactly the rows the
    reference rejects, with the same codes."""
    rows = [
        {
            "order_id": oid,
            "seller_id": "S1",
            "event": kind,
            "rating": None if kind == "removed" else 3,
            "at": (START + timedelta(minutes=at)).isoformat() + "Z",
            "removed_by": "buyer" if kind == "removed" else None,
        }
        for oid, kind, at in events
    ]
    tables = {
        "orders": [order("O1", ordered_at="2026-01-01"), order("O2", ordered_at="2026-01-01")],
        "feedback": rows,
    }
    with tempfile.TemporaryDirectory() as folder:
        report, _ = load(write_source(Path(folder), tables, "jsonl"))
    assert {r.row: r.code for r in report.rejects} == reference(events)
