"""``late_grace``: a grace period after the ship-by deadline (issue #17).

Amazon UK counted a shipment as late when it was confirmed three or more
days beyond the expected dispatch date. A date-only ship-by date D is stored
as ``D 23:59:59.999999`` (docs/data-contract.md), so ``late_grace: 2d`` makes
a confirmation on D+2 on time and one on D+3 late.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from metrics_kit import AS_OF_NAIVE, at, counts, order, source, use

from sellerpolicy.rules.build import resolve_knobs
from sellerpolicy.rules.catalog import CATALOG, Knob, LateBasis

US = timedelta(microseconds=1)
#: The stored form of a date-only ship-by date of 2026-10-20.
SHIP_BY = datetime(2026, 10, 20, 23, 59, 59, 999999)


@pytest.mark.parametrize(
    ("shipped", "late"),
    [
        (datetime(2026, 10, 22, 12), 0),  # two days beyond: within the grace
        (SHIP_BY + timedelta(days=2) - US, 0),  # just below the boundary
        (SHIP_BY + timedelta(days=2), 0),  # at the boundary: not after it
        (SHIP_BY + timedelta(days=2) + US, 1),  # just above (D+3 00:00): three days beyond
        (datetime(2026, 10, 23, 9), 1),
    ],
)
def test_grace_after_a_date_only_ship_by(shipped: datetime, late: int) -> None:
    """With 2d of grace, a shipment is late from the third day after the ship-by date."""
    con = source(orders=[order("o1", ordered=at(14), ship_by=SHIP_BY, shipped_at=shipped)])
    graced = use("late_shipment_rate", late_grace=timedelta(days=2))
    assert counts(con, graced) == (float(late), late, 1)
    # without grace, every one of these shipments is late
    assert counts(con, use("late_shipment_rate")) == (1.0, 1, 1)


@pytest.mark.parametrize(
    ("grace", "late"),
    [(timedelta(hours=71), 1), (timedelta(hours=72), 0), (timedelta(hours=73), 0)],
)
def test_unshipped_order_is_late_once_the_grace_has_passed(grace: timedelta, late: int) -> None:
    """Unshipped: late when as_of is strictly after ship_by + grace."""
    ship_by = AS_OF_NAIVE - timedelta(hours=72)
    con = source(orders=[order("o1", ordered=at(10), ship_by=ship_by)])
    assert counts(con, use("late_shipment_rate", late_grace=grace)) == (float(late), late, 1)


def test_grace_extends_the_fallback_deadline_too() -> None:
    """Without ship_by the deadline is ordered_at + late_after, and the grace follows it."""
    ordered = at(10)
    con = source(
        orders=[
            order("o1", ordered=ordered, shipped_at=ordered + timedelta(hours=72)),
            order("o2", ordered=ordered, shipped_at=ordered + timedelta(hours=72) + US),
        ]
    )
    graced = use("late_shipment_rate", late_grace=timedelta(hours=24))
    assert counts(con, graced) == (0.5, 1, 2)


def test_hours_after_order_ignores_the_grace() -> None:
    """The amazon-2015 basis (3 days after the order) is unchanged by late_grace."""
    ordered = at(10)
    con = source(orders=[order("o1", ordered=ordered, shipped_at=ordered + timedelta(hours=72))])
    basis = {"late_basis": LateBasis.HOURS_AFTER_ORDER, "late_after": timedelta(hours=72)}
    assert counts(con, use("late_shipment_rate", **basis)) == (1.0, 1, 1)
    graced = use("late_shipment_rate", late_grace=timedelta(days=5), **basis)
    assert counts(con, graced) == (1.0, 1, 1)


def test_pack_knob_spelling() -> None:
    """Packs write ``late_grace: 2d`` on the use or the pack; the default is no grace."""
    assert Knob.LATE_GRACE in CATALOG["late_shipment_rate"].knobs
    assert resolve_knobs("late_shipment_rate", {}, {}).late_grace == timedelta(0)
    on_use = resolve_knobs("late_shipment_rate", {"late_grace": "2d"}, {"late_grace": "5d"})
    assert on_use.late_grace == timedelta(days=2)
    assert resolve_knobs("late_shipment_rate", {}, {"late_grace": "36h"}).late_grace == timedelta(
        hours=36
    )
