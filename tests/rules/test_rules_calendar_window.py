"""Packs write calendar-month windows as ``{months: 3, align: month_end}`` (issue #17)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from rulekit import check_text, compile_text, variant

from sellerpolicy.rules import pack_to_json

QUARTER = "window: {months: 3, align: month_end}"


def test_a_calendar_window_compiles_and_round_trips(tmp_path: Path) -> None:
    """The use gets ``months``, the orders count shares the ODR use's calendar window,
    and the compiled form writes the window as the pack did."""
    both = "{all: [{metric: order_defect_rate, gte: 1%}, {metric: orders, gte: 10}]}"
    text = variant("{metric: order_defect_rate, gte: 1%}", both, variant("window: 60d", QUARTER))
    pack = compile_text(tmp_path, text)
    odr = pack.metric("order_defect_rate")
    assert (odr.months, odr.window) == (3, timedelta(days=90))
    assert pack.metric("orders").months == 3
    assert pack.metric("late_shipment_rate_10d").months is None
    windows = {m["name"]: m["window"] for m in pack_to_json(pack)["metrics"]}
    assert windows["order_defect_rate"] == {"months": 3, "align": "month_end"}
    assert windows["late_shipment_rate_10d"] == "10d"


@pytest.mark.parametrize(
    "window",
    [
        "window: {months: 0, align: month_end}",
        "window: {months: 3}",
        "window: {months: 3, align: as_of}",
        "window: {months: 1.5, align: month_end}",
        "window: 60days",
    ],
)
def test_bad_windows_are_schema_errors(tmp_path: Path, window: str) -> None:
    """Zero months, no or another alignment, a fraction, a bad duration: refused."""
    pack, found = check_text(tmp_path, variant("window: 60d", window))
    assert pack is None
    assert any(d.json_path.startswith("$.spec.metrics[0].window") for d in found), found
