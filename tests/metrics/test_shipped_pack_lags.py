"""Lags of the shipped packs' metric uses, at their boundaries (issue #17).

Amazon's Valid Tracking Rate "has a two-week lag" (G201817070): the amazon pack's
30-day ``valid_tracking_rate`` use is lagged 14 days, so at ``as_of`` 2026-11-01 it
counts orders placed from 2026-09-18 00:00 up to but not including 2026-10-18 00:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from metrics_kit import order, source

from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.rules import load_pack

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
START = datetime(2026, 9, 18)  # as_of - 14 d - 30 d
END = datetime(2026, 10, 18)  # as_of - 14 d, excluded


def test_amazon_valid_tracking_is_30_days_lagged_14() -> None:
    pack = load_pack("amazon")
    tracking = next(u for u in pack.metrics if u.name == "valid_tracking_rate")
    assert (tracking.window, tracking.lag) == (timedelta(days=30), timedelta(days=14))
    shipped = datetime(2026, 10, 25)  # every order shipped before as_of
    con = source(
        orders=[
            order("before_start", ordered=START - US, shipped_at=shipped, tracking_valid=False),
            order("at_start", ordered=START, shipped_at=shipped, tracking_valid=True),
            order("last_instant", ordered=END - US, shipped_at=shipped, tracking_valid=False),
            order("at_end", ordered=END, shipped_at=shipped, tracking_valid=False),
            order("in_the_lag", ordered=datetime(2026, 10, 25), shipped_at=shipped),
        ]
    )
    row = compute_metrics(con, [tracking], AS_OF).table.to_pylist()[0]
    # at_start and last_instant are in; the order just before the start, the one at the
    # end and the last two weeks' orders are not.
    assert (row["valid_tracking_rate__num"], row["valid_tracking_rate__den"]) == (1, 2)
    assert row["valid_tracking_rate"] == 0.5
