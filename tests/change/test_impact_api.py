"""The Python API of policy change: ``Policy.diff`` and ``Policy.impact`` on Arrow tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pyarrow as pa
import pytest
from run.runkit import healthy_facts

from sellerpolicy.engine.api import Policy
from sellerpolicy.engine.errors import FactsError

AS_OF = date(2026, 11, 1)


def _facts(policy: Policy) -> pa.Table:
    rows = [healthy_facts(policy.pack, f"S{i}", AS_OF) for i in range(4)]
    # S0 breaches ODR (2%), S1 sits at 0.9%: only a stricter ODR target catches S1
    for row, defects in ((rows[0], 40), (rows[1], 18)):
        row |= {
            "orders": 2000,
            "order_defect_rate": defects / 2000,
            "order_defect_rate__num": defects,
            "order_defect_rate__den": 2000,
        }
    return pa.Table.from_pylist([{k: v for k, v in r.items() if k != "as_of"} for r in rows])


def test_diff_and_impact_of_a_moved_threshold() -> None:
    current = Policy.load("amazon")
    rules = tuple(
        replace(r, when=replace(r.when, threshold=0.008)) if r.id == "odr-over-target" else r
        for r in current.pack.rules
    )
    stricter = Policy(replace(current.pack, rules=rules))
    changes = current.diff(stricter)
    assert [c.text() for c in changes] == [
        "rule odr-over-target condition: order_defect_rate >= 1% -> order_defect_rate >= 0.8%"
    ]
    assert stricter.diff(stricter) == []

    facts = _facts(current)
    report = stricter.impact(current, facts, AS_OF)
    assert report.sellers == 4
    assert report.changed.column("seller_id").to_pylist() == ["S1"]
    assert report.changed.column("actions_after").to_pylist() == [["suspend"]]
    assert report.status_counts(after=True)["critical"] == 2
    assert report.status_counts(after=False)["critical"] == 1
    (moved,) = report.thresholds
    assert (moved.old, moved.new, moved.between) == (0.01, 0.008, 1)
    assert report.explained[0].after.reasons[0]["rule"] == "odr-over-target"

    again = stricter.impact(current, facts, AS_OF, baseline_facts=facts)
    assert again.matrix == report.matrix
    with pytest.raises(FactsError, match="same sellers"):
        stricter.impact(current, facts, AS_OF, baseline_facts=facts.slice(1))
