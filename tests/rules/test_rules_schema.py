"""Stage 2: the JSON Schemas are closed and every violation is located."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from rulekit import check_text, variant

from sellerpolicy.rules.schema import SCHEMA_FILES, load_schema


def _object_schemas(schema: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        if "properties" in schema:
            yield path, schema
        for key, value in schema.items():
            yield from _object_schemas(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from _object_schemas(value, f"{path}/{i}")


@pytest.mark.parametrize("file_name", sorted(SCHEMA_FILES.values()))
def test_schemas_are_valid_and_closed(file_name: str) -> None:
    """Each schema is valid draft 2020-12 and closes every object.

    None has an ``$id``: its references to the others resolve against its own
    location (tests/rules/test_schema_tools.py).
    """
    schema = load_schema(file_name)
    Draft202012Validator.check_schema(schema)
    assert "$id" not in schema
    objects = list(_object_schemas(schema))
    assert objects
    for where, obj in objects:
        assert obj.get("additionalProperties") is False, where


def test_every_error_is_reported_with_path_and_position(tmp_path: Path) -> None:
    """Three independent mistakes give three located diagnostics, sorted."""
    text = variant("severity: high", "severity: hgh")
    text = variant("window: 10d", "window: ten days", text)
    text = variant("  title: Small pack\n", "  title: Small pack\n  owner: me\n", text)
    pack, found = check_text(tmp_path, text)
    assert pack is None
    got = [(d.code, d.json_path, d.line, d.column) for d in found]
    assert got == [
        ("schema_additionalProperties", "$.metadata.owner", 6, 3),
        ("schema_pattern", "$.spec.metrics[1].window", 18, 15),
        ("schema_enum", "$.spec.rules[0].severity", 24, 17),
    ]
    assert found[2].hint == "did you mean 'high'?"
    assert (
        found[0].render().startswith(f"{tmp_path / 'pack.yaml'}:6:3: schema_additionalProperties")
    )


def test_unknown_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    """A misspelt key is reported at the key, with the closest allowed key."""
    _, found = check_text(tmp_path, variant("      window: 60d\n", "      windw: 60d\n"))
    unknown = [d for d in found if d.code == "schema_additionalProperties"]
    assert [(d.json_path, d.line, d.column, d.hint) for d in unknown] == [
        ("$.spec.metrics[0].windw", 14, 7, "did you mean 'window'?")
    ]


@pytest.mark.parametrize(
    ("old", "new", "code", "path"),
    [
        ("gte: 1%}", "gte: 1 %}", "schema_anyOf", "$.spec.rules[0].when.gte"),
        ("gte: 1%}", "gte: '0.01'}", "schema_anyOf", "$.spec.rules[0].when.gte"),
        ("gte: 1%}", "gte: true}", "schema_anyOf", "$.spec.rules[0].when.gte"),
        ('version: "1"', "version: 1", "schema_type", "$.metadata.version"),
        ("id: odr-over-target", "id: ODR_over", "schema_pattern", "$.spec.rules[0].id"),
        ("kind: PolicyPack", "kind: Policypack", "schema_const", "$.kind"),
        (
            "lose_buy_box: at_risk",
            "lose_buy_box: risky",
            "schema_enum",
            "$.spec.status.lose_buy_box",
        ),
        ("actions: [warn]", "actions: []", "schema_minItems", "$.spec.rules[1].actions"),
        ("gte: 1%}", "gte: 1%, all: []}", "schema_maxProperties", "$.spec.rules[0].when"),
        (
            "{metric: order_defect_rate, gte: 1%}",
            "{gte: 1%}",
            "schema_anyOf",
            "$.spec.rules[0].when",
        ),
    ],
)
def test_no_coercion_and_closed_grammar(
    tmp_path: Path, old: str, new: str, code: str, path: str
) -> None:
    """Values of the wrong type or shape are errors, never coerced."""
    _, found = check_text(tmp_path, variant(old, new))
    assert (code, path) in [(d.code, d.json_path) for d in found]


def test_percent_and_fraction_thresholds_both_pass_the_schema(tmp_path: Path) -> None:
    """'0.5%', '1%' and 0.01 are all thresholds."""
    for threshold in ("0.5%", "1%", "0.01", "1"):
        pack, found = check_text(tmp_path, variant("gte: 1%}", f"gte: {threshold}}}"))
        assert pack is not None, [d.render() for d in found]


def test_bad_key_in_a_map_is_located_at_the_key(tmp_path: Path) -> None:
    """A status entry whose key is not an action name is reported at that key."""
    _, found = check_text(tmp_path, variant("    warn: healthy\n", "    Warn Me: healthy\n"))
    names = [d for d in found if d.code == "schema_pattern"]
    assert [(d.json_path, d.line, d.column) for d in names] == [("$.spec.status['Warn Me']", 33, 5)]


def test_whole_document_of_wrong_type(tmp_path: Path) -> None:
    """A YAML list is not a pack: one located type error."""
    _, found = check_text(tmp_path, "- a\n- b\n")
    assert [(d.code, d.json_path, d.line, d.column) for d in found] == [("schema_type", "$", 1, 1)]


def test_one_problem_is_reported_once(tmp_path: Path) -> None:
    """A leaf without an operator fails two keywords of one rule but is one finding."""
    text = variant("{metric: order_defect_rate, gte: 1%}", "{metric: order_defect_rate}")
    _, found = check_text(tmp_path, text)
    assert [(d.code, d.json_path) for d in found] == [("schema_anyOf", "$.spec.rules[0].when")]
    assert "exactly one operator" in found[0].message
