"""Properties: worse metrics never lower severity or status; decisions match the schema."""

from __future__ import annotations

import json
from datetime import timedelta
from importlib import resources

import jsonschema
import pytest
from evalkit import AS_OF, amazon_like, facts, healthy_values, rate, scored_pack
from hypothesis import given
from hypothesis import strategies as st

from sellerpolicy.engine.evaluation.decision import Decision
from sellerpolicy.engine.evaluation.evaluate import (
    Firing,
    HistoryFromRecords,
    evaluate,
    evaluate_one,
)
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.evaluation.packtest import DEFAULT_AS_OF, discover, fixture_files
from sellerpolicy.engine.metrics.facts import SellerFacts, as_of_instant
from sellerpolicy.rules import load_pack, load_packtest
from sellerpolicy.rules.model import Exemption, Mode

DEN = 400


def worst(decision: Decision) -> tuple[int, int]:
    """The status and the highest enforced severity of a decision."""
    severities = [a.severity for a in decision.enforced_actions]
    return decision.status, max(severities, default=0)


@given(
    odr=st.integers(0, DEN),
    late=st.integers(0, DEN),
    tracked=st.integers(0, DEN),
    worse=st.integers(1, 40),
    which=st.sampled_from(["odr", "late", "tracking"]),
    streak=st.integers(0, 4),
)
def test_a_worse_metric_never_lowers_severity_or_status(
    *, odr: int, late: int, tracked: int, worse: int, which: str, streak: int
) -> None:
    """Making one bad metric worse (more defects, less tracking) never lowers the outcome."""
    pack = amazon_like()
    history = HistoryFromRecords(
        [Firing("S1", "late", AS_OF.date() - timedelta(days=n + 1)) for n in range(streak)], pack
    )

    def values(o: int, la: int, tr: int) -> dict[str, float | int | None]:
        return {
            **healthy_values(),
            **rate("order_defect_rate", o, DEN),
            **rate("late_shipment_rate_10d", la, DEN),
            **rate("valid_tracking_rate", tr, DEN),
        }

    before = values(odr, late, tracked)
    after = {
        "odr": values(min(odr + worse, DEN), late, tracked),
        "late": values(odr, min(late + worse, DEN), tracked),
        "tracking": values(odr, late, max(tracked - worse, 0)),
    }[which]
    d1, d2 = evaluate(pack, [facts(**before), facts(**after)], history=history)
    assert worst(d2) >= worst(d1)


def schema_validator() -> jsonschema.Draft202012Validator:
    """The shipped decision schema, itself checked against the metaschema."""
    text = resources.files("sellerpolicy.schemas").joinpath("decision.schema.json").read_text()
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def varied_decisions() -> list[Decision]:
    """Decisions covering every outcome, shadow, exemption, distances and scores."""
    pack = amazon_like()
    shadow = amazon_like(Mode.SHADOW)
    bad = {
        **healthy_values(),
        **rate("order_defect_rate", 27, 2000),
        **rate("late_shipment_rate_10d", 20, 400),
        "valid_tracking_rate": None,
    }
    exemption = Exemption(
        "exm-1", "test-pack", "S2", ("odr",), "strike", "jane@example.com", AS_OF.date()
    )
    decisions = evaluate(
        pack,
        [facts("S1", **healthy_values()), facts("S2", **bad), facts("S3")],
        exemptions=[exemption],
        explain=ExplainLevel.FULL,
    )
    decisions += evaluate(shadow, [facts("S4", AS_OF + timedelta(hours=3), **bad)])
    decisions += evaluate(
        scored_pack(),
        [
            facts("S5", orders=100, **rate("dispute_rate", 0, 100), dsr_item_as_described=4.9),
            facts("S6", orders=3),
        ],
    )
    return decisions


def test_decisions_validate_against_the_schema() -> None:
    """Every decision's JSON (round-tripped through text) matches decision.schema.json."""
    validator = schema_validator()
    for decision in varied_decisions():
        record = json.loads(json.dumps(decision.to_json()))
        errors = sorted(validator.iter_errors(record), key=str)
        assert errors == [], (decision.seller_id, [e.message for e in errors])


def test_decision_json_has_the_data_contract_keys() -> None:
    """The JSON record is the data-contract shape plus decision_id, rules and scores."""
    record = varied_decisions()[1].to_json()
    assert list(record) == [
        "decision_id", "seller_id", "as_of", "pack", "pack_version", "pack_digest",
        "status", "actions", "facts", "rules", "scores",
    ]  # fmt: skip
    assert record["status"] == "healthy"  # the only at-risk action is exempted
    actions = record["actions"]
    assert isinstance(actions, list)
    assert [(a["action"], a["enforced"], a["exemption"]) for a in actions] == [
        ("warn", True, None),
        ("lose_buy_box", False, "exm-1"),
    ]
    keys = ("action", "rule", "severity", "value", "threshold")
    assert {k: actions[1][k] for k in keys} == {
        "action": "lose_buy_box",
        "rule": "odr",
        "severity": "high",
        "value": 27 / 2000,
        "threshold": 0.01,
    }


@pytest.mark.parametrize(
    ("path", "value"),
    [(("status",), "fine"), (("extra",), 1), (("actions", 0, "severity"), "huge")],
)
def test_schema_rejects_what_the_contract_forbids(path: tuple[object, ...], value: object) -> None:
    """The schema is closed: unknown keys and values outside the enums are errors."""
    record = json.loads(json.dumps(varied_decisions()[1].to_json()))
    target = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert list(schema_validator().iter_errors(record))


def test_shipped_pack_decisions_validate_against_the_schema() -> None:
    """Decisions for every fixture case of every shipped pack match decision.schema.json."""
    validator = schema_validator()
    checked = 0
    for pack_path in discover([]):
        pack = load_pack(pack_path)
        for fixture in fixture_files(pack_path):
            for case in load_packtest(fixture).cases:
                seller = SellerFacts(
                    case.seller_id, as_of_instant(case.as_of or DEFAULT_AS_OF), dict(case.facts)
                )
                decision = evaluate_one(pack, seller, explain=ExplainLevel.FULL)
                record = json.loads(json.dumps(decision.to_json()))
                assert not list(validator.iter_errors(record)), (pack.id, case.name)
                checked += 1
    assert checked > 100
