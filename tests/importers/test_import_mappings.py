"""Mapping files are data, checked: every shipped one loads, cites its documentation,
and a broken mapping is refused with its file, line, column and JSON path."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from sellerpolicy.engine.formats.document import MappingError
from sellerpolicy.engine.formats.flat import FlatFileMapping, StatusRole
from sellerpolicy.engine.formats.registry import (
    MAPPINGS_DIR,
    SHIPPED,
    amazon_health_mapping,
    flat_mapping,
    shipped_mappings,
)
from sellerpolicy.rules.catalog import CATALOG

ORDERS = MAPPINGS_DIR / SHIPPED["amazon-all-orders"]


def test_every_shipped_mapping_loads_and_cites_dated_https_pages() -> None:
    """Each shipped file parses, names its report type and cites documentation checked
    on a real date; every file in the folder is a shipped mapping."""
    mappings = shipped_mappings()
    assert set(mappings) == set(SHIPPED)
    assert {p.name for p in MAPPINGS_DIR.glob("*.yaml")} == set(SHIPPED.values())
    for key, mapping in mappings.items():
        assert mapping.info.id == key
        assert mapping.info.report_type
        assert mapping.info.documentation
        for doc in mapping.info.documentation:
            assert doc.url.startswith("https://")
            assert date(2026, 1, 1) <= doc.checked <= date.today()
        assert mapping.info.notes, f"{key} says nothing where the documentation is silent"


def test_flat_mappings_read_documented_columns_and_name_catalog_metrics() -> None:
    """A flat-file mapping reads only columns it lists; carried and not assessable
    metrics are catalog metrics, never both."""
    for key in ("amazon-all-orders", "amazon-seller-feedback"):
        mapping = flat_mapping(key)
        assert isinstance(mapping, FlatFileMapping)
        assert set(mapping.used_columns) <= set(mapping.columns)
        carried = {c.metric for c in mapping.carries}
        left = {n.metric for n in mapping.not_assessable}
        assert carried
        assert left
        assert not carried & left
        assert (carried | left) <= set(CATALOG)


def test_order_statuses_keep_amounts_of_sales_only() -> None:
    """Canceled orders are not sales; pending orders show no price (Amazon's help)."""
    status = flat_mapping("amazon-all-orders").status
    assert status is not None
    assert status.values["Canceled"] is StatusRole.CANCELLED
    assert status.values["Pending"] is StatusRole.PENDING
    assert status.values["Shipped"] is StatusRole.SALE


def test_account_health_variants_are_listed_as_aliases() -> None:
    """The schema example's spellings are accepted by name, not by a loose match."""
    mapping = amazon_health_mapping()
    objects = {o.key: o for o in mapping.objects}
    assert objects["preFulfillmentCancellationRate"].aliases == ("prefulfillmentCancelRate",)
    ignored = {i.key: i.aliases for i in mapping.ignored}
    assert ignored["warningStates"] == ("warningState",)
    assert ignored["documentRequests"] == ("documentRequest",)


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = ORDERS.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "orders-mapping.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("fold_by: amazon-order-id", "fold_by: order-id", "$.fold_by", "not one of the columns"),
        ("type: timestamp", "type: datetime", "$.fields.ordered_at.type", "'datetime' is not"),
        ("    Canceled: cancelled", "    Canceled: gone", "$.status.values.Canceled", "'gone'"),
        ("table: orders", "table: orders\nspare: 1", "$.spare", "unknown key 'spare'"),
        ("  - metric: gross_sales", "  - metric: gross_sale", "$.carries[1].metric", "catalog"),
        ("checked: 2026-12-07", "checked: soon", "$.documentation[0].checked", "must be a date"),
    ],
)
def test_broken_mapping_is_refused_located(
    tmp_path: Path, old: str, new: str, where: str, message: str
) -> None:
    """A mapping file with a bad value is one error naming its file, line and path."""
    path = _broken(tmp_path, old, new)
    with pytest.raises(MappingError) as caught:
        flat_mapping("amazon-all-orders", path)
    diag = caught.value.diagnostic
    assert diag.file == str(path)
    assert diag.json_path == where
    assert message in diag.message
    assert diag.line > 1
    assert str(path) in str(caught.value)


def test_mapping_of_another_report_is_refused(tmp_path: Path) -> None:
    """--mapping must map the report the command reads (its id)."""
    path = _broken(tmp_path, "id: amazon-all-orders", "id: amazon-other-orders")
    with pytest.raises(MappingError, match="not 'amazon-all-orders'"):
        flat_mapping("amazon-all-orders", path)


def test_duplicate_key_in_a_mapping_is_refused(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys silently; a mapping must not."""
    path = _broken(tmp_path, "table: orders", "table: orders\ntable: feedback")
    with pytest.raises(MappingError, match="duplicate"):
        flat_mapping("amazon-all-orders", path)
