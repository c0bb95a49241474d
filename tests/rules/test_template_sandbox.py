"""Explanation templates are a sandbox: attacks are refused where they are written.

A pack author writes templates; an API caller with read access sees what
they render to. Each attack below must be a located diagnostic at validation
and can never reach a rendered decision.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rulekit import check_text, error_codes, variant

from sellerpolicy.engine.evaluation.evaluate import evaluate_one
from sellerpolicy.engine.evaluation.explain import Human, render_template
from sellerpolicy.engine.metrics.facts import SellerFacts, as_of_instant
from sellerpolicy.rules import load_pack
from sellerpolicy.rules.template import (
    MAX_RENDERED,
    MAX_TEMPLATE,
    MAX_WIDTH,
    Template,
    parse_template,
    render,
)

GOOD = "ODR {value:.2%} is at or above {threshold:.0%}"

ATTACKS = {
    "globals_through_format": "{value.__format__.__globals__[os].environ}",
    "attribute_access": "{value.__class__}",
    "dunder_through_init": "{value.__init__.__globals__}",
    "indexing": "{seller_id[0]}",
    "conversion_repr": "{value!r}",
    "conversion_ascii": "{title!a}",
    "huge_width": "{value:>1000000000}",
    "huge_precision": "{value:.100000f}",
    "width_over_bound": f"{{value:>{MAX_WIDTH + 1}}}",
    "nested_field_in_spec": "{value:{den}}",
    "nested_width": "{value:.{num}f}",
    "positional_field": "{0}",
    "empty_field": "{}",
    "undocumented_name": "{__import__}",
    "integer_spec_on_a_fraction": "{value:d}",
    "unbalanced_brace": "ODR {value",
    "lone_closing_brace": "ODR } {value}",
}


@pytest.mark.parametrize("template", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_template_is_refused_by_the_parser(template: str) -> None:
    problems = parse_template(template)
    assert isinstance(problems, list)
    assert problems
    assert {p.code for p in problems} <= {"bad_template", "unknown_template_field"}


@pytest.mark.parametrize("template", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_template_is_a_located_pack_error(tmp_path: Path, template: str) -> None:
    """validate reports the attack at the explanation's line and column."""
    quoted = "'" + template.replace("'", "''") + "'"
    pack, found = check_text(tmp_path, variant(GOOD, quoted))
    assert pack is None
    codes = error_codes(found)
    assert codes
    assert set(codes) <= {"bad_template", "unknown_template_field"}
    first = next(d for d in found if d.code in codes)
    assert first.json_path == "$.spec.rules[0].explanation"
    assert (first.line, first.column) == (24, 20)


def test_overlong_template_is_refused() -> None:
    problems = parse_template("x" * (MAX_TEMPLATE + 1))
    assert isinstance(problems, list)
    assert "at most" in problems[0].message


def test_every_problem_is_reported_at_once() -> None:
    problems = parse_template("{value!r} {seller_id[0]} {limit} {value:>999}")
    assert isinstance(problems, list)
    assert len(problems) == 4


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("ODR {value:.2%} over {threshold:.0%}", "ODR 1.35% over 1%"),
        ("{value} of {den}", "1.35% of 2,000"),
        ("{den:d} orders, {num:,}", "2000 orders, 27"),
        ("{seller_id:>8}|{metric:.3}", "   S0001|ord"),
        ("{window_days:.1f} days {{literal}}", "60.0 days {literal}"),
        (f"{{value:>{MAX_WIDTH}}}", " " * (MAX_WIDTH - 6) + "0.0135"),
    ],
)
def test_documented_templates_render(template: str, expected: str) -> None:
    parsed = parse_template(template)
    assert isinstance(parsed, Template)
    assert render(parsed, _fields()) == expected


def test_a_value_that_refuses_its_spec_gives_no_text() -> None:
    """A missing number under a spec renders nothing; the caller writes its sentence."""
    parsed = parse_template("ODR {value:.2%}")
    assert isinstance(parsed, Template)
    assert render(parsed, {**_fields(), "value": Human(None, rate=True)}) is None


def test_rendered_text_is_bounded() -> None:
    parsed = parse_template("{value:>64}" * 80)
    assert isinstance(parsed, Template)
    rendered = render(parsed, _fields())
    assert rendered is not None
    assert len(rendered) == MAX_RENDERED
    assert rendered.endswith("…")


def test_attack_in_a_pack_that_skipped_validation_never_renders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A compiled pack whose template was changed after validation (no validator on
    the way) still cannot leak the environment: the decision carries the plain
    sentence."""
    monkeypatch.setenv("SELLERPOLICY_TEST_SECRET", "hunter2-secret")
    pack = load_pack("amazon")
    rule = pack.rules[0]
    attack = "{value.__format__.__globals__[os].environ}"
    pack = replace(pack, rules=(replace(rule, explanation=attack), *pack.rules[1:]))
    as_of = as_of_instant(date(2026, 11, 1))
    values: dict[str, float | int | None] = {"orders": 5000}
    for use in pack.metrics:
        values[use.name] = 0.5
        values[f"{use.name}__num"] = 2500
        values[f"{use.name}__den"] = 5000
    decision = evaluate_one(pack, SellerFacts("S1", as_of, values))
    text = decision.rule(rule.id).explanation or ""
    assert "hunter2-secret" not in text
    assert os.environ["PATH"] not in text
    assert "the rule fires" in text  # the plain sentence, not the template
    assert render_template(attack, _fields()) is None


FRAGMENTS = st.sampled_from(
    [
        "{", "}", "{{", "}}", ":", "!", "!r", "!s", ".", "[", "]", "0", "9", "999999999",
        ">", "<", "^", "=", ",", "_", "%", "f", "d", "e", "s", "c", "x", "z", "#", "+", " ",
        "value", "threshold", "num", "den", "seller_id", "title", "window_days", "orders",
        "__class__", "__globals__", "__format__", "os", "environ",
    ]
)  # fmt: skip
TEMPLATES = st.one_of(st.text(max_size=80), st.lists(FRAGMENTS, max_size=30).map("".join))


@settings(max_examples=600, deadline=None)
@given(TEMPLATES)
def test_any_template_is_a_diagnostic_or_a_bounded_text(template: str) -> None:
    """Arbitrary text: the parser never raises; what parses renders to None (a value
    refused its spec) or to a bounded string that holds no object's repr."""
    parsed = parse_template(template)
    if isinstance(parsed, list):
        assert parsed
        assert all(p.code in {"bad_template", "unknown_template_field"} for p in parsed)
        return
    for fields in (_fields(), {**_fields(), "value": Human(None, rate=True), "num": Human(None)}):
        rendered = render(parsed, fields)
        assert rendered is None or len(rendered) <= MAX_RENDERED
        if rendered is not None:
            for leak in (" object at 0x", "<class ", "<function ", "<bound method ", "environ"):
                assert leak not in rendered or leak in template


def _fields() -> dict[str, object]:
    return {
        "value": Human(0.0135, rate=True),
        "threshold": Human(0.01, rate=True),
        "num": Human(27),
        "den": Human(2000),
        "metric": "order_defect_rate",
        "window_start": "2026-08-19",
        "window_end": "2026-10-17",
        "window_days": Human(60),
        "rule": "odr-over-target",
        "title": "ODR at or above 1%",
        "seller_id": "S0001",
        "as_of": "2026-11-01",
        "orders": Human(2000),
    }
