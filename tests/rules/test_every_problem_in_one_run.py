"""``validate`` reports every problem in one run: schema, calendar and semantic findings together.

Semantic checks run on the parts of a pack the schema accepted (a metric use,
an action, a rule's condition, actions, explanation and ladder, a score's
dimension or grade); a refused part is skipped without echoing its mistake
into other findings. Expected positions are computed from the text here,
not copied from the checker's output.
"""

from __future__ import annotations

from pathlib import Path

from rulekit import VALID, check_text, variant, write
from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import EXIT_FINDINGS, app
from sellerpolicy.rules import Level


def _at(text: str, line_fragment: str, value: str) -> tuple[int, int]:
    """1-based line and column of ``value`` on the one line holding ``line_fragment``."""
    lines = [n for n, line in enumerate(text.splitlines()) if line_fragment in line]
    assert len(lines) == 1, line_fragment
    line = text.splitlines()[lines[0]]
    return lines[0] + 1, line.index(value) + 1


FOUR_MISTAKES = variant("  title: Small pack\n", "  title: Small pack\n  owner: me\n")
FOUR_MISTAKES = variant("severity: high", "severity: hgh", FOUR_MISTAKES)
FOUR_MISTAKES = variant("{threshold:.0%}", "{treshold:.0%}", FOUR_MISTAKES)
FOUR_MISTAKES = variant("actions: [warn]", "actions: [warm]", FOUR_MISTAKES)


def test_four_mistakes_are_four_located_findings_in_one_run(tmp_path: Path) -> None:
    """An unknown key and a bad enum (schema), an undocumented template field in the
    same rule as the bad enum and an unknown action (semantic): all four, each at
    its line and column with its JSON path."""
    pack, found = check_text(tmp_path, FOUR_MISTAKES)
    assert pack is None
    text = FOUR_MISTAKES
    assert [(d.code, d.json_path, d.line, d.column) for d in found] == [
        ("schema_additionalProperties", "$.metadata.owner", *_at(text, "owner: me", "owner")),
        ("schema_enum", "$.spec.rules[0].severity", *_at(text, "severity: hgh", "hgh")),
        (
            "unknown_template_field",
            "$.spec.rules[0].explanation",
            *_at(text, "{treshold", "ODR"),
        ),
        ("unknown_action", "$.spec.rules[1].actions[0]", *_at(text, "[warm]", "warm")),
    ]
    assert all(d.level is Level.ERROR for d in found)
    assert found[3].hint == "did you mean 'warn'?"


def test_the_validate_command_prints_all_four(tmp_path: Path) -> None:
    """``sellerpolicy validate`` prints the four findings and one summary, exit 1."""
    path = write(tmp_path, FOUR_MISTAKES)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == EXIT_FINDINGS
    lines = result.output.strip().splitlines()
    assert [line.split(": ")[1] for line in lines[:-1]] == [
        "schema_additionalProperties",
        "schema_enum",
        "unknown_template_field",
        "unknown_action",
    ]
    assert all(line.startswith(f"{path}:") for line in lines[:-1])
    assert lines[-1] == "validated 1 document(s): 4 error(s), 0 warning(s); 1 document(s) invalid"


def test_yaml_schema_calendar_and_semantic_findings_together(tmp_path: Path) -> None:
    """A repeated key (YAML), a threshold of the wrong type (schema), 31 February
    (calendar) and a rate over 100% (semantic), in one run."""
    text = variant('  version: "1"\n', '  version: "1"\n  version: "2"\n')
    text = variant("gte: 1%}", "gte: [1%]}", text)
    text = variant("effective_from: 2026-01-01", "effective_from: 2026-02-31", text)
    text = variant("gte: 0.04}", "gte: 4}", text)
    _, found = check_text(tmp_path, text)
    assert [(d.code, d.line, d.column) for d in found] == [
        ("duplicate_key", *_at(text, 'version: "2"', "version")),
        ("invalid_date", *_at(text, "effective_from", "2026")),
        ("schema_anyOf", *_at(text, "gte: [1%]", "[1%]")),
        ("threshold_out_of_range", *_at(text, "gte: 4}", "4}")),
    ]


def test_a_refused_metric_use_is_still_declared(tmp_path: Path) -> None:
    """A use with a bad window is one finding: the rule reading it is not told the
    use does not exist, and no use is reported unused."""
    _, found = check_text(tmp_path, variant("window: 10d", "window: ten days"))
    assert [(d.code, d.json_path) for d in found] == [
        ("schema_pattern", "$.spec.metrics[1].window")
    ]


def test_a_refused_condition_still_reads_its_metric(tmp_path: Path) -> None:
    """A leaf with two operators is one schema finding; the use it reads is not
    reported unused, and the rule's other parts are still checked."""
    text = variant("gte: 1%}", "gte: 1%, lt: 2%}")
    _, found = check_text(tmp_path, text)
    assert [(d.code, d.json_path) for d in found] == [
        ("schema_maxProperties", "$.spec.rules[0].when")
    ]
    _, found = check_text(tmp_path, variant("[lose_buy_box]", "[lose_buybox]", text))
    assert [(d.code, d.json_path) for d in found] == [
        ("schema_maxProperties", "$.spec.rules[0].when"),
        ("unknown_action", "$.spec.rules[0].actions[0]"),
    ]


def test_a_refused_status_map_does_not_make_every_action_unmapped(tmp_path: Path) -> None:
    """``status`` written as a list is one type error, not an unmapped_action per action."""
    text = variant(
        "  status:\n    lose_buy_box: at_risk\n    warn: healthy\n",
        "  status: [lose_buy_box, warn]\n",
    )
    _, found = check_text(tmp_path, text)
    assert [(d.code, d.json_path) for d in found] == [("schema_type", "$.spec.status")]


def test_a_refused_pack_action_is_still_an_action(tmp_path: Path) -> None:
    """A pack-defined action without its description is one finding; rules and the
    status map naming it are not told it is unknown."""
    text = variant("actions: [warn]", "actions: [lose_campaigns]")
    text = variant(
        "    warn: healthy\n",
        "    lose_campaigns: at_risk\n  actions:\n    - {id: lose_campaigns}\n",
        text,
    )
    _, found = check_text(tmp_path, text)
    assert [(d.code, d.json_path) for d in found] == [("schema_required", "$.spec.actions[0]")]


def test_semantic_findings_in_several_rules_and_a_score_at_once(tmp_path: Path) -> None:
    """Independent semantic mistakes in different parts are all reported, beside a
    schema finding elsewhere."""
    text = variant("[lose_buy_box]", "[lose_buybox]")
    text = variant("gte: 0.04}", "gte: 150%}", text)
    text = variant("  title: Small pack\n", "  title: Small pack\n  owner: me\n", text)
    text += (
        "  scores:\n"
        "    - id: service\n"
        "      title: Service\n"
        "      dimensions:\n"
        "        - {id: odr, metric: order_defect_rat, weight: 1, bands: [{points: 1}]}\n"
        "      grades: [{grade: all, gte: 0}]\n"
    )
    _, found = check_text(tmp_path, text)
    assert [(d.code, d.json_path) for d in found] == [
        ("schema_additionalProperties", "$.metadata.owner"),
        ("unknown_action", "$.spec.rules[0].actions[0]"),
        ("threshold_out_of_range", "$.spec.rules[1].when.gte"),
        ("unknown_metric", "$.spec.scores[0].dimensions[0].metric"),
    ]


def test_a_document_that_is_no_mapping_has_only_its_schema_finding(tmp_path: Path) -> None:
    """Nothing to check semantically in a list, or in a pack whose spec is text."""
    _, found = check_text(tmp_path, "- a\n")
    assert [d.code for d in found] == ["schema_type"]
    spec = VALID.index("spec:")
    _, found = check_text(tmp_path, VALID[:spec] + "spec: nothing\n")
    assert [(d.code, d.json_path) for d in found] == [("schema_type", "$.spec")]
