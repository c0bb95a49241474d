"""Stage 3: semantic checks, each with its own code, location and hint."""

from __future__ import annotations

from pathlib import Path

import pytest
from rulekit import VALID, check_text, error_codes, variant

from sellerpolicy.rules import Level

ODR_LEAF = "{metric: order_defect_rate, gte: 1%}"
SCORE = """\
  scores:
    - id: service-score
      title: Service score
      dimensions:
        - id: odr
          metric: order_defect_rate
          weight: 60
          bands: [{lt: 1%, points: 1}, {gte: 1%, points: 0}]
        - id: late
          metric: late_shipment_rate_10d
          weight: 40
          bands: [{lt: 4%, points: 1}, {gte: 4%, points: 0}]
      grades:
        - {grade: good, gte: 50}
        - {grade: fail, lt: 50, actions: [warn]}
"""


def _with_score(old: str = "", new: str = "") -> str:
    score = variant(old, new, SCORE) if old else SCORE
    return VALID + score


def test_the_base_pack_is_clean(tmp_path: Path) -> None:
    """The pack the other tests break has no findings at all."""
    pack, found = check_text(tmp_path, VALID)
    assert pack is not None
    assert found == []
    pack, found = check_text(tmp_path, _with_score())
    assert pack is not None
    assert found == []


CASES = [
    # each case: name, fragment, replacement, code, json path
    (
        "rule leaf names an undeclared use",
        ODR_LEAF,
        "{metric: order_defect_rat, gte: 1%}",
        "unknown_metric",
        "$.spec.rules[0].when.metric",
    ),
    (
        "use names a non-catalog metric",
        "metric: late_shipment_rate\n",
        "metric: late_shipments\n",
        "unknown_metric",
        "$.spec.metrics[1].metric",
    ),
    ("unknown action", "[warn]", "[warm]", "unknown_action", "$.spec.rules[1].actions[0]"),
    (
        "status key that is no action",
        "warn: healthy",
        "warn: healthy\n    alert: healthy",
        "unknown_action",
        "$.spec.status.alert",
    ),
    ("unmapped action", "[warn]", "[suspend]", "unmapped_action", "$.spec.rules[1].actions[0]"),
    (
        "duplicate rule id",
        "id: late-shipments",
        "id: odr-over-target",
        "duplicate_rule_id",
        "$.spec.rules[1].id",
    ),
    (
        "duplicate metric name",
        "      window: 10d\n",
        "      window: 10d\n    - {name: late_shipment_rate_10d, metric: late_shipment_rate, "
        "window: 30d}\n",
        "duplicate_metric_name",
        "$.spec.metrics[2].name",
    ),
    (
        "rate over 100%",
        "gte: 1%}",
        "gte: 150%}",
        "threshold_out_of_range",
        "$.spec.rules[0].when.gte",
    ),
    ("rate over 1", "gte: 0.04}", "gte: 4}", "threshold_out_of_range", "$.spec.rules[1].when.gte"),
    (
        "negative rate",
        "gte: 1%}",
        "gte: -1%}",
        "threshold_out_of_range",
        "$.spec.rules[0].when.gte",
    ),
    (
        "count on a count metric",
        ODR_LEAF,
        "{count: orders, gte: 3}",
        "count_on_non_rate",
        "$.spec.rules[0].when.count",
    ),
    (
        "undocumented template field",
        "{threshold:.0%}",
        "{treshold:.0%}",
        "unknown_template_field",
        "$.spec.rules[0].explanation",
    ),
    (
        "positional template field",
        "{threshold:.0%}",
        "{}",
        "unknown_template_field",
        "$.spec.rules[0].explanation",
    ),
    (
        "unbalanced brace",
        "{threshold:.0%}",
        "{threshold",
        "bad_template",
        "$.spec.rules[0].explanation",
    ),
    ("zero window", "window: 60d", "window: 0h", "non_positive_window", "$.spec.metrics[0].window"),
    (
        "knob not listed for the metric",
        "      window: 60d\n",
        "      window: 60d\n      knobs: {response_limit: 24h}\n",
        "knob_not_applicable",
        "$.spec.metrics[0].knobs.response_limit",
    ),
    (
        "rate lt 0",
        ODR_LEAF,
        "{metric: order_defect_rate, lt: 0}",
        "impossible_condition",
        "$.spec.rules[0].when",
    ),
    (
        "rate gt 1",
        ODR_LEAF,
        "{metric: order_defect_rate, gt: 1}",
        "impossible_condition",
        "$.spec.rules[0].when",
    ),
    (
        "count lt 0",
        ODR_LEAF,
        "{count: order_defect_rate, lt: 0}",
        "impossible_condition",
        "$.spec.rules[0].when",
    ),
    (
        "all of gt 5% and lt 1%",
        ODR_LEAF,
        "{all: [{metric: order_defect_rate, gt: 5%}, {metric: order_defect_rate, lt: 0.01}]}",
        "impossible_condition",
        "$.spec.rules[0].when",
    ),
    (
        "all of gte 2% and lte 2% is possible but lt 2% is not",
        ODR_LEAF,
        "{all: [{metric: order_defect_rate, gte: 2%}, {metric: order_defect_rate, lt: 2%}]}",
        "impossible_condition",
        "$.spec.rules[0].when",
    ),
    (
        "ladder steps not increasing",
        "      severity: high\n",
        "      severity: high\n      escalation:\n        lapse: 180d\n        steps:\n"
        "          - {after: 3, actions: [warn]}\n"
        "          - {after: 2, actions: [lose_buy_box]}\n",
        "unreachable_ladder_step",
        "$.spec.rules[0].escalation.steps[1].after",
    ),
    (
        "effective_until before effective_from",
        "  effective_from: 2026-01-01\n",
        "  effective_from: 2026-01-01\n  effective_until: 2026-01-01\n",
        "effective_dates",
        "$.metadata.effective_until",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "code", "path"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_semantic_error(tmp_path: Path, old: str, new: str, code: str, path: str) -> None:
    """Each broken fragment gives exactly its own error code at its own path."""
    pack, found = check_text(tmp_path, variant(old, new))
    assert pack is None
    errors = [(d.code, d.json_path) for d in found if d.level is Level.ERROR]
    assert errors == [(code, path)]


def test_unknown_metric_suggests_the_declared_name(tmp_path: Path) -> None:
    """A misspelt use in a rule suggests the closest declared use."""
    text = variant("{metric: late_shipment_rate_10d,", "{metric: late_shipment_rat_10d,")
    _, found = check_text(tmp_path, text)
    assert [(d.code, d.hint) for d in found if d.level is Level.ERROR] == [
        ("unknown_metric", "did you mean 'late_shipment_rate_10d'?")
    ]


def test_unknown_catalog_metric_suggests_the_catalog_name(tmp_path: Path) -> None:
    """A misspelt catalog metric suggests the catalog spelling."""
    text = variant("metric: late_shipment_rate\n", "metric: late_shipmnt_rate\n")
    _, found = check_text(tmp_path, text)
    assert [(d.code, d.hint) for d in found] == [
        ("unknown_metric", "did you mean 'late_shipment_rate'?")
    ]


def test_unknown_action_suggests_the_vocabulary(tmp_path: Path) -> None:
    """A misspelt action suggests the closest known action."""
    _, found = check_text(tmp_path, variant("[lose_buy_box]", "[lose_buybox]"))
    assert [d.hint for d in found] == ["did you mean 'lose_buy_box'?"]


def test_pack_defined_actions_join_the_vocabulary(tmp_path: Path) -> None:
    """An action declared under spec.actions may be used once it has a status."""
    text = variant("[warn]", "[lose_campaigns]")
    text = variant("    warn: healthy\n", "    lose_campaigns: at_risk\n", text)
    text += "  actions:\n    - {id: lose_campaigns, description: No campaigns}\n"
    pack, found = check_text(tmp_path, text)
    assert found == []
    assert pack is not None


def test_redefining_a_vocabulary_action_is_an_error(tmp_path: Path) -> None:
    """spec.actions may only add names."""
    text = VALID + "  actions:\n    - {id: warn, description: again}\n"
    _, found = check_text(tmp_path, text)
    assert error_codes(found) == ["duplicate_action"]


def test_count_on_an_average_is_an_error(tmp_path: Path) -> None:
    """count: reads a numerator, which only rates have."""
    text = variant(
        "      window: 10d\n", "      window: 10d\n    - {metric: dsr_communication, window: 90d}\n"
    )
    text = variant(
        "{metric: late_shipment_rate_10d, gte: 0.04}", "{count: dsr_communication, gt: 2}", text
    )
    _, found = check_text(tmp_path, text)
    assert error_codes(found) == ["count_on_non_rate"]


@pytest.mark.parametrize(
    ("leaf", "code"),
    [
        ("{metric: dsr_communication, lt: 6}", "threshold_out_of_range"),
        ("{metric: dsr_communication, lt: 0.5}", "threshold_out_of_range"),
        ("{metric: dsr_communication, lt: 50%}", "percent_not_rate"),
        ("{metric: dsr_communication, lt: 1}", "impossible_condition"),
        ("{metric: dsr_communication, lt: 4.5}", None),
    ],
)
def test_average_thresholds_lie_in_one_to_five(tmp_path: Path, leaf: str, code: str | None) -> None:
    """Average ratings take thresholds in 1..5, never percents."""
    text = variant(
        "      window: 10d\n", "      window: 10d\n    - {metric: dsr_communication, window: 90d}\n"
    )
    text = variant("{metric: late_shipment_rate_10d, gte: 0.04}", leaf, text)
    _, found = check_text(tmp_path, text)
    assert error_codes(found) == ([code] if code else [])


def test_possible_conditions_are_not_flagged(tmp_path: Path) -> None:
    """Ranges that leave room, any[] with one live branch and not[] pass."""
    for leaf in (
        "{all: [{metric: order_defect_rate, gte: 1%}, {metric: order_defect_rate, lte: 1%}]}",
        "{all: [{metric: order_defect_rate, gt: 1%}, {count: order_defect_rate, gte: 3}]}",
        "{not: {metric: order_defect_rate, lt: 1%}}",
        "{metric: order_defect_rate, eq: 1}",
    ):
        pack, found = check_text(tmp_path, variant(ODR_LEAF, leaf))
        assert found == [], leaf
        assert pack is not None


def test_impossible_leaf_inside_any_is_reported_once(tmp_path: Path) -> None:
    """A dead branch of any[] is reported at that branch, not at the any."""
    leaf = "{any: [{metric: order_defect_rate, gte: 1%}, {metric: order_defect_rate, gt: 1}]}"
    _, found = check_text(tmp_path, variant(ODR_LEAF, leaf))
    assert [(d.code, d.json_path) for d in found] == [
        ("impossible_condition", "$.spec.rules[0].when.any[1]")
    ]


def test_pack_wide_knob_applies_only_where_listed(tmp_path: Path) -> None:
    """A pack-wide knob is fine when some declared metric lists it."""
    text = variant("spec:\n", "spec:\n  knobs: {claim_statuses: [granted]}\n")
    pack, found = check_text(tmp_path, text)
    assert found == []
    assert pack is not None


def test_pack_wide_knob_that_applies_nowhere_is_a_warning(tmp_path: Path) -> None:
    """A pack-wide knob no declared metric lists is flagged, but not as an error."""
    text = variant("spec:\n", "spec:\n  knobs: {dispute_kinds: [other]}\n")
    pack, found = check_text(tmp_path, text)
    assert pack is not None
    assert [(d.code, d.level) for d in found] == [("unused_knob", Level.WARNING)]


def test_unused_metric_is_a_warning(tmp_path: Path) -> None:
    """A declared use nothing reads warns, and the pack still compiles."""
    text = variant(
        "      window: 10d\n", "      window: 10d\n    - {metric: refund_rate, window: 30d}\n"
    )
    pack, found = check_text(tmp_path, text)
    assert pack is not None
    assert [(d.code, d.level, d.json_path) for d in found] == [
        ("unused_metric", Level.WARNING, "$.spec.metrics[2]")
    ]


def test_bad_format_spec_is_reported(tmp_path: Path) -> None:
    """A format spec the field's value cannot take is caught at validation time."""
    _, found = check_text(tmp_path, variant("{value:.2%}", "{value:.2q}"))
    assert error_codes(found) == ["bad_template"]


@pytest.mark.parametrize(
    ("old", "new", "code", "path"),
    [
        (
            "{grade: fail, lt: 50, actions: [warn]}",
            "{grade: fail, lt: 60, actions: [warn]}",
            "grade_bands_overlap",
            "$.spec.scores[0].grades[0]",
        ),
        (
            "{grade: fail, lt: 50, actions: [warn]}",
            "{grade: fail, lt: 40, actions: [warn]}",
            "grade_bands_gap",
            "$.spec.scores[0].grades[0]",
        ),
        (
            "{grade: good, gte: 50}",
            "{grade: good, gte: 50, lt: 100}",
            "grade_bands_gap",
            "$.spec.scores[0].grades[0]",
        ),
        (
            "[{lt: 1%, points: 1}, {gte: 1%, points: 0}]",
            "[{lt: 2%, points: 1}, {gte: 1%, points: 0}]",
            "score_bands_overlap",
            "$.spec.scores[0].dimensions[0].bands[1]",
        ),
        (
            "[{lt: 1%, points: 1}, {gte: 1%, points: 0}]",
            "[{lt: 1%, points: 1}, {gte: 2%, points: 0}]",
            "score_bands_gap",
            "$.spec.scores[0].dimensions[0].bands[1]",
        ),
        (
            "[{lt: 1%, points: 1}, {gte: 1%, points: 0}]",
            "[{lt: 1%, points: 1}, {gte: 1%, lt: 1, points: 0}]",
            "score_bands_gap",
            "$.spec.scores[0].dimensions[0].bands[1]",
        ),
        (
            "[{lt: 1%, points: 1}, {gte: 1%, points: 0}]",
            "[{lt: 1%, points: 1}, {gte: 1%, points: 0}, {gte: 3%, lt: 2%, points: 0}]",
            "empty_band",
            "$.spec.scores[0].dimensions[0].bands[2]",
        ),
        (
            "metric: late_shipment_rate_10d\n          weight",
            "metric: late_shipments\n          weight",
            "unknown_metric",
            "$.spec.scores[0].dimensions[1].metric",
        ),
        (
            "- id: late\n",
            "- id: odr\n",
            "duplicate_dimension_id",
            "$.spec.scores[0].dimensions[1].id",
        ),
        ("{grade: fail,", "{grade: good,", "duplicate_grade", "$.spec.scores[0].grades[1].grade"),
        (
            "actions: [warn]}",
            "actions: [warnn]}",
            "unknown_action",
            "$.spec.scores[0].grades[1].actions[0]",
        ),
    ],
)
def test_score_checks(tmp_path: Path, old: str, new: str, code: str, path: str) -> None:
    """Dimension bands and grades must tile their range; names must be known."""
    pack, found = check_text(tmp_path, _with_score(old, new))
    assert pack is None
    assert [(d.code, d.json_path) for d in found if d.level is Level.ERROR] == [(code, path)]


def test_grade_above_the_score_range(tmp_path: Path) -> None:
    """A grade starting above the sum of the weights can never be reached; an upper
    bound past the top (lt 150 of 100 points) is harmless."""
    text = _with_score("{grade: good, gte: 50}", "{grade: good, gte: 150}")
    text = variant("{grade: fail, lt: 50,", "{grade: fail, lt: 150,", text)
    _, found = check_text(tmp_path, text)
    assert [(d.code, d.json_path) for d in found] == [
        ("threshold_out_of_range", "$.spec.scores[0].grades[0].gte")
    ]


def test_pack_without_rules_or_scores_is_an_error(tmp_path: Path) -> None:
    """A pack must judge something."""
    start = VALID.index("  rules:\n")
    end = VALID.index("  status:\n")
    _, found = check_text(tmp_path, VALID[:start] + VALID[end:])
    assert error_codes(found) == ["empty_pack"]


def test_findings_are_collected_and_sorted(tmp_path: Path) -> None:
    """Several semantic problems come back together, in file order."""
    text = variant("[warn]", "[warm]")
    text = variant("gte: 1%}", "gte: 150%}", text)
    text = variant("id: late-shipments", "id: odr-over-target", text)
    _, found = check_text(tmp_path, text)
    assert [d.code for d in found] == [
        "threshold_out_of_range",
        "duplicate_rule_id",
        "unknown_action",
    ]
    assert found == sorted(found)


def test_percent_thresholds_are_fine_on_growth(tmp_path: Path) -> None:
    """Sales growth is a fraction too, so '10%' is a sensible threshold for it."""
    text = variant(
        "      window: 10d\n", "      window: 10d\n    - {metric: sales_growth_rate, window: 30d}\n"
    )
    text = variant(
        "{metric: late_shipment_rate_10d, gte: 0.04}", "{metric: sales_growth_rate, lt: -10%}", text
    )
    pack, found = check_text(tmp_path, text)
    assert [d.code for d in found] == ["unused_metric"]
    assert pack is not None
