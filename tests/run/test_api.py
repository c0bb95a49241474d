"""The Python API: Policy.load once, evaluate facts, sources and single sellers."""

from __future__ import annotations

import doctest
from datetime import timedelta
from pathlib import Path

import pytest
from runkit import AS_OF, healthy_facts

from sellerpolicy.engine import api
from sellerpolicy.engine.api import Policy
from sellerpolicy.engine.errors import FactsError, SourceError
from sellerpolicy.engine.metrics.facts import SellerFacts, as_of_instant
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.records import DecisionRecord


def test_the_module_example_runs() -> None:
    """The docstring example of sellerpolicy.engine.api runs and its outputs hold."""
    results = doctest.testmod(api, optionflags=doctest.ELLIPSIS)
    assert results.attempted >= 5
    assert results.failed == 0


def test_public_names_are_sorted() -> None:
    """The module's __all__ is sorted and every name exists."""
    assert list(api.__all__) == sorted(api.__all__)
    assert all(hasattr(api, name) for name in api.__all__)


def test_mapping_and_seller_facts_give_the_same_decision() -> None:
    """A facts mapping and the equivalent SellerFacts evaluate alike."""
    policy = Policy.load("amazon")
    record = healthy_facts(policy.pack, "S1", AS_OF) | {"order_defect_rate": 0.02}
    from_mapping = policy.evaluate(record)
    values = {k: v for k, v in record.items() if k not in ("seller_id", "as_of")}
    from_facts = policy.evaluate(SellerFacts("S1", as_of_instant(AS_OF), values))
    assert from_mapping.to_json() | {"decision_id": ""} == from_facts.to_json() | {
        "decision_id": ""
    }
    assert from_mapping.status.label == "critical"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"orders": 5}, "'seller_id' is missing"),
        ({"seller_id": "S1", "orders": 5}, "give as_of"),
        ({"seller_id": "S1", "as_of": "soon"}, "as_of 'soon' is not a date"),
        ({"seller_id": "S1", "as_of": "2026-11-01", "orders": "many"}, "'orders' is 'many'"),
    ],
)
def test_bad_facts_mappings_are_named(record: dict[str, object], message: str) -> None:
    """A mapping without a seller id or date, or with a non-number, is a FactsError."""
    with pytest.raises(FactsError, match=message):
        Policy.load("amazon").evaluate(record)


def test_history_escalates_a_repeated_breach(tmp_path: Path) -> None:
    """With the store's history, a breach recorded a week earlier escalates."""
    policy = Policy.load("amazon")
    record = healthy_facts(policy.pack, "S1", AS_OF) | {
        "pre_fulfillment_cancel_rate": 0.05,
        "pre_fulfillment_cancel_rate__num": 10,
    }
    with DecisionStore(tmp_path / "h.db") as store:
        first = policy.evaluate(record)
        store.append(policy.pack, [DecisionRecord.of(first)], run_id="r1")
        later = AS_OF + timedelta(days=7)
        history = store.history(policy.pack, ["S1"], later)
        second = policy.evaluate(record | {"as_of": later.isoformat()}, history=history)
    assert [a.action for a in first.enforced_actions] == ["warn"]
    assert [a.action for a in second.enforced_actions] == ["restrict_listings"]
    assert second.rule("cancel-rate-over-target").streak == 1


def test_evaluate_source_needs_a_place_for_rejects(tmp_path: Path, small_source: Path) -> None:
    """A source with rejects raises unless rejects_out is given; then every seller is decided."""
    policy = Policy.load("amazon")
    with pytest.raises(SourceError, match="rows break the data contract"):
        list(policy.evaluate_source(small_source, as_of=AS_OF))
    rejects = tmp_path / "r.jsonl"
    decisions = list(
        policy.evaluate_source(small_source, as_of=AS_OF, rejects_out=rejects, chunk_size=40)
    )
    assert len(decisions) > 100
    assert decisions == sorted(decisions, key=lambda d: d.seller_id)
    assert rejects.read_text().count("\n") > 0


def test_explain_seller_reports_every_rule_and_the_rejects(
    tmp_path: Path, small_source: Path
) -> None:
    """explain_seller returns the decision, a report naming every rule, and the rejects."""
    policy = Policy.load("amazon")
    rejects = tmp_path / "r.jsonl"
    decided = [
        d.seller_id for d in policy.evaluate_source(small_source, as_of=AS_OF, rejects_out=rejects)
    ]
    seller = decided[len(decided) // 2]
    explained = policy.explain_seller(small_source, seller, as_of=AS_OF)
    assert explained.decision.seller_id == seller
    assert explained.report.startswith(f"Seller {seller}")
    assert all(rule.id in explained.report for rule in policy.pack.rules)
    assert explained.rejects
