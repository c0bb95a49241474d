"""docs/importing.md keeps up with the mappings: every shipped mapping file is named,
and every metric the Amazon reports carry or leave not assessable is listed."""

from __future__ import annotations

from importkit import ROOT

from sellerpolicy.engine.formats.registry import SHIPPED, flat_mapping

DOC = (ROOT / "docs" / "importing.md").read_text(encoding="utf-8")


def test_every_shipped_mapping_file_is_named() -> None:
    """The table of mappings names each file in engine/formats/mappings."""
    for name in SHIPPED.values():
        assert f"`{name}`" in DOC


def test_carried_and_not_assessable_metrics_are_listed() -> None:
    """The page's lists are the mappings' lists."""
    carried_part, _, rest = DOC.partition("It leaves not assessable:")
    left_part = rest.split("**Beware:**", 1)[0]
    for key in ("amazon-all-orders", "amazon-seller-feedback", "amazon-returns"):
        mapping = flat_mapping(key)
        for carried in mapping.carries:
            assert f"| `{carried.metric}` |" in carried_part
        for entry in mapping.not_assessable:
            assert f"`{entry.metric}`" in left_part
