"""The one evaluation function: a compiled pack on metric facts, to decisions.

Every adapter (CLI, HTTP service, batch runner, Python API) calls
:func:`evaluate`; no decision logic lives anywhere else. Back ends only say
which rule conditions hold; everything else is shared, in this package: this
module runs the stages below and matching (stage 2), :mod:`.plans` holds the rule plans and stage 1,
:mod:`.context` builds each seller's decision (stages 3 to 5).

Stages, per batch of sellers:

1. **Assessability.** A rule is ``not_assessed`` for a seller when a fact
   its condition reads is null or absent, or when the denominator
   (``<name>__den``) of a rate or average it reads is under the rule's
   ``min_orders`` (a rule reading no rate checks ``orders`` instead). The
   reason is recorded; such a rule never fires.
2. **Matching.** The back end is called **once per batch**, with the pack
   restricted to the rules assessable for at least one seller of the batch
   (the pack itself when that is every rule). Its answer for a seller is then
   masked with that seller's assessable rules, so a rule on a null metric can
   neither fire nor pass. Back ends therefore see null facts for rules that
   are masked afterwards: they must not fail on them (a leaf on a null fact
   is false), and must not assume the rule set of a pack with a given
   digest is fixed.
3. **Escalation.** A firing rule with a ladder asks the
   :class:`HistoryLookup` for its streak (consecutive earlier firings, not
   lapsed); its actions are those of the highest step whose ``after`` is at
   most ``streak + 1`` (the rule's own actions below the first step).
4. **Scores.** Each dimension earns ``points * weight`` from the first band
   its metric falls in; the total picks the grade, whose actions join the
   decision. A score is not assessed under its ``min_orders`` (checked on
   ``orders``) or when a dimension's metric is null; the reason names them.
5. **Combination.** An action is *enforced* unless its rule (or the pack) is
   in shadow mode; shadow actions are reported, flagged, never enforced.
   **Exemptions are applied last**: an exemption for this pack and seller,
   naming the rule (or score) and not expired at ``as_of`` (``expires`` is
   the last exempt day), turns the action into a reported one carrying the
   exemption id. Actions are ordered enforced first, then most severe first
   (severity, then the status the action maps to), then pack order. The
   status is the worst status (``pack.status_map``) of the enforced actions,
   ``healthy`` when there are none: the most severe action wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sellerpolicy.engine.evaluation.backends.protocol import Backend
from sellerpolicy.engine.evaluation.backends.python import PythonBackend
from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.rules.model import CompiledPack, Exemption

from .context import Context
from .decision import Decision
from .explain import EvidenceLookup
from .history import Firing, HistoryFromRecords, HistoryLookup, ladder_actions, streak_length
from .levels import ExplainLevel
from .plans import not_assessed_reason, pack_plans

__all__ = [
    "Firing",
    "HistoryFromRecords",
    "HistoryLookup",
    "evaluate",
    "evaluate_one",
    "ladder_actions",
    "streak_length",
]


def evaluate(
    pack: CompiledPack,
    facts: Sequence[SellerFacts],
    *,
    backend: Backend | None = None,
    history: HistoryLookup | None = None,
    exemptions: Sequence[Exemption] = (),
    explain: ExplainLevel = ExplainLevel.SUMMARY,
    evidence: EvidenceLookup | None = None,
) -> list[Decision]:
    """Evaluate a compiled pack on many sellers: one decision per seller, in order."""
    plans = pack_plans(pack)
    reasons = [
        {p.rule.id: why for p in plans if (why := not_assessed_reason(p, f)) is not None}
        for f in facts
    ]
    wanted = [rule for rule in pack.rules if any(rule.id not in r for r in reasons)]
    matches: list[frozenset[str]] = [frozenset()] * len(facts)
    if wanted:
        subset = pack if len(wanted) == len(pack.rules) else replace(pack, rules=tuple(wanted))
        matches = (backend or PythonBackend()).match(subset, facts)
        if len(matches) != len(facts):
            raise RuntimeError(f"back end returned {len(matches)} results for {len(facts)} sellers")
    context = Context(
        pack,
        plans=plans,
        history=history,
        exemptions=tuple(exemptions),
        level=explain,
        evidence=evidence,
    )
    return [
        context.decide(seller, matched - frozenset(why), why)
        for seller, matched, why in zip(facts, matches, reasons, strict=True)
    ]


def evaluate_one(
    pack: CompiledPack,
    facts: SellerFacts,
    *,
    backend: Backend | None = None,
    history: HistoryLookup | None = None,
    exemptions: Sequence[Exemption] = (),
    explain: ExplainLevel = ExplainLevel.SUMMARY,
    evidence: EvidenceLookup | None = None,
) -> Decision:
    """Evaluate a compiled pack on one seller."""
    return evaluate(
        pack,
        [facts],
        backend=backend,
        history=history,
        exemptions=exemptions,
        explain=explain,
        evidence=evidence,
    )[0]
