"""Rule outcomes, back-end calls, status combination, shadow mode and exemptions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from evalkit import AS_OF, amazon_like, day, facts, healthy_values, rate

from sellerpolicy.engine.evaluation.backends.python import PythonBackend
from sellerpolicy.engine.evaluation.decision import Outcome
from sellerpolicy.engine.evaluation.evaluate import evaluate, evaluate_one
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.rules.diagnostics import PackError
from sellerpolicy.rules.model import CompiledPack, Exemption, Mode, Severity, Status


class RecordingBackend:
    """A back end that answers like the Python one and records what it was asked."""

    name = "recording"

    def __init__(self, claim_all: bool = False) -> None:
        self.calls: list[tuple[tuple[str, ...], int]] = []
        self.claim_all = claim_all

    def match(self, pack: CompiledPack, facts: Sequence[SellerFacts]) -> list[frozenset[str]]:
        self.calls.append((tuple(r.id for r in pack.rules), len(facts)))
        if self.claim_all:
            return [frozenset(r.id for r in pack.rules) for _ in facts]
        return PythonBackend().match(pack, facts)


def test_healthy_seller_has_no_actions() -> None:
    """A seller breaking no rule is healthy, with every rule not matched and no actions."""
    decision = evaluate_one(amazon_like(), facts(**healthy_values()))
    assert decision.status is Status.HEALTHY
    assert decision.actions == ()
    assert {r.outcome for r in decision.rules} == {Outcome.NOT_MATCHED}


def test_rate_exactly_at_gte_threshold_fires() -> None:
    """ODR exactly 1% (20 of 2,000) fires a ``gte 1%`` rule, and 19 of 2,000 does not."""
    pack = amazon_like()
    at = evaluate_one(pack, facts(**{**healthy_values(), **rate("order_defect_rate", 20, 2000)}))
    below = evaluate_one(pack, facts(**{**healthy_values(), **rate("order_defect_rate", 19, 2000)}))
    assert at.rule("odr").outcome is Outcome.MATCHED
    assert [a.action for a in at.actions] == ["lose_buy_box"]
    assert at.status is Status.AT_RISK
    assert below.rule("odr").outcome is Outcome.NOT_MATCHED


@pytest.mark.parametrize("present", [True, False])
def test_null_or_absent_metric_is_not_assessed(present: bool) -> None:
    """A rule reading a null or absent metric is not assessed and says which metric."""
    values = healthy_values()
    for key in ("late_shipment_rate_10d", "late_shipment_rate_10d__num"):
        if present:
            values[key] = None
        else:
            del values[key]
    result = evaluate_one(amazon_like(), facts(**values)).rule("late")
    assert result.outcome is Outcome.NOT_ASSESSED
    assert result.reason == "metric late_shipment_rate_10d is null: not enough data"


def test_min_orders_not_met_is_not_assessed_even_when_rate_is_bad() -> None:
    """Below ``min_orders`` a 50% ODR is not assessed, with the order counts in the reason."""
    values = {**healthy_values(), **rate("order_defect_rate", 6, 12)}
    result = evaluate_one(amazon_like(), facts(**values)).rule("odr")
    assert result.outcome is Outcome.NOT_ASSESSED
    assert result.reason == "only 12 orders, rule needs 100"


def test_min_orders_with_null_denominator_is_not_assessed() -> None:
    """A rule with ``min_orders`` whose denominator fact is null cannot be assessed."""
    values = {**healthy_values(), "order_defect_rate__den": None}
    result = evaluate_one(amazon_like(), facts(**values)).rule("odr")
    assert result.outcome is Outcome.NOT_ASSESSED
    assert result.reason is not None
    assert "order_defect_rate__den is null" in result.reason


def test_count_leaf_reads_the_numerator() -> None:
    """A ``count`` leaf reads ``<name>__num``; a null count makes the rule not assessed."""
    values = {**healthy_values(), **rate("on_time_delivery_rate", 8, 10)}
    assert evaluate_one(amazon_like(), facts(**values)).rule("ontime-and-volume").outcome is (
        Outcome.MATCHED
    )
    values["on_time_delivery_rate__num"] = None
    result = evaluate_one(amazon_like(), facts(**values)).rule("ontime-and-volume")
    assert result.outcome is Outcome.NOT_ASSESSED
    assert result.reason == "metric on_time_delivery_rate__num is null: not enough data"


def test_backend_called_once_with_rules_assessable_for_someone() -> None:
    """The back end is called once per batch, without rules no seller can be judged on."""
    values = {**healthy_values(), "late_shipment_rate_10d": None}
    backend = RecordingBackend()
    evaluate(amazon_like(), [facts("S1", **values), facts("S2", **values)], backend=backend)
    assert backend.calls == [(("odr", "tracking", "ontime-and-volume"), 2)]


def test_backend_answers_for_unassessable_rules_are_masked() -> None:
    """A match the back end reports for a not-assessable rule is discarded per seller."""
    backend = RecordingBackend(claim_all=True)
    broken = {**healthy_values(), "valid_tracking_rate": None}
    d1, d2 = evaluate(
        amazon_like(), [facts("S1", **healthy_values()), facts("S2", **broken)], backend=backend
    )
    assert d1.rule("tracking").outcome is Outcome.MATCHED
    assert d2.rule("tracking").outcome is Outcome.NOT_ASSESSED
    assert "restrict_listings" not in {a.action for a in d2.actions}
    assert len(backend.calls) == 1


def test_backend_not_called_when_nothing_is_assessable() -> None:
    """With no assessable rule in the batch the back end is not called at all."""
    backend = RecordingBackend()
    [decision] = evaluate(amazon_like(), [facts("S1")], backend=backend)
    assert backend.calls == []
    assert {r.outcome for r in decision.rules} == {Outcome.NOT_ASSESSED}


def test_backend_with_wrong_result_count_is_an_error() -> None:
    """A back end answering for the wrong number of sellers is reported, not trusted."""

    class Short:
        name = "short"

        def match(self, pack: CompiledPack, facts: Sequence[SellerFacts]) -> list[frozenset[str]]:
            return []

    with pytest.raises(RuntimeError, match="0 results for 1 sellers"):
        evaluate(amazon_like(), [facts(**healthy_values())], backend=Short())


def bad_values() -> dict[str, float | int | None]:
    """ODR 1.35%, late 5%, tracking 90%: three rules fire."""
    return {
        **healthy_values(),
        **rate("order_defect_rate", 27, 2000),
        **rate("late_shipment_rate_10d", 20, 400),
        **rate("valid_tracking_rate", 360, 400),
    }


def test_actions_ordered_most_severe_first_and_status_is_worst() -> None:
    """Enforced actions are ordered by severity; the status is the worst one mapped."""
    decision = evaluate_one(amazon_like(), facts(**bad_values()))
    assert [(a.action, a.severity) for a in decision.actions] == [
        ("lose_buy_box", Severity.HIGH),
        ("restrict_listings", Severity.MEDIUM),
        ("warn", Severity.MEDIUM),
    ]
    assert decision.status is Status.AT_RISK


def test_shadow_rule_is_reported_but_not_enforced() -> None:
    """A shadow rule's actions are listed after enforced ones, flagged, and set no status."""
    pack = amazon_like()
    odr = replace(pack.rule("odr"), mode=Mode.SHADOW)
    pack = replace(pack, rules=(odr, *pack.rules[1:]))
    decision = evaluate_one(pack, facts(**bad_values()))
    assert decision.actions[-1].action == "lose_buy_box"
    assert not decision.actions[-1].enforced
    assert decision.rule("odr").mode is Mode.SHADOW
    assert decision.status is Status.AT_RISK  # from restrict_listings, still enforced


def test_shadow_pack_enforces_nothing() -> None:
    """In a shadow pack every rule is reported and the seller stays healthy."""
    decision = evaluate_one(amazon_like(Mode.SHADOW), facts(**bad_values()))
    assert decision.status is Status.HEALTHY
    assert len(decision.actions) == 3
    assert not any(a.enforced for a in decision.actions)


def exemption(expires: str, seller: str = "S1", pack: str = "test-pack") -> Exemption:
    """An exemption from the ODR rule."""
    return Exemption(
        id="exm-1",
        pack=pack,
        seller_id=seller,
        rules=("odr",),
        reason="carrier strike",
        approver="jane@example.com",
        expires=day(expires),
    )


def test_exemption_waives_action_and_is_recorded() -> None:
    """An exemption valid at ``as_of`` waives the rule's action, keeps it listed with its id."""
    decision = evaluate_one(
        amazon_like(), facts(**bad_values()), exemptions=[exemption("2026-11-01")]
    )
    waived = [a for a in decision.actions if a.exemption == "exm-1"]
    assert [(a.action, a.enforced) for a in waived] == [("lose_buy_box", False)]
    assert decision.actions[-1] == waived[0]
    assert decision.rule("odr").outcome is Outcome.MATCHED


@pytest.mark.parametrize(
    ("expires", "seller", "pack"),
    [
        ("2026-10-31", "S1", "test-pack"),
        ("2027-01-01", "S2", "test-pack"),
        ("2027-01-01", "S1", "other-pack"),
    ],
)
def test_exemption_expired_or_for_someone_else_does_not_apply(
    expires: str, seller: str, pack: str
) -> None:
    """An exemption that expired before ``as_of``, or names another seller or pack, is ignored."""
    decision = evaluate_one(
        amazon_like(), facts(**bad_values()), exemptions=[exemption(expires, seller, pack)]
    )
    assert decision.actions[0].action == "lose_buy_box"
    assert decision.actions[0].enforced
    assert decision.actions[0].exemption is None


def test_exemption_of_the_worst_action_lowers_status() -> None:
    """Status is computed after exemptions: waiving the only critical action lowers it."""
    pack = amazon_like()
    odr = replace(pack.rule("odr"), actions=("suspend",))
    pack = replace(pack, rules=(odr, *pack.rules[1:]))
    assert evaluate_one(pack, facts(**bad_values())).status is Status.CRITICAL
    waived = evaluate_one(pack, facts(**bad_values()), exemptions=[exemption("2026-12-31")])
    assert waived.status is Status.AT_RISK


def test_unmapped_action_is_a_pack_error() -> None:
    """An action without an account status is a pack error naming the action and rule."""
    pack = replace(amazon_like(), status_map={"warn": Status.HEALTHY})
    with pytest.raises(PackError, match="'lose_buy_box' \\(used by 'odr'\\)"):
        evaluate(pack, [facts(**healthy_values())])


def test_caller_facts_are_not_mutated() -> None:
    """Evaluation copies the facts: the caller's mapping is left as it was."""
    values = bad_values()
    before = dict(values)
    decision = evaluate_one(amazon_like(), facts(**values))
    assert values == before
    assert dict(decision.facts) == before


def test_explanation_template_formats_numbers_for_people() -> None:
    """Template fields without a spec read like the data contract's example."""
    decision = evaluate_one(amazon_like(), facts(**bad_values()))
    assert decision.actions[0].explanation == (
        "Order defect rate 1.35% (27 of 2,000 orders placed 2026-09-02 to 2026-10-31) "
        "is above the 1% target"
    )


def test_window_dates_account_for_lag() -> None:
    """A 14-day window lagged 7 days as of 2026-11-01 covers 2026-10-11 to 2026-10-24."""
    result = evaluate_one(amazon_like(), facts(**healthy_values())).rule("ontime-and-volume")
    assert (result.window_start, result.window_end) == (day("2026-10-11"), day("2026-10-24"))


def test_explain_levels() -> None:
    """``none`` carries no text, ``summary`` explains firing rules, ``full`` every rule."""
    pack, seller = amazon_like(), facts(**bad_values())
    none = evaluate_one(pack, seller, explain=ExplainLevel.NONE)
    summary = evaluate_one(pack, seller)
    full = evaluate_one(pack, seller, explain=ExplainLevel.FULL)
    assert all(r.explanation is None and r.distance is None for r in none.rules)
    assert summary.rule("late").explanation is not None
    assert summary.rule("ontime-and-volume").explanation is None
    assert full.rule("ontime-and-volume").explanation == (
        "on_time_delivery_rate is 93.75% (300 of 320); the rule fires below 90%"
    )


def test_template_with_spec_on_null_falls_back_to_a_sentence() -> None:
    """A template whose format spec cannot take a null field gets a plain sentence instead."""
    pack = amazon_like()
    late = replace(pack.rule("late"), explanation="{num:,} late of {den:,}")
    pack = replace(pack, rules=(pack.rules[0], late, *pack.rules[2:]))
    values = {**bad_values(), "late_shipment_rate_10d__num": None}
    result = evaluate_one(pack, facts(**values)).rule("late")
    assert result.explanation == "late_shipment_rate_10d is 5%; the rule fires at or above 4%"


def test_as_of_label_and_ids() -> None:
    """Each decision carries a fresh id, the pack identity and the as-of label."""
    d1, d2 = evaluate(
        amazon_like(), [facts("S1", **healthy_values()), facts("S2", AS_OF + timedelta(hours=6))]
    )
    assert d1.decision_id != d2.decision_id
    assert (d1.as_of, d2.as_of) == ("2026-11-01", "2026-11-01T06:00:00Z")
    assert (d1.pack, d1.pack_version) == ("test-pack", "1.0")
