"""eBay's seller standards profile and customer service metrics to facts for the ebay
pack: rates with their numerator and denominator, each in the use of its window."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from importkit import FIXTURES, error_line, run_main, write_json

from sellerpolicy.engine.formats.registry import ebay_service_mapping, ebay_standards_mapping
from sellerpolicy.engine.importers.ebay import read_customer_service, read_seller_standards
from sellerpolicy.engine.importers.json_input import ReportError

SAMPLE = json.loads((FIXTURES / "ebay-seller-standards-sample.json").read_text())
AS_OF = "2016-08-01"  # the lookback ends 2016-07-31T07:00Z


def _service(dimension: str = "SHIPPING_REGION") -> dict[str, Any]:
    """A getCustomerServiceMetric response of two dimensions, by its documented fields."""

    def metrics(count: str, total: str, rate: str) -> list[dict[str, Any]]:
        return [
            {"metricKey": "TRANSACTION_COUNT", "value": count},
            {"metricKey": "COUNT", "value": total},
            {"metricKey": "RATE", "value": rate, "benchmark": {"rating": "LOW"}},
        ]

    return {
        "marketplaceId": "EBAY_US",
        "evaluationCycle": {
            "evaluationType": "CURRENT",
            "startDate": "2016-05-01T07:00:00.000Z",
            "endDate": "2016-08-01T07:00:00.000Z",
        },
        "dimensionMetrics": [
            {
                "dimension": {"dimensionKey": dimension, "name": "Domestic", "value": "DOMESTIC"},
                "metrics": metrics("2", "400", "0.5"),
            },
            {
                "dimension": {
                    "dimensionKey": dimension,
                    "name": "International: Mature region",
                    "value": "INTERNATIONAL_MATURED_REGION",
                },
                "metrics": metrics("1", "100", "0.01"),
            },
        ],
    }


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    folder = tmp_path_factory.mktemp("ebay")
    profile = write_json(folder / "SELLER1.json", SAMPLE)
    service = write_json(folder / "SELLER1.inr.json", _service())
    out = folder / "reported.jsonl"
    done = run_main(
        "import", "ebay-seller-standards", profile, "--customer-service", service, "--out", out
    )
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    return row, done.stderr


def test_rates_keep_numerator_and_denominator_in_the_nearest_window(
    imported: tuple[dict[str, Any], str],
) -> None:
    """eBay's 0.14% is 1 of 720: the value is exactly 1/720; a 12-month lookback goes
    to the pack's 12-month use, and the 3-month use stays null."""
    row, _ = imported
    assert row["seller_id"] == "SELLER1"
    assert row["as_of"] == AS_OF
    assert row["transaction_defect_rate_12m"] == 1 / 720
    assert (row["transaction_defect_rate_12m__num"], row["transaction_defect_rate_12m__den"]) == (
        1,
        720,
    )
    assert row["transaction_defect_rate_3m"] is None
    assert row["late_shipment_rate_12m__num"] == 3  # 323-day lookback: nearest is 12 months
    assert row["orders_12m"] == 720
    assert row["orders"] == 720
    assert row["cases_closed_rate_12m"] is None  # not in the sample: not assessed


def test_customer_service_rate_sums_its_dimensions(imported: tuple[dict[str, Any], str]) -> None:
    """Item-not-received: 2 of 400 and 1 of 100 are 3 of 500 (no use in the ebay pack:
    written under its own name)."""
    row, stderr = imported
    assert row["item_not_received_rate__num"] == 3
    assert row["item_not_received_rate__den"] == 500
    assert row["item_not_received_rate"] == 3 / 500
    assert "warning:" not in stderr  # 0.5 is 2/400 in percent, 0.01 is 1/100


def test_ebay_facts_evaluate_under_the_ebay_pack(
    imported: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    """evaluate --facts judges the imported row; unreported metrics are not assessed."""
    row, _ = imported
    facts = tmp_path / "facts.jsonl"
    facts.write_text(json.dumps(row) + "\n")
    out = tmp_path / "decisions.jsonl"
    done = run_main("evaluate", "--pack", "ebay", "--facts", facts, "--as-of", AS_OF, "--out", out)
    assert done.returncode == 0, done.stderr
    (decision,) = [json.loads(line) for line in out.read_text().splitlines()]
    outcomes = {r["rule"]: r["outcome"] for r in decision["rules"]}
    assert outcomes["below-standard-cases-12m"] == "not_assessed"


def test_a_find_response_is_chosen_by_program_and_cycle(tmp_path: Path) -> None:
    """findSellerStandardsProfiles: the default program's CURRENT profile unless chosen."""
    projected = copy.deepcopy(SAMPLE)
    projected["cycle"]["cycleType"] = "PROJECTED"
    projected["metrics"][0]["value"] = 900
    uk = copy.deepcopy(SAMPLE)
    uk["program"], uk["defaultProgram"] = "PROGRAM_UK", False
    uk["metrics"][0]["value"] = 10
    path = write_json(tmp_path / "S1.json", {"standardsProfiles": [SAMPLE, projected, uk]})
    mapping = ebay_standards_mapping()
    orders = lambda found: next(r.value for r in found.reported if r.metric == "orders")  # noqa: E731
    assert orders(read_seller_standards(path, "S1", mapping)) == 720
    assert orders(read_seller_standards(path, "S1", mapping, cycle="PROJECTED")) == 900
    assert orders(read_seller_standards(path, "S1", mapping, program="PROGRAM_UK")) == 10
    with pytest.raises(ReportError, match="no profile of program PROGRAM_DE"):
        read_seller_standards(path, "S1", mapping, program="PROGRAM_DE")


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            lambda p: p["metrics"][1].update(metricKey="DEFECT_RATE_NEW"),
            "$.metrics[1].metricKey",
            "unknown metricKey 'DEFECT_RATE_NEW'",
        ),
        (
            lambda p: p["metrics"][1]["value"].update(numerator="one"),
            "$.metrics[1].value.numerator",
            'is "one", not a whole number >= 0',
        ),
        (
            lambda p: p["metrics"][1].update(type="NUMBER"),
            "$.metrics[1].type",
            "DEFECTIVE_TRANSACTION_RATE is a RATE metric",
        ),
        (lambda p: p.update(sellerLevel="TOP"), "$.sellerLevel", "unknown field 'sellerLevel'"),
        (
            lambda p: p["metrics"][1]["value"].update(value="140"),
            "$.metrics[1].value",
            "is 140: not a share (0..1)",
        ),
    ],
)
def test_a_broken_profile_is_one_located_error(
    tmp_path: Path, change: Any, path: str, message: str
) -> None:
    """Exit 2 and one line naming the file and the JSON path."""
    profile = copy.deepcopy(SAMPLE)
    change(profile)
    file = write_json(tmp_path / "S1.json", profile)
    done = run_main("import", "ebay-seller-standards", file, "--out", tmp_path / "f.jsonl")
    assert done.returncode == 2
    line = error_line(done)
    assert f"{file}: {path}: " in line
    assert message in line


def test_customer_service_type_is_known_by_its_dimension(tmp_path: Path) -> None:
    """Listing categories are item-not-as-described; an unknown dimension is refused;
    a RATE that is neither fraction nor percentage of its counts is a warning."""
    mapping = ebay_service_mapping()
    inad = read_customer_service(
        write_json(tmp_path / "a.json", _service("LISTING_CATEGORY")), "S1", mapping
    )
    (found,) = inad.reported
    assert (found.name, found.knobs) == (
        "item_not_as_described_rate",
        {"dispute_kinds": ("not_as_described",)},
    )
    with pytest.raises(ReportError, match="unknown dimensionKey 'SELLER'"):
        read_customer_service(write_json(tmp_path / "b.json", _service("SELLER")), "S1", mapping)
    odd = _service()
    odd["dimensionMetrics"][0]["metrics"][2]["value"] = "7"
    warned = read_customer_service(write_json(tmp_path / "c.json", odd), "S1", mapping)
    assert warned.warnings
    assert "$.dimensionMetrics[0]: RATE 7 is neither 2/400" in warned.warnings[0]
