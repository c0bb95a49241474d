"""Amazon's Account Health report to facts: Amazon's own example imports (with its
variant keys) and evaluates under the amazon pack; a report with a wrong type, a
missing field or an unknown key is one located error, exit 2, never a traceback."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from importkit import ROOT, amazon_example, error_line, run_main, write_json

from sellerpolicy.engine.formats.registry import amazon_health_mapping
from sellerpolicy.engine.importers.amazon_health import read_account_health
from sellerpolicy.engine.importers.json_input import ReportError
from sellerpolicy.engine.importers.reported import Reported, to_facts
from sellerpolicy.rules import load_pack

AS_OF = "2020-11-20"  # the last window of the example ends 2020-11-19T23:59Z
FACTS_SCHEMA = json.loads((ROOT / "schemas" / "metric-facts.schema.json").read_text())


@pytest.fixture(scope="module")
def example_facts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The schema's example imported through the command line."""
    folder = tmp_path_factory.mktemp("health")
    report = write_json(folder / "A1B2C3.json", amazon_example())
    out = folder / "reported.jsonl"
    done = run_main("import", "amazon-account-health", report, "--out", out)
    assert done.returncode == 0, done.stderr
    return out, done.stderr


def test_example_imports_with_its_variant_keys(example_facts: tuple[Path, str]) -> None:
    """One schema-valid facts row for the account (named by the file), as of the day
    the windows end; the rate that agrees with its counts keeps them."""
    out, _ = example_facts
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    jsonschema.Draft202012Validator(FACTS_SCHEMA).validate(row)
    assert row["seller_id"] == "A1B2C3"
    assert row["as_of"] == AS_OF
    assert row["orders"] == 539000
    assert row["late_shipment_rate_30d__num"] == 27896
    assert row["late_shipment_rate_30d__den"] == 870669
    assert row["late_shipment_rate_30d"] == 27896 / 870669
    assert row["late_shipment_rate_10d"] is None  # one reported window: the 30-day use
    assert row["pre_fulfillment_cancel_rate"] == 0.005  # prefulfillmentCancelRate
    assert row["message_response_rate"] is None  # the report has no response time
    assert row["claim_rate__num"] == 442  # ODR parts, under their catalog names


def test_rates_disagreeing_with_their_counts_are_kept_alone_with_a_warning(
    example_facts: tuple[Path, str],
) -> None:
    """The example's ODR 0.009 is not 1,078 of 539,000: the rate stays, its counts go,
    and the warning says so with the JSON path; ignored fields are counted."""
    out, stderr = example_facts
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["order_defect_rate"] == 0.009
    assert row["order_defect_rate__num"] is None
    assert "$.performanceMetrics[0].orderDefectRate.mfn.rate" in stderr
    assert "0.009 is not 1078 of 539000" in stderr
    assert "counts 896462 of 878443 are more than all" in stderr
    assert "fields of the reports are read by no metric" in stderr


def test_windows_are_kept_beside_the_facts(example_facts: tuple[Path, str]) -> None:
    """Each value's reporting window (its last minute included) and JSON path."""
    out, _ = example_facts
    text = out.with_name("reported.windows.jsonl").read_text()
    windows = [json.loads(line) for line in text.splitlines()]
    odr = next(w for w in windows if w["metric"] == "order_defect_rate")
    assert (odr["window_start"], odr["window_end"], odr["days"]) == (
        "2020-09-06T00:00:00Z",
        "2020-11-05T00:00:00Z",
        60,
    )
    assert odr["source"] == "$.performanceMetrics[0].orderDefectRate.mfn.rate"
    cancel = next(w for w in windows if w["metric"] == "pre_fulfillment_cancel_rate")
    assert cancel["source"].endswith("prefulfillmentCancelRate.rate")


def test_example_evaluates_under_the_amazon_pack(
    example_facts: tuple[Path, str], tmp_path: Path
) -> None:
    """evaluate --facts judges it: what the report lacks is not assessed, not passed."""
    out, _ = example_facts
    decisions = tmp_path / "decisions.jsonl"
    done = run_main(
        "evaluate", "--pack", "amazon", "--facts", out, "--as-of", AS_OF, "--out", decisions
    )
    assert done.returncode == 0, done.stderr
    (decision,) = [json.loads(line) for line in decisions.read_text().splitlines()]
    outcomes = {r["rule"]: r["outcome"] for r in decision["rules"]}
    assert outcomes["response-time-below-target"] == "not_assessed"
    assert outcomes["late-shipment-10d"] == "not_assessed"
    assert outcomes["late-shipment-30d"] == "not_matched"  # 3.2% is under the 4% limit
    assert outcomes["odr-over-target"] == "not_assessed"  # no counts for min_orders


def _item(report: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = report["performanceMetrics"][0]
    return item


def _breakages() -> list[tuple[str, Any, str]]:
    def wrong_type(r: dict[str, Any]) -> None:
        _item(r)["lateShipmentRate"]["orderCount"] = "870669"

    def missing(r: dict[str, Any]) -> None:
        del _item(r)["lateShipmentRate"]["lateShipmentCount"]

    def unknown(r: dict[str, Any]) -> None:
        _item(r)["lateShipmentRates"] = {}

    def unknown_inside(r: dict[str, Any]) -> None:
        _item(r)["validTrackingRate"]["validTrackingCounts"] = 1

    def both_spellings(r: dict[str, Any]) -> None:
        _item(r)["preFulfillmentCancellationRate"] = _item(r)["prefulfillmentCancelRate"]

    def bad_date(r: dict[str, Any]) -> None:
        _item(r)["lateShipmentRate"]["reportingDateRange"]["reportingDateTo"] = "Nov 19"

    def negative(r: dict[str, Any]) -> None:
        _item(r)["orderDefectRate"]["mfn"]["claims"]["count"] = -1

    return [
        (
            "$.performanceMetrics[0].lateShipmentRate.orderCount",
            wrong_type,
            'is "870669", not a whole number >= 0',
        ),
        (
            "$.performanceMetrics[0].lateShipmentRate",
            missing,
            "missing field 'lateShipmentCount'",
        ),
        ("$.performanceMetrics[0].lateShipmentRates", unknown, "unknown field 'lateShipmentRates'"),
        (
            "$.performanceMetrics[0].validTrackingRate.validTrackingCounts",
            unknown_inside,
            "unknown field 'validTrackingCounts'",
        ),
        (
            "$.performanceMetrics[0].preFulfillmentCancellationRate",
            both_spellings,
            "are the same metric",
        ),
        (
            "$.performanceMetrics[0].lateShipmentRate.reportingDateRange.reportingDateTo",
            bad_date,
            "not an ISO 8601 timestamp",
        ),
        (
            "$.performanceMetrics[0].orderDefectRate.mfn.claims.count",
            negative,
            "is -1, not a whole number >= 0",
        ),
    ]


@pytest.mark.parametrize(("path", "breaks", "message"), _breakages(), ids=lambda x: "")
def test_a_broken_report_is_one_located_error(
    tmp_path: Path, path: str, breaks: Any, message: str
) -> None:
    """Exit 2 and one line: the file, the JSON path, the problem."""
    report = copy.deepcopy(amazon_example())
    breaks(report)
    file = write_json(tmp_path / "S1.json", report)
    done = run_main("import", "amazon-account-health", file, "--out", tmp_path / "f.jsonl")
    assert done.returncode == 2
    line = error_line(done)
    assert f"{file}: {path}: " in line
    assert message in line
    assert not (tmp_path / "f.jsonl").exists()


def test_not_json_and_not_an_object_are_located_errors(tmp_path: Path) -> None:
    """A file that is not JSON, or JSON of another shape, names the file."""
    broken = tmp_path / "S1.json"
    broken.write_text('{"performanceMetrics": [', encoding="utf-8")
    with pytest.raises(ReportError, match=r"\$: not JSON"):
        read_account_health(broken, "S1", amazon_health_mapping())
    write_json(broken, [1, 2])
    with pytest.raises(ReportError, match=r"\$: is \[1, 2\], not an object"):
        read_account_health(broken, "S1", amazon_health_mapping())


def test_a_missing_metric_object_leaves_its_uses_null(tmp_path: Path) -> None:
    """A report without validTrackingRate gives no tracking metric, not a zero."""
    report = copy.deepcopy(amazon_example())
    del _item(report)["validTrackingRate"]
    found = read_account_health(write_json(tmp_path / "S1.json", report), "S1",
                                amazon_health_mapping())  # fmt: skip
    assert "valid_tracking_rate" not in {r.metric for r in found.reported}


def test_several_marketplaces_need_a_choice(tmp_path: Path) -> None:
    """One facts row per account: a report of two marketplaces needs --marketplace."""
    report = copy.deepcopy(amazon_example())
    second = copy.deepcopy(_item(report))
    second["marketplaceId"] = "A2EUQ1WTGCTBG2"
    report["performanceMetrics"].append(second)
    path = write_json(tmp_path / "S1.json", report)
    with pytest.raises(ReportError, match="ATVPDKIKX0DER, A2EUQ1WTGCTBG2: choose one"):
        read_account_health(path, "S1", amazon_health_mapping())
    chosen = read_account_health(path, "S1", amazon_health_mapping(), "A2EUQ1WTGCTBG2")
    assert {r.marketplace for r in chosen.reported} == {"A2EUQ1WTGCTBG2"}


@pytest.mark.parametrize(
    ("rate", "num", "den", "kept"),
    [
        ("0.032", 32, 1000, True),
        ("0.0320", 32, 1000, True),
        ("0.03", 32, 1000, True),  # 0.032 rounds to 0.03
        ("0.03", 36, 1000, False),  # 0.036 rounds to 0.04
        ("0.0321", 32, 1000, False),
        ("0", 0, 0, True),
    ],
)
def test_a_rate_agrees_with_its_counts_to_the_digits_it_is_written_with(
    rate: str, num: int, den: int, kept: bool
) -> None:
    """Agreeing counts are kept and the value becomes num / den exactly; others go."""
    item = Reported(
        file="r.json",
        seller_id="S1",
        metric="valid_tracking_rate",
        source="$.x",
        definition="",
        mapping="m",
        value=Decimal(rate),
        num=num,
        den=den,
    )
    result = to_facts([item], load_pack("amazon"), datetime(2026, 11, 1, tzinfo=UTC))
    (row,) = result.table.to_pylist()
    assert (row["valid_tracking_rate__den"] is not None) is kept
    if kept:
        assert row["valid_tracking_rate"] == (num / den if den else None)
    else:
        assert result.warnings
