"""The workbench's pack page writes each rule's windows as the pack means them."""

from __future__ import annotations

from sellerpolicy.engine.service.web.pages import rule_views
from sellerpolicy.rules import load_pack, resolve_pack


def _windows(pack_name: str) -> dict[str, str]:
    return {view.rule.id: view.window for view in rule_views(load_pack(resolve_pack(pack_name)))}


def test_calendar_months_rolling_days_and_as_of_facts_read_as_such() -> None:
    ebay = _windows("ebay")
    top_rated = ebay["top-rated-3m"]
    assert "transaction_defect_rate_3m: 3 calendar months" in top_rated
    assert "gross_sales_12m: 12 calendar months" in top_rated
    assert "account_age_days: as of the evaluation date" in top_rated
    assert "days" not in top_rated.replace("account_age_days", "")
    assert _windows("amazon")["odr-over-target"] == "order_defect_rate: 60 days"
