"""Pack tests: run the fixtures beside a pack through :func:`evaluate`, and check edges.

Fixtures are ``<pack folder>/tests/*.yaml`` documents of kind ``PackTest``
(``docs/pack-format.md``). Each case becomes one seller's facts (a metric
absent from ``facts`` is null) evaluated as of the case's ``as_of``
(default :data:`DEFAULT_AS_OF`), with its ``history`` feeding an in-memory
:class:`HistoryFromRecords` and its exemptions applied. A case passes when
the status, the set of enforced actions, every listed rule outcome and every
listed grade are as expected (``not_assessed`` for a score without a
grade); a fact that is no field of the pack's metric
facts is a failure too (a misspelt fact would otherwise silently be null).

:func:`edge_cases` derives cases from the pack alone: for every comparison
leaf on a rate value, counts exactly at the threshold, one order above and
one order below, each with the value as the metrics computation gives it
(``num / den``) and as a person writes it (the decimal fraction, which for a
``1%`` threshold is ``0.01``). The expected outcome is the operator applied
in exact rational arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from sellerpolicy.engine.evaluation.backends.protocol import Backend
from sellerpolicy.engine.metrics.facts import Number, SellerFacts, as_of_instant
from sellerpolicy.rules import load_pack, load_packtest, shipped_packs
from sellerpolicy.rules.catalog import MetricKind, counts_in_facts
from sellerpolicy.rules.diagnostics import Diagnostic, PackError, PackNotFoundError
from sellerpolicy.rules.model import Compare, CompiledPack, Field, Op, Rule
from sellerpolicy.rules.packtest_doc import PackTestCase
from sellerpolicy.rules.suggest import did_you_mean

from .decision import Decision, Outcome
from .evaluate import Firing, HistoryFromRecords, evaluate_one
from .plans import leaves

#: The evaluation date of a case that does not set ``as_of``.
DEFAULT_AS_OF = date(2026, 11, 1)

#: The expected grade of a score that is not assessed (no total, no grade).
NOT_ASSESSED_GRADE = "not_assessed"

#: Generated edge cases use at least this many orders.
EDGE_MIN_ORDERS = 10_000

_EXACT = {
    Op.GT: Fraction.__gt__,
    Op.GTE: Fraction.__ge__,
    Op.LT: Fraction.__lt__,
    Op.LTE: Fraction.__le__,
    Op.EQ: Fraction.__eq__,
}


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One expectation a case did not meet."""

    what: str  # "status", "actions", "rule odr-over-target", "grade service-score", ...
    expected: str
    got: str


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The result of one case (from a fixture file or generated)."""

    name: str
    file: str
    line: int
    mismatches: tuple[Mismatch, ...]
    generated: bool = False

    @property
    def passed(self) -> bool:
        """Whether every expectation was met."""
        return not self.mismatches


@dataclass(frozen=True, slots=True)
class PackReport:
    """Every case run for one pack."""

    pack: str
    path: str
    cases: tuple[CaseResult, ...]

    @property
    def passed(self) -> int:
        """How many cases passed."""
        return sum(case.passed for case in self.cases)

    @property
    def failed(self) -> int:
        """How many cases failed."""
        return len(self.cases) - self.passed


def discover(paths: Sequence[str | Path]) -> list[Path]:
    """The ``pack.yaml`` files to test: every shipped pack when ``paths`` is empty.

    A path may be a pack file, a pack folder, or a folder of pack folders.
    """
    if not paths:
        return shipped_packs()
    found: list[Path] = []
    for ref in paths:
        path = Path(ref)
        if path.is_file():
            found.append(path)
        elif (path / "pack.yaml").is_file():
            found.append(path / "pack.yaml")
        elif path.is_dir() and (packs := sorted(path.glob("*/pack.yaml"))):
            found += packs
        else:
            message = (
                f"no pack at {str(ref)!r}: not a pack file, a pack folder or a folder of packs"
            )
            raise PackNotFoundError([Diagnostic(str(ref), 1, 1, "pack_not_found", "$", message)])
    return list(dict.fromkeys(found))


def fixture_files(pack_path: Path) -> list[Path]:
    """The fixture files of a pack: ``tests/*.yaml`` beside its ``pack.yaml``."""
    folder = pack_path.parent / "tests"
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def run_pack(
    pack_path: Path, *, backend: Backend | None = None, generate_edges: bool = False
) -> PackReport:
    """Load a pack and run its fixtures (and generated edge cases) through ``evaluate``.

    A pack or fixture file that does not load is reported as a failed case
    carrying its diagnostics, so one broken file does not hide the others.
    """
    try:
        pack = load_pack(pack_path)
    except PackError as exc:
        return PackReport(str(pack_path.parent.name), str(pack_path), (_broken(pack_path, exc),))
    cases: list[CaseResult] = []
    for fixture in fixture_files(pack_path):
        try:
            doc = load_packtest(fixture)
        except PackError as exc:
            cases.append(_broken(fixture, exc))
            continue
        if doc.pack != pack.id:
            mismatch = Mismatch("metadata.pack", pack.id, doc.pack)
            cases.append(CaseResult("fixture names another pack", str(fixture), 1, (mismatch,)))
            continue
        cases += [run_case(pack, case, str(fixture), backend=backend) for case in doc.cases]
    if generate_edges:
        cases += [run_edge(pack, edge, backend=backend) for edge in edge_cases(pack)]
    return PackReport(pack.id, str(pack_path), tuple(cases))


def _broken(path: Path, exc: PackError) -> CaseResult:
    mismatches = tuple(
        Mismatch("document", "a valid document", d.render()) for d in exc.diagnostics
    )
    return CaseResult(f"{path.name} does not load", str(path), 1, mismatches)


def fact_names(pack: CompiledPack) -> frozenset[str]:
    """Every field a seller's metric facts may carry for this pack."""
    names = {"orders"}
    for use in pack.metrics:
        names.add(use.name)
        if counts_in_facts(use.kind):
            names |= {f"{use.name}__num", f"{use.name}__den"}
    return frozenset(names)


def run_case(
    pack: CompiledPack, case: PackTestCase, file: str, *, backend: Backend | None = None
) -> CaseResult:
    """Evaluate one fixture case and compare the decision with its expectations."""
    known = fact_names(pack)
    mismatches = [
        Mismatch(f"fact {name}", "a metric field of the pack", _unknown(name, known))
        for name in case.facts
        if name not in known
    ]
    as_of = case.as_of or DEFAULT_AS_OF
    history = HistoryFromRecords(
        [Firing(case.seller_id, h.rule, h.as_of) for h in case.history], pack
    )
    facts = SellerFacts(case.seller_id, as_of_instant(as_of), dict(case.facts))
    decision = evaluate_one(
        pack, facts, backend=backend, history=history, exemptions=case.exemptions
    )
    mismatches += compare_decision(pack, decision, case)
    return CaseResult(case.name, file, case.line, tuple(mismatches))


def _unknown(name: str, known: frozenset[str]) -> str:
    hint = did_you_mean(name, sorted(known))
    return f"unknown fact {name!r}" + (f" ({hint})" if hint else "")


def compare_decision(pack: CompiledPack, decision: Decision, case: PackTestCase) -> list[Mismatch]:
    """The expectations of a case that the decision does not meet."""
    found: list[Mismatch] = []
    if case.expect_status is not None and decision.status.label != case.expect_status:
        found.append(Mismatch("status", case.expect_status, decision.status.label))
    if case.expect_actions is not None:
        enforced = sorted({a.action for a in decision.enforced_actions})
        expected = sorted(set(case.expect_actions))
        if enforced != expected:
            found.append(Mismatch("actions", _list(expected), _list(enforced)))
    rule_ids = [rule.id for rule in pack.rules]
    for rule_id, outcome in case.expect_rules.items():
        if rule_id not in rule_ids:
            found.append(Mismatch(f"rule {rule_id}", outcome, _unknown_id(rule_id, rule_ids)))
            continue
        result = decision.rule(rule_id)
        if result.outcome.value != outcome:
            got = result.outcome.value + (f" ({result.reason})" if result.reason else "")
            found.append(Mismatch(f"rule {rule_id}", outcome, got))
    score_ids = [score.id for score in pack.scores]
    for score_id, grade in case.expect_grades.items():
        if score_id not in score_ids:
            found.append(Mismatch(f"grade {score_id}", grade, _unknown_id(score_id, score_ids)))
            continue
        score = decision.score(score_id)
        got = score.grade or NOT_ASSESSED_GRADE
        if got != grade:
            reason = f" ({score.reason})" if score.reason else ""
            found.append(Mismatch(f"grade {score_id}", grade, got + reason))
    return found


def _list(items: Sequence[str]) -> str:
    return "[" + ", ".join(items) + "]"


def _unknown_id(name: str, known: Sequence[str]) -> str:
    hint = did_you_mean(name, list(known))
    return "no such id in the pack" + (f" ({hint})" if hint else "")


# ---------------------------------------------------------------------------
# Generated edge cases


@dataclass(frozen=True, slots=True)
class EdgeCase:
    """A generated case: a rate leaf's counts near its threshold, and what must happen."""

    name: str
    rule: Rule  # the rule itself, or a probe rule holding only this leaf
    facts: dict[str, Number | None]
    expected: Outcome


def edge_cases(pack: CompiledPack) -> list[EdgeCase]:
    """Cases at, one order above and one order below every rate leaf's threshold."""
    cases: list[EdgeCase] = []
    for rule in pack.rules:
        rule_leaves = leaves(rule.when)
        for index, leaf in enumerate(rule_leaves):
            use = pack.metric(leaf.metric)
            if leaf.field is not Field.VALUE or use.kind is not MetricKind.RATE:
                continue
            probe = rule
            if not isinstance(rule.when, Compare):
                probe = replace(rule, id=f"{rule.id}-leaf-{index + 1}", when=leaf, escalation=None)
            cases += _leaf_cases(probe, leaf, rule.min_orders or 0)
    return cases


def _leaf_cases(rule: Rule, leaf: Compare, min_orders: int) -> list[EdgeCase]:
    t = Fraction(repr(leaf.threshold))
    den = 10
    while den < max(min_orders, EDGE_MIN_ORDERS) or (t * den).denominator != 1:
        den *= 10
    at = int(t * den)
    cases = []
    for label, num in (
        ("exactly at", at),
        ("one order above", at + 1),
        ("one order below", at - 1),
    ):
        if not 0 <= num <= den:
            continue
        exact = Fraction(num, den)
        expected = Outcome.MATCHED if _EXACT[leaf.op](exact, t) else Outcome.NOT_MATCHED
        written = Decimal(num) / Decimal(den)
        for spelling, value in (("num/den", num / den), (f"written {written}", float(written))):
            cases.append(
                EdgeCase(
                    name=(
                        f"{rule.id}: {leaf.metric} {label} {leaf.op.value} {leaf.threshold!r} "
                        f"({num} of {den}, {spelling})"
                    ),
                    rule=rule,
                    facts={
                        "orders": den,
                        leaf.metric: value,
                        f"{leaf.metric}__num": num,
                        f"{leaf.metric}__den": den,
                    },
                    expected=expected,
                )
            )
    return cases


def run_edge(pack: CompiledPack, edge: EdgeCase, *, backend: Backend | None = None) -> CaseResult:
    """Evaluate a generated case on the pack reduced to its rule; check the outcome."""
    probe_pack = replace(pack, rules=(edge.rule,), scores=())
    facts = SellerFacts("S-EDGE", as_of_instant(DEFAULT_AS_OF), edge.facts)
    result = evaluate_one(probe_pack, facts, backend=backend).rule(edge.rule.id)
    mismatches: tuple[Mismatch, ...] = ()
    if result.outcome is not edge.expected:
        got = result.outcome.value + (f" ({result.reason})" if result.reason else "")
        mismatches = (Mismatch(f"rule {edge.rule.id}", edge.expected.value, got),)
    where = pack.path or pack.id
    return CaseResult(edge.name, where, edge.rule.line, mismatches, generated=True)
