"""The durable-rules compiler: golden output, negation, numbers, groups, errors."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from durable_helpers import pack, rule

from sellerpolicy.rules.compile_durable import (
    CATCH_ALL,
    MAX_GROUP_COST,
    MAX_KEYS_PER_GROUP,
    compile_durable,
    durable_number,
    encode,
)
from sellerpolicy.rules.diagnostics import PackError
from sellerpolicy.rules.model import AllOf, AnyOf, Compare, CompiledPack, Field, NotOf, Op

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("SELLERPOLICY_UPDATE_GOLDEN") == "1"


def small_pack() -> CompiledPack:
    """Every operator, both fields, nested all/any/not and a tiny threshold."""
    return pack(
        rule("odr-high", Compare("order_defect_rate", Op.GTE, 0.01)),
        rule(
            "late-or-cancel",
            AnyOf(
                (
                    Compare("late_shipment_rate", Op.GT, 0.04),
                    Compare("cancel_rate", Op.GT, 0.025),
                    Compare("order_defect_rate", Op.EQ, 1e-05),
                )
            ),
        ),
        rule(
            "not-healthy",
            NotOf(
                AllOf(
                    (
                        Compare("late_shipment_rate", Op.LT, 0.04),
                        AnyOf(
                            (
                                Compare("cancel_rate", Op.LTE, 0.025),
                                NotOf(Compare("order_defect_rate", Op.EQ, 0.0)),
                            )
                        ),
                    )
                )
            ),
        ),
        rule("claims-count", Compare("claim_rate", Op.GTE, 3, Field.COUNT)),
    )


def test_golden_small_pack() -> None:
    """The compiled ruleset of a small pack is pinned (SELLERPOLICY_UPDATE_GOLDEN=1 refreshes)."""
    path = GOLDEN / "small_pack.json"
    text = json.dumps(compile_durable(small_pack()).describe(), indent=2) + "\n"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_golden_wire_text() -> None:
    """The text sent to durable is pinned too, bare exponents written as ``1.0e-05``."""
    path = GOLDEN / "small_pack.durable.json"
    text = compile_durable(small_pack()).to_json() + "\n"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
    assert "1.0e-05" in text
    assert json.loads(text) == compile_durable(small_pack()).rules


def test_not_is_pushed_to_the_leaves() -> None:
    """``not (a < t and (b <= u or not c == v))`` is ``a >= t or (b > u and c == v)``."""
    rules = compile_durable(small_pack()).rules
    condition = rules["not-healthy"]["all"][0]["m"]["$and"][-1]
    assert condition == {
        "$or": [
            {"$gte": {"p1": 0.04}},
            {"$and": [{"$gt": {"p2": 0.025}}, {"p0": 0.0}]},
        ]
    }


@pytest.mark.parametrize(
    ("op", "expected"),
    [(Op.GT, "$lte"), (Op.GTE, "$lt"), (Op.LT, "$gte"), (Op.LTE, "$gt"), (Op.EQ, "$neq")],
)
def test_negated_operators(op: Op, expected: str) -> None:
    """Each operator under ``not`` flips to its complement on non-null values."""
    rules = compile_durable(pack(rule("r", NotOf(Compare("m", op, 0.5))))).rules
    assert rules["r"]["all"][0]["m"]["$and"][-1] == {expected: {"p0": 0.5}}


def test_every_rule_requires_its_properties_and_group() -> None:
    """A rule matches only facts of its group that carry every key it reads."""
    rules = compile_durable(small_pack()).rules
    guards = rules["late-or-cancel"]["all"][0]["m"]["$and"][:-1]
    assert guards == [{"g": 0}, {"$ex": {"p1": 1}}, {"$ex": {"p2": 1}}, {"$ex": {"p0": 1}}]


def test_catch_all_rule_matches_every_fact() -> None:
    """A catch-all rule exists so that no fact is ever "not handled"."""
    assert compile_durable(small_pack()).rules[CATCH_ALL] == {"all": [{"m": {"$ex": {"g": 1}}}]}


def test_fresh_dict_each_call() -> None:
    """Two compilations are equal but share no mutable dict, and the pack is untouched."""
    source = small_pack()
    first, second = compile_durable(source), compile_durable(source)
    assert first.rules == second.rules
    assert first.rules is not second.rules
    first.rules["odr-high"]["all"].clear()
    assert second.rules["odr-high"]["all"]
    assert compile_durable(source).rules == second.rules
    assert source == small_pack()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e-05, "1.0e-05"),
        (5e-324, "5.0e-324"),
        (1e16, "1.0e+16"),
        (1.5e-07, "1.5e-07"),
        (0.1, "0.1"),
        (-0.0, "-0.0"),
        (3.0, "3.0"),
    ],
)
def test_durable_number(value: float, text: str) -> None:
    """Numbers keep Python's shortest round-trip form, with a point before any exponent."""
    assert durable_number(value) == text
    assert float(text) == value


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_durable_number_rejects_non_finite(value: float) -> None:
    """Infinity and NaN have no JSON form that durable reads."""
    with pytest.raises(ValueError, match="cannot represent"):
        durable_number(value)


def test_encode_rejects_unknown_types() -> None:
    """Only JSON values are encoded."""
    with pytest.raises(TypeError, match="set"):
        encode({"a": {1, 2}})


def test_groups_split_past_one_fact() -> None:
    """300 rules on 300 metrics are packed into groups within both of durable's budgets."""
    rules = [rule(f"r{i}", Compare(f"m{i}", Op.GT, 0.5)) for i in range(300)]
    compiled = compile_durable(pack(*rules))
    per_group = MAX_GROUP_COST // 3  # one $ex and one comparison (counted twice) per rule
    assert [len(g.keys) for g in compiled.groups] == [per_group] * 18 + [300 - 18 * per_group]
    assert all(len(g.keys) <= MAX_KEYS_PER_GROUP for g in compiled.groups)
    assert compiled.rules["r299"]["all"][0]["m"]["$and"][0] == {"g": 18}
    assert {k.fact for g in compiled.groups for k in g.keys} == {f"m{i}" for i in range(300)}


def test_largest_rule_fits_alone() -> None:
    """A rule just within durable's per-rule limits compiles into a group of its own."""
    biggest = AnyOf(tuple(Compare("m", Op.GT, i / 100) for i in range(23)))
    compiled = compile_durable(pack(rule("a", biggest), rule("b", biggest)))
    assert len(compiled.groups) == 2


@pytest.mark.parametrize(
    ("leaves", "metrics"),
    [(24, 1), (26, 26), (300, 300)],
    ids=["alpha-cost", "expressions-and-cost", "properties"],
)
def test_rule_too_large_for_durable_is_rejected(leaves: int, metrics: int) -> None:
    """A rule over durable's per-rule limits is a clear PackError naming the rule."""
    wide = AnyOf(tuple(Compare(f"m{i % metrics}", Op.GT, i / 1000) for i in range(leaves)))
    with pytest.raises(PackError) as caught:
        compile_durable(pack(rule("fine", Compare("m0", Op.GT, 0.5)), rule("too-wide", wide)))
    (problem,) = caught.value.diagnostics
    assert problem.code == "durable_rule_too_large"
    assert problem.json_path == "$.spec.rules[1].when"
    assert f"reads {metrics} facts" in problem.message


def test_bad_rules_report_every_problem() -> None:
    """Bad ids, duplicates, empty groups and non-finite thresholds are all reported at once."""
    bad = pack(
        rule("Bad_Id", Compare("m", Op.GT, 0.5)),
        rule("twice", Compare("m", Op.GT, 0.5)),
        rule("twice", AllOf(())),
        rule("nan", Compare("m", Op.GT, math.nan)),
    )
    with pytest.raises(PackError) as caught:
        compile_durable(bad)
    codes = sorted(d.code for d in caught.value.diagnostics)
    assert codes == [
        "durable_bad_rule_id",
        "durable_bad_threshold",
        "durable_duplicate_rule_id",
        "durable_empty_group",
    ]
