"""An exemption naming a pack or rule that does not exist is an error when the pack is
at hand: it would otherwise exempt nothing, silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from sellerpolicy.engine.api import Policy
from sellerpolicy.engine.cli.validate import validate_paths
from sellerpolicy.rules import PackError, load_pack
from sellerpolicy.rules.api import exemption_diagnostics, load_exemption

AMAZON = load_pack("amazon")


def _exemption(tmp_path: Path, pack: str, rules: str, name: str = "exm.yaml") -> Path:
    path = tmp_path / name
    path.write_text(
        "apiVersion: sellerpolicy/v1\n"
        "kind: PolicyExemption\n"
        "metadata: {id: exm-1}\n"
        "spec:\n"
        f"  pack: {pack}\n"
        "  seller_id: S1\n"
        f"  rules: {rules}\n"
        "  reason: Carrier strike (ticket CS-1)\n"
        "  approver: jane.doe@example.com\n"
        "  expires: 2026-12-31\n"
    )
    return path


def test_unknown_rule_is_located_with_a_suggestion(tmp_path: Path) -> None:
    path = _exemption(tmp_path, AMAZON.id, "[odr-over-target, odr-over-targt]")
    found = exemption_diagnostics(path, load_exemption(path), [AMAZON])
    assert [(d.code, d.json_path, d.line, d.column) for d in found] == [
        ("unknown_rule", "$.spec.rules[1]", 7, 28)
    ]
    assert "odr-over-target" in (found[0].hint or "")


def test_unknown_pack_is_located(tmp_path: Path) -> None:
    path = _exemption(tmp_path, "amazon-seller-performanse", "[odr-over-target]")
    found = exemption_diagnostics(path, load_exemption(path), [AMAZON])
    assert [(d.code, d.line) for d in found] == [("unknown_pack", 5)]
    assert "amazon-seller-performance" in (found[0].hint or "")


def test_an_exemption_for_another_shipped_pack_is_fine(tmp_path: Path) -> None:
    ebay = load_pack("ebay")
    path = _exemption(tmp_path, ebay.id, "[whatever]")
    assert exemption_diagnostics(path, load_exemption(path), [AMAZON]) == []


def test_policy_load_and_load_exemption_with_the_pack_refuse_it(tmp_path: Path) -> None:
    path = _exemption(tmp_path, AMAZON.id, "[no-such-rule]")
    load_exemption(path)  # alone, the document is well-formed
    with pytest.raises(PackError, match="unknown_rule"):
        load_exemption(path, AMAZON)
    with pytest.raises(PackError, match="no rule 'no-such-rule'"):
        Policy.load("amazon", exemptions=[path])


def test_validate_with_the_pack_cross_checks(tmp_path: Path) -> None:
    path = _exemption(tmp_path, AMAZON.id, "[no-such-rule]")
    alone = validate_paths([path])
    assert alone.errors == 0
    together = validate_paths([Path(AMAZON.path or ""), path])
    assert together.errors == 1
    (bad,) = [r for r in together.documents if r.errors]
    assert bad.file == str(path)
