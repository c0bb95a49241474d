"""Rule plans are worked out once per pack object, never shared between objects."""

from __future__ import annotations

from dataclasses import replace

from sellerpolicy.engine.evaluation.plans import pack_plans, plan_rule
from sellerpolicy.rules import load_pack, resolve_pack


def test_plans_are_kept_per_pack_object_and_match_a_fresh_plan() -> None:
    """The same pack object gets the same plans; an equal-digest copy with fewer rules
    (as ``evaluate`` makes for a back end) gets its own, for its own rules."""
    pack = load_pack(resolve_pack("amazon"))
    first = pack_plans(pack)
    assert pack_plans(pack) is first
    assert first == tuple(plan_rule(rule, pack) for rule in pack.rules)
    subset = replace(pack, rules=pack.rules[:2])
    assert subset.digest == pack.digest
    assert [p.rule.id for p in pack_plans(subset)] == [r.id for r in pack.rules[:2]]
    assert pack_plans(pack) is first
