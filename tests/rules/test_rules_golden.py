"""The compiled form of a pack using every feature is stable (golden file).

Regenerate with ``SELLERPOLICY_UPDATE_GOLDEN=1 pytest tests/rules/test_rules_golden.py``
after a deliberate change, and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rulekit import EXAMPLE

from sellerpolicy.rules import check_pack, pack_to_json

GOLDEN = Path(__file__).parent / "golden" / "example-pack.json"


def _render(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_example_pack_compiles_to_the_golden_ir() -> None:
    """The example pack compiles cleanly, and its IR matches the golden JSON."""
    pack, found = check_pack(EXAMPLE)
    assert found == []
    assert pack is not None
    actual = _render(pack_to_json(pack))
    if os.environ.get("SELLERPOLICY_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(actual, encoding="utf-8")
    assert GOLDEN.read_text(encoding="utf-8") == actual


def test_golden_file_covers_every_feature() -> None:
    """The golden IR really exercises the features it is meant to pin down."""
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    rules = {rule["id"]: rule for rule in golden["rules"]}
    assert rules["odr-over-target"]["escalation"]["steps"][2] == {
        "after": 4,
        "actions": ["suspend"],
    }
    assert rules["cancels-and-count"]["mode"] == "shadow"
    assert "any" in rules["slow-or-late"]["when"]
    assert [m["name"] for m in golden["metrics"]][-1] == "orders"
    assert golden["scores"][0]["grades"][2]["confirmed"] is False
