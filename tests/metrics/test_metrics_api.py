"""compute_metrics' contract: columns, naming, validation, evidence dates, settings."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from metrics_kit import AS_OF, at, facts, order, source, use

from sellerpolicy.engine.metrics.compute import (
    DuckDBEvidence,
    bad_order_dates,
    compute_metrics,
    configure_connection,
    fact_columns,
    iter_facts,
    metrics_sql,
)
from sellerpolicy.rules.catalog import CATALOG


def test_columns_follow_the_facts_naming() -> None:
    """seller_id, as_of, orders, then each use with __num/__den for rates and averages."""
    uses = [
        use("late_shipment_rate", name="late_10d", days=10),
        use("late_shipment_rate", name="late_30d"),
        use("gross_sales"),
        use("dsr_communication"),
    ]
    table = compute_metrics(source(orders=[order("o1")]), uses, AS_OF).table
    assert table.column_names == fact_columns(uses)
    assert table.column_names[:3] == ["seller_id", "as_of", "orders"]
    assert "gross_sales__num" not in table.column_names
    assert "dsr_communication__den" in table.column_names


def test_every_catalog_metric_is_computed() -> None:
    """Each metric of the catalog yields its column (no metric lacks SQL)."""
    uses = [use(m) for m in CATALOG if m != "orders"]
    row = facts(source(orders=[order("o1", amount=2.0, currency="USD")]), *uses)["S1"]
    assert set(fact_columns(uses)) == set(row)


def test_same_metric_twice_with_different_windows() -> None:
    """Two uses of one metric are computed independently under their own names."""
    con = source(orders=[order("o1", ordered=at(20)), order("o2", ordered=at(5))])
    row = facts(con, use("refund_rate", name="r10", days=10), use("refund_rate", name="r30"))["S1"]
    assert (row["r10__den"], row["r30__den"]) == (1, 2)


def test_orders_column_uses_the_odr_window_or_the_declared_use() -> None:
    """Without an 'orders' use the count shares the ODR window; a declared use wins."""
    con = source(orders=[order("o1", ordered=at(50)), order("o2", ordered=at(5))])
    assert facts(con, use("order_defect_rate", days=60))["S1"]["orders"] == 2
    assert facts(con, use("refund_rate", days=10))["S1"]["orders"] == 1  # 30 d default
    declared = facts(con, use("orders", days=7), use("order_defect_rate", days=60))["S1"]
    assert declared["orders"] == 1


def test_as_of_label_for_non_midnight_instants() -> None:
    """A non-midnight as_of is written as a UTC timestamp; a date as the date."""
    con = source(orders=[order("o1")])
    noon = datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert compute_metrics(con, [], noon).table.column("as_of")[0].as_py() == "2026-11-01T12:00:00Z"
    assert compute_metrics(con, [], date(2026, 11, 1)).table.column("as_of")[0].as_py() == (
        "2026-11-01"
    )


@pytest.mark.parametrize(
    ("uses", "message"),
    [
        ([use("refund_rate"), use("refund_rate")], "two metric uses"),
        ([use("refund_rate", name="seller_id")], "reserved"),
        ([use("refund_rate", name="orders")], "must use metric 'orders'"),
        ([use("refund_rate", days=0)], "window must be"),
    ],
)
def test_invalid_uses_are_rejected(uses: list[object], message: str) -> None:
    """Duplicate, reserved or ill-formed uses raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        compute_metrics(source(), uses, AS_OF)  # type: ignore[arg-type]


def test_no_sellers_gives_an_empty_table() -> None:
    """An empty source yields zero rows with the full column list."""
    uses = [use("order_defect_rate", days=60)]
    table = compute_metrics(source(), uses, AS_OF).table
    assert table.num_rows == 0
    assert table.column_names == fact_columns(uses)


def test_bad_order_dates_for_bad_and_good_rates() -> None:
    """Numerator dates for defect rates, failing dates for good rates, sorted, one per order."""
    con = source(
        orders=[
            order("o1", ordered=at(3), cancelled_at=at(2), cancelled_by="seller"),
            order("o2", ordered=at(5), cancelled_at=at(2), cancelled_by="seller"),
            order("o3", ordered=at(5), shipped_at=at(4), tracking_valid=True),
            order("o4", ordered=at(6), shipped_at=at(4)),
            order("o5", seller="S2", ordered=at(4), cancelled_at=at(2), cancelled_by="seller"),
            order("o6", ordered=at(40), cancelled_at=at(39), cancelled_by="seller"),
        ]
    )
    cancel = use("pre_fulfillment_cancel_rate")
    assert bad_order_dates(con, cancel, AS_OF, "S1") == [at(5).date(), at(3).date()]
    tracking = use("valid_tracking_rate")
    assert bad_order_dates(con, tracking, AS_OF, "S1") == [at(6).date()]
    with pytest.raises(ValueError, match="not a rate"):
        bad_order_dates(con, use("gross_sales"), AS_OF, "S1")


def test_bad_message_dates_are_unanswered_due_messages() -> None:
    """For message_response_rate the dates are those of due messages not answered in time."""
    con = source(
        messages=[
            {"message_id": "m1", "seller_id": "S1", "received_at": at(5)},
            {"message_id": "m2", "seller_id": "S1", "received_at": at(4), "responded_at": at(4)},
            {"message_id": "m3", "seller_id": "S1", "received_at": at(0, hours=-1)},
        ]
    )
    assert bad_order_dates(con, use("message_response_rate"), AS_OF, "S1") == [at(5).date()]


def test_evidence_lookup_counts_match_the_numerator() -> None:
    """DuckDBEvidence returns as many dates as the rate's numerator, by use name."""
    con = source(
        orders=[order(f"o{i}", ordered=at(i + 1), refunded_at=at(0.5)) for i in range(4)]
        + [order("x")]
    )
    uses = (use("refund_rate", name="refunds"),)
    evidence = DuckDBEvidence(con, uses, AS_OF)
    assert len(evidence.bad_order_dates("S1", "refunds")) == facts(con, *uses)["S1"]["refunds__num"]
    with pytest.raises(KeyError):
        evidence.bad_order_dates("S1", "nope")


def test_iter_facts_yields_seller_facts() -> None:
    """Rows convert to SellerFacts with every field but seller_id and as_of."""
    con = source(orders=[order("o1", refunded_at=at(1))])
    result = compute_metrics(con, [use("refund_rate")], AS_OF)
    (only,) = list(iter_facts(result.table, AS_OF))
    assert only.seller_id == "S1"
    assert only.as_of == AS_OF
    assert only.get("refund_rate") == 1.0
    assert only.get("orders") == 1


def test_configure_connection_sets_limits(tmp_path: Path) -> None:
    """memory_limit, temp_directory and threads are applied; bad sizes are rejected."""
    con = duckdb.connect()
    configure_connection(con, memory_limit="512MB", temp_directory=tmp_path / "spill", threads=1)
    setting = con.execute("SELECT current_setting('memory_limit')").fetchone()
    assert setting is not None
    assert "MiB" in str(setting[0]) or "MB" in str(setting[0])
    assert (tmp_path / "spill").is_dir()
    with pytest.raises(ValueError, match="not a memory size"):
        configure_connection(con, memory_limit="lots")


def test_lagged_window_excludes_recent_orders() -> None:
    """A 30-day lag moves the window: recent orders leave it, older ones enter."""
    con = source(orders=[order("o1", ordered=at(5)), order("o2", ordered=at(45))])
    row = facts(con, use("order_defect_rate", days=60, lag_days=30))["S1"]
    assert row["order_defect_rate__den"] == 1
    assert row["orders"] == 1


def test_only_needed_event_tables_are_read() -> None:
    """The query reads an event table only when a use needs it, and orders' flags once."""
    late_only = metrics_sql(
        [use("late_shipment_rate", name="l10", days=10), use("refund_rate")], AS_OF
    )
    for table in ("feedback", "claims", "chargebacks", "disputes", "ratings"):
        assert f"FROM {table}" not in late_only
    odr = metrics_sql([use("order_defect_rate", days=60)], AS_OF)
    assert all(f"FROM {t}" in odr for t in ("feedback", "claims", "chargebacks"))
    assert "FROM ratings" not in odr
    twice = metrics_sql(
        [use("late_shipment_rate", name="a"), use("late_shipment_rate", name="b")], AS_OF
    )
    assert twice.count("shipped_at > coalesce(ship_by") == 1
