"""Pack tests: fixtures beside a pack, expectations, generated edge cases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from evalkit import CASES, FAILING, PACK, write_pack

from sellerpolicy.engine.evaluation.backends.python import PythonBackend
from sellerpolicy.engine.evaluation.packtest import discover, edge_cases, fixture_files, run_pack
from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.rules import load_pack
from sellerpolicy.rules.diagnostics import PackError
from sellerpolicy.rules.model import AllOf, Compare, CompiledPack, Op, Rule


def test_passing_fixtures(tmp_path: Path) -> None:
    """Fixture cases with status, actions, rules, history and exemptions all pass."""
    report = run_pack(write_pack(tmp_path, ("cases.yaml", CASES)))
    assert (report.pack, report.passed, report.failed) == ("tiny-pack", 3, 0)


def test_failures_say_expected_and_got(tmp_path: Path) -> None:
    """Each unmet expectation is reported with what was expected and what came out."""
    report = run_pack(write_pack(tmp_path, ("bad.yaml", FAILING)))
    [case] = report.cases
    assert not case.passed
    assert case.line == 5
    found = {m.what: (m.expected, m.got) for m in case.mismatches}
    assert found["status"] == ("healthy", "at_risk")
    assert found["actions"] == ("[warn]", "[lose_buy_box]")
    assert found["rule odr-over-target"] == ("not_matched", "matched")
    assert found["rule no-such-rule"][1] == "no such id in the pack"
    assert "unknown fact 'order_defect_rat'" in found["fact order_defect_rat"][1]
    assert "did you mean 'order_defect_rate'" in found["fact order_defect_rat"][1]


def test_fixture_for_another_pack_and_broken_fixture_fail(tmp_path: Path) -> None:
    """A fixture naming another pack, or one that does not load, is a failed case."""
    other = CASES.replace("metadata: {pack: tiny-pack}", "metadata: {pack: other-pack}")
    broken = "apiVersion: sellerpolicy/v1\nkind: PackTest\ncases: 3\n"
    report = run_pack(write_pack(tmp_path, ("a.yaml", other), ("b.yaml", broken)))
    assert report.failed == 2
    assert report.cases[0].mismatches[0].got == "other-pack"
    assert report.cases[1].name == "b.yaml does not load"


def test_broken_pack_is_reported_not_raised(tmp_path: Path) -> None:
    """A pack that does not load is one failed case carrying its diagnostics."""
    path = write_pack(tmp_path)
    path.write_text(PACK.replace("gte: 1%", "gte: 1%%"))
    report = run_pack(path)
    assert report.failed == 1
    assert report.cases[0].mismatches[0].what == "document"


def test_discover_pack_file_folder_and_folder_of_packs(tmp_path: Path) -> None:
    """Paths may name a pack file, a pack folder or a folder of pack folders."""
    first = write_pack(tmp_path, name="a")
    second = write_pack(tmp_path, name="b")
    assert discover([first]) == [first]
    assert discover([first.parent]) == [first]
    assert discover([tmp_path]) == [first, second]
    assert fixture_files(first) == []
    with pytest.raises(PackError, match="pack_not_found"):
        discover([tmp_path / "missing"])


def test_discover_defaults_to_shipped_packs() -> None:
    """Without paths every shipped pack is tested."""
    assert {p.parent.name for p in discover([])} >= {"amazon", "walmart"}


def test_generated_edges_pass_on_a_correct_backend(tmp_path: Path) -> None:
    """Three edges per rate leaf, each written two ways, all agree with the operator."""
    pack = load_pack(write_pack(tmp_path))
    edges = edge_cases(pack)
    assert len(edges) == 12
    odr = [e for e in edges if e.rule.id == "odr-over-target"]
    assert [(e.facts["order_defect_rate__num"], e.expected.value) for e in odr[::2]] == [
        (100, "matched"),
        (101, "matched"),
        (99, "not_matched"),
    ]
    assert odr[0].facts["order_defect_rate__den"] == 10_000
    assert [e.facts["order_defect_rate"] for e in odr[:2]] == [0.01, 0.01]
    big = replace(pack, rules=(replace(pack.rules[0], min_orders=50_000),))
    assert edge_cases(big)[0].facts["order_defect_rate__den"] == 100_000  # above min_orders
    report = run_pack(write_pack(tmp_path / "x"), generate_edges=True)
    assert (report.passed, report.failed) == (12, 0)
    assert all(case.generated for case in report.cases)


class OffByOneBackend:
    """A broken back end that treats ``gte`` as ``gt``."""

    name = "off-by-one"

    def match(self, pack: CompiledPack, facts: Sequence[SellerFacts]) -> list[frozenset[str]]:
        fixed = [
            _as_gt(rule) if isinstance(rule.when, Compare) and rule.when.op is Op.GTE else rule
            for rule in pack.rules
        ]
        return PythonBackend().match(replace(pack, rules=tuple(fixed)), facts)


def _as_gt(rule: Rule) -> Rule:
    assert isinstance(rule.when, Compare)
    when = Compare(rule.when.metric, Op.GT, rule.when.threshold, rule.when.field)
    return replace(rule, when=when)


def test_generated_edges_catch_an_off_by_one_backend(tmp_path: Path) -> None:
    """A back end that fires ``gte`` only above the threshold fails the exactly-at edge."""
    report = run_pack(write_pack(tmp_path), backend=OffByOneBackend(), generate_edges=True)
    failed = [case.name for case in report.cases if not case.passed]
    assert len(failed) == 2
    assert all("exactly at gte 0.01 (100 of 10000" in name for name in failed)


def test_compound_rules_get_one_probe_per_rate_leaf(tmp_path: Path) -> None:
    """Each rate leaf of a compound rule is checked on its own, with a probe rule id."""
    pack = load_pack(write_pack(tmp_path))
    rule = pack.rules[0]
    both = AllOf((rule.when, Compare("valid_tracking_rate", Op.LTE, 0.5)))
    compound = replace(pack, rules=(replace(rule, when=both),))
    ids = {e.rule.id for e in edge_cases(compound)}
    assert ids == {"odr-over-target-leaf-1", "odr-over-target-leaf-2"}
