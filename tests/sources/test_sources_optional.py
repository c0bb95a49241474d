"""The optional inputs of issue #17: ``returns``, ``sellers`` and
``orders.tracking_uploaded_at``. Their rows are validated like every table's, and a
source without one makes the metrics reading it not assessable (null facts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sourcekit import FORMATS, Row, load, order, write_source

from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.rules.catalog import CATALOG, Knobs
from sellerpolicy.rules.model import MetricUse

T0 = "2026-10-01T10:00:00Z"
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
OPTIONAL = {"return_rate", "account_age_days", "tracking_on_time_rate"}


def ret(return_id: str, **changes: object) -> dict[str, object]:
    """A return of order O1 (seller S1)."""
    base = {"return_id": return_id, "order_id": "O1", "seller_id": "S1", "requested_at": T0}
    return {**base, "reason": "damaged", **changes}


def seller(seller_id: str = "S1", **changes: object) -> dict[str, object]:
    """A seller account opened on 2026-01-01."""
    base = {"seller_id": seller_id, "account_opened_at": "2026-01-01T00:00:00Z"}
    return {**base, "marketplace": "US", "country": "US", **changes}


def _uses() -> tuple[MetricUse, ...]:
    return tuple(
        MetricUse(m, m, CATALOG[m].kind, timedelta(days=60), timedelta(0), Knobs())
        for m in sorted(OPTIONAL)
    )


CASES: dict[str, tuple[dict[str, list[Row]], list[tuple[str, int, str, str]]]] = {
    "unknown return reason": (
        {"orders": [order()], "returns": [ret("R1"), ret("R2", reason="bored")]},
        [("returns", 2, "reason", "unknown_value")],
    ),
    "return of an unknown order": (
        {"orders": [order()], "returns": [ret("R1", order_id="O9")]},
        [("returns", 1, "order_id", "unknown_order")],
    ),
    "return of another seller": (
        {"orders": [order()], "returns": [ret("R1", seller_id="S2")]},
        [("returns", 1, "seller_id", "seller_mismatch")],
    ),
    "return before the order": (
        {"orders": [order()], "returns": [ret("R1", requested_at="2026-09-30T10:00:00Z")]},
        [("returns", 1, "requested_at", "before_order")],
    ),
    "duplicate return_id": (
        {"orders": [order()], "returns": [ret("R1"), ret("R1")]},
        [("returns", 2, "return_id", "duplicate_id")],
    ),
    "duplicate seller_id, first kept": (
        {"orders": [order()], "sellers": [seller(), seller("S2"), seller(country="DE")]},
        [("sellers", 3, "seller_id", "duplicate_id")],
    ),
    "seller without account_opened_at": (
        {"orders": [order()], "sellers": [seller(account_opened_at=None)]},
        [("sellers", 1, "account_opened_at", "missing_value")],
    ),
    "bad account_opened_at": (
        {"orders": [order()], "sellers": [seller(account_opened_at="long ago")]},
        [("sellers", 1, "account_opened_at", "bad_timestamp")],
    ),
    "tracking uploaded before the order": (
        {"orders": [order(tracking_uploaded_at="2026-09-30T10:00:00Z")]},
        [("orders", 1, "tracking_uploaded_at", "before_order")],
    ),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_rejects_of_the_optional_inputs(tmp_path: Path, fmt: str, case: str) -> None:
    """Each broken row is one reject with its code; the good rows stay."""
    tables, expected = CASES[case]
    report, _ = load(write_source(tmp_path, tables, fmt))
    assert [(r.table, r.row, r.column, r.code) for r in report.rejects] == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_source_without_them_cannot_measure_their_metrics(tmp_path: Path, fmt: str) -> None:
    """No returns, no sellers, no tracking_uploaded_at column: the three metrics are not
    assessable, and their facts are null (not 0) for every seller."""
    report, con = load(write_source(tmp_path, {"orders": [order(shipped_at=T0)]}, fmt))
    assert set(report.not_assessable) == OPTIONAL
    assert report.not_assessable["return_rate"] == "the source has no returns table"
    row = compute_metrics(con, _uses(), AS_OF).table.to_pylist()[0]
    assert {name: row[name] for name in OPTIONAL} == dict.fromkeys(OPTIONAL)
    assert row["return_rate__den"] is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_source_with_them_measures_them(tmp_path: Path, fmt: str) -> None:
    """With the tables (even empty of returns) and the column, the metrics are computed."""
    shipped = order(ship_by="2026-10-02", shipped_at=T0, tracking_uploaded_at=T0)
    tables = {"orders": [shipped, order("O2")], "returns": [ret("R1")], "sellers": [seller()]}
    report, con = load(write_source(tmp_path, tables, fmt))
    assert report.not_assessable == {}
    row = compute_metrics(con, _uses(), AS_OF).table.to_pylist()[0]
    assert row["return_rate"] == 0.5
    assert row["tracking_on_time_rate"] == 1.0
    assert row["account_age_days"] == 304  # 2026-01-01 to 2026-11-01


def test_a_tracking_column_empty_in_every_row_is_not_carried(tmp_path: Path) -> None:
    """An export that writes the column but never a value does not measure the metric."""
    tables = {
        "orders": [order(shipped_at=T0, tracking_uploaded_at=None)],
        "returns": [ret("R1")],
        "sellers": [seller()],
    }
    report, _ = load(write_source(tmp_path, tables, "csv"))
    assert dict(report.not_assessable) == {
        "tracking_on_time_rate": "no row of the source's orders has a tracking_uploaded_at"
    }
