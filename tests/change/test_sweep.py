"""The threshold sweep counts exactly the sellers ``evaluate`` fires the rule on.

On a generated marketplace, for rules of three shipped packs (single
comparisons, ``all`` of several, ``count`` leaves, ``lt`` and ``gte``), the
sweep's count at the current threshold is the number of ``matched`` outcomes
of that rule in ``evaluate``'s decisions, and its count at every other step
is what ``evaluate`` gives for the pack with that one threshold moved (the
row-wise Python back end: an independent implementation of the same rules).
The command line gives the same number as ``sellerpolicy evaluate``'s
decision file, draws the chart, writes rejects beside it, and refuses
unusable options with one line and exit 2.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from run.runkit import MAIN, run_cli

from sellerpolicy.engine.change.population import population_from_source
from sellerpolicy.engine.change.sweep import (
    parse_threshold,
    pick_leaf,
    sweep,
    sweep_thresholds,
    threshold_labels,
)
from sellerpolicy.engine.errors import FactsError
from sellerpolicy.engine.evaluation.backends.python import PythonBackend
from sellerpolicy.engine.evaluation.decision import Outcome
from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.engine.evaluation.plans import leaves
from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.metrics.compute import iter_facts
from sellerpolicy.engine.metrics.facts import as_of_instant
from sellerpolicy.rules import load_pack
from sellerpolicy.rules.model import (
    AllOf,
    AnyOf,
    Compare,
    CompiledPack,
    Condition,
    NotOf,
    Op,
)

AS_OF = date(2026, 11, 1)
PACKS = ("amazon", "walmart", "ebay")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated marketplace: 400 sellers over 400 days (eBay reads 12-month windows)."""
    out = tmp_path_factory.mktemp("market") / "src"
    generate(sellers=400, days=400, seed=11, as_of=AS_OF, out=out, orders_per_seller_day=1.5)
    return out


@pytest.fixture(scope="module")
def populations(
    source: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[CompiledPack, pa.Table]]:
    """Each shipped pack of :data:`PACKS` and the facts of the marketplace it reads."""
    rejects = tmp_path_factory.mktemp("rejects") / "rejects.jsonl"
    out = {}
    for name in PACKS:
        pack = load_pack(name)
        population = population_from_source(
            source, [pack], as_of_instant(AS_OF), rejects_path=rejects
        )
        assert population.rejects > 0  # the generator plants broken rows: they are left out
        out[name] = (pack, population.tables[0])
    return out


def _fired(pack: CompiledPack, facts: pa.Table, rule_id: str) -> int:
    """Sellers on whom ``evaluate`` (row by row, plain Python back end) matches the rule."""
    decisions = evaluate(pack, list(iter_facts(facts, AS_OF)), backend=PythonBackend())
    return sum(d.rule(rule_id).outcome is Outcome.MATCHED for d in decisions)


def _moved(pack: CompiledPack, rule_id: str, index: int, threshold: float) -> CompiledPack:
    """``pack`` with the ``index``-th comparison of one rule at ``threshold``."""
    count = -1

    def walk(cond: Condition) -> Condition:
        nonlocal count
        if isinstance(cond, Compare):
            count += 1
            return Compare(cond.metric, cond.op, threshold, cond.field) if count == index else cond
        if isinstance(cond, AllOf):
            return AllOf(tuple(walk(c) for c in cond.children))
        if isinstance(cond, AnyOf):
            return AnyOf(tuple(walk(c) for c in cond.children))
        return NotOf(walk(cond.child))

    rules = tuple(replace(r, when=walk(r.when)) if r.id == rule_id else r for r in pack.rules)
    return replace(pack, rules=rules)


# (pack, rule, --metric): every shape of rule the shipped packs have, each firing somewhere
SWEPT = [
    ("amazon", "odr-over-target", None),
    ("amazon", "late-shipment-30d", None),
    ("amazon", "valid-tracking-below-target", None),
    ("amazon", "response-time-below-target", None),
    ("walmart", "cancellation-over-standard", None),
    ("walmart", "refund-rate-over-standard", None),
    ("walmart", "valid-tracking-below-standard", None),
    ("ebay", "below-standard-defects-12m", "transaction_defect_rate_12m"),
    ("ebay", "below-standard-defects-12m", "transaction_defect_rate_12m__num"),
    ("ebay", "below-standard-cases-12m", "orders_3m"),
    ("ebay", "top-rated-12m", "late_shipment_rate_12m"),
    ("ebay", "top-rated-12m", "orders_12m"),
]


@pytest.mark.parametrize(("name", "rule_id", "metric"), SWEPT)
def test_current_threshold_counts_what_evaluate_fires(
    populations: dict[str, tuple[CompiledPack, pa.Table]],
    name: str,
    rule_id: str,
    metric: str | None,
) -> None:
    """At the pack's own threshold the sweep counts the rule's ``matched`` outcomes."""
    pack, facts = populations[name]
    result = sweep(pack, rule_id, facts, AS_OF, [], metric=metric)
    assert [s.threshold for s in result.steps] == [result.current]
    assert result.current_fired == _fired(pack, facts, rule_id)
    assert 0 < result.current_fired < result.assessed <= result.sellers == facts.num_rows


@pytest.mark.parametrize(
    ("name", "rule_id", "metric", "low", "high", "whole"),
    [
        ("amazon", "odr-over-target", None, 0.002, 0.03, False),
        ("amazon", "valid-tracking-below-target", None, 0.8, 1.0, False),
        ("ebay", "below-standard-defects-12m", "transaction_defect_rate_12m__num", 0, 12, True),
        ("ebay", "top-rated-12m", "tracking_on_time_rate_3m", 0.3, 1.0, False),
    ],
)
def test_every_step_counts_what_evaluate_fires_with_that_threshold(
    populations: dict[str, tuple[CompiledPack, pa.Table]],
    *,
    name: str,
    rule_id: str,
    metric: str | None,
    low: float,
    high: float,
    whole: bool,
) -> None:
    """Each step equals ``evaluate`` of the pack with that one threshold moved, and the
    counts move (the range crosses the sellers' values)."""
    pack, facts = populations[name]
    rule = pack.rule(rule_id)
    index = pick_leaf(pack, rule, metric)
    current = leaves(rule.when)[index].threshold
    thresholds = sweep_thresholds(low, high, 12, current, whole=whole)
    result = sweep(pack, rule_id, facts, AS_OF, thresholds, metric=metric)
    assert [s.threshold for s in result.steps] == list(thresholds)
    for step in result.steps:
        moved = _moved(pack, rule_id, index, step.threshold)
        assert step.fired == _fired(moved, facts, rule_id), step
    assert len({s.fired for s in result.steps}) > 3


def test_any_and_not_conditions_sweep_the_named_comparison(
    populations: dict[str, tuple[CompiledPack, pa.Table]],
) -> None:
    """A rule ``any(ODR >= 1%, not(valid tracking >= 95%))``: moving either comparison
    counts what ``evaluate`` fires; the other keeps its threshold."""
    amazon, facts = populations["amazon"]
    when = AnyOf(
        (
            Compare("order_defect_rate", Op.GTE, 0.01),
            NotOf(Compare("valid_tracking_rate", Op.GTE, 0.95)),
        )
    )
    rules = tuple(replace(r, when=when) if r.id == "odr-over-target" else r for r in amazon.rules)
    pack = replace(amazon, rules=rules)
    for index, metric, low, high in [
        (0, "order_defect_rate", 0.0, 0.05),
        (1, "valid_tracking_rate", 0.85, 1.0),
    ]:
        result = sweep(
            pack,
            "odr-over-target",
            facts,
            AS_OF,
            sweep_thresholds(low, high, 6, [0.01, 0.95][index]),
            metric=metric,
        )
        fired = [
            _fired(_moved(pack, "odr-over-target", index, s.threshold), facts, "odr-over-target")
            for s in result.steps
        ]
        assert [s.fired for s in result.steps] == fired
        assert len(set(fired)) > 2


def test_leaf_is_picked_by_the_fact_it_reads() -> None:
    """A value leaf by its name, a count leaf by ``<name>__num``; a metric compared once
    by its name; no name for a one-comparison rule."""
    ebay, amazon = load_pack("ebay"), load_pack("amazon")
    rule = ebay.rule("below-standard-defects-12m")
    assert pick_leaf(ebay, rule, "transaction_defect_rate_12m") == 0
    assert pick_leaf(ebay, rule, "transaction_defect_rate_12m__num") == 1
    assert pick_leaf(ebay, rule, "orders_3m") == 2
    assert pick_leaf(amazon, amazon.rule("odr-over-target"), None) == 0
    assert pick_leaf(amazon, amazon.rule("odr-over-target"), "order_defect_rate") == 0


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (
            None,
            "rule 'below-standard-defects-12m' has 3 comparisons (transaction_defect_rate_12m"
            " > 2%, transaction_defect_rate_12m__num >= 5, orders_3m < 400)",
        ),
        ("late_shipment_rate_12m", "compares no metric 'late_shipment_rate_12m'"),
    ],
)
def test_an_unnamed_or_unknown_comparison_lists_the_candidates(
    metric: str | None, message: str
) -> None:
    ebay = load_pack("ebay")
    with pytest.raises(ValueError, match="transaction_defect_rate_12m__num") as raised:
        pick_leaf(ebay, ebay.rule("below-standard-defects-12m"), metric)
    assert message in str(raised.value)


def test_a_metric_compared_twice_cannot_be_named() -> None:
    """A range (``x >= 1% and x < 5%``) has two thresholds of one fact: refused, both shown."""
    amazon = load_pack("amazon")
    rule = replace(
        amazon.rule("odr-over-target"),
        when=AllOf(
            (
                Compare("order_defect_rate", Op.GTE, 0.01),
                Compare("order_defect_rate", Op.LT, 0.05),
            )
        ),
    )
    with pytest.raises(ValueError, match=r"order_defect_rate >= 1%, order_defect_rate < 5%"):
        pick_leaf(amazon, rule, "order_defect_rate")


def test_thresholds_are_read_as_people_write_them() -> None:
    """Rates as percentages (exactly) or fractions; counts as whole numbers."""
    amazon, ebay = load_pack("amazon"), load_pack("ebay")
    odr = amazon.rule("odr-over-target").when
    assert isinstance(odr, Compare)
    assert parse_threshold("0.5%", amazon, odr) == 0.005 == parse_threshold("0.005", amazon, odr)
    assert parse_threshold("1.1%", amazon, odr) == 0.011
    count, orders = leaves(ebay.rule("below-standard-defects-12m").when)[1:]
    assert parse_threshold("5", ebay, count) == 5.0
    for text, leaf, pack, message in [
        ("2", odr, amazon, "is a rate, between 0 and 100%"),
        ("150%", odr, amazon, "is a rate, between 0 and 100%"),
        ("5%", count, ebay, "is not a rate"),
        ("2.5", count, ebay, "is a count; its thresholds are whole numbers"),
        ("400.5", orders, ebay, "is a count"),
        ("abc", odr, amazon, "is not a threshold (write 0.5% or 0.005)"),
        ("nan", odr, amazon, "is not a finite threshold"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_threshold(text, pack, leaf)


def test_the_current_threshold_is_always_one_exact_row() -> None:
    """On the grid, between two points, or outside the range: the current threshold is a
    row, once, exactly (never beside a rounding twin)."""
    on_grid = sweep_thresholds(0.005, 0.02, 16, 0.01)
    assert len(on_grid) == 16
    assert 0.01 in on_grid
    assert not any(abs(t - 0.01) < 1e-12 and t != 0.01 for t in on_grid)
    between = sweep_thresholds(0.005, 0.02, 20, 0.01)
    assert len(between) == 21
    assert 0.01 in between
    outside = sweep_thresholds(0.02, 0.04, 5, 0.01)
    assert outside == (0.01, 0.02, 0.025, 0.03, 0.035, 0.04)
    assert sweep_thresholds(1, 12, 20, 5, whole=True) == tuple(float(n) for n in range(1, 13))
    # a grid point a rounding away from an irregular current threshold gives way to it
    assert sweep_thresholds(0.0, 0.6, 3, 0.1 + 0.2) == (0.0, 0.1 + 0.2, 0.6)
    # grid points are written as typed: 0.01375, not 0.013750000000000002
    assert sweep_thresholds(0.005, 0.04, 5, 0.02) == (0.005, 0.01375, 0.02, 0.0225, 0.03125, 0.04)
    assert list(between) == sorted(between)


@pytest.mark.parametrize(
    ("start", "stop", "steps", "message"),
    [
        (0.02, 0.01, 20, "the range is empty"),
        (0.01, 0.01, 20, "the range is empty"),
        (0.01, 0.02, 1, "steps must be between 2 and 1,000, not 1"),
        (0.01, 0.02, 1001, "steps must be between 2 and 1,000"),
        (0.01, float("inf"), 20, "finite"),
    ],
)
def test_unusable_ranges_are_refused(start: float, stop: float, steps: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sweep_thresholds(start, stop, steps, 0.01)


def test_labels_are_distinct_and_the_current_one_exact() -> None:
    assert threshold_labels([0.005, 0.01, 0.015], percent=True) == ["0.5%", "1.0%", "1.5%"]
    assert threshold_labels([0.01, 0.0125, 0.02], percent=True, exact=0.0125) == [
        "1.00%",
        "1.25%",
        "2.00%",
    ]
    assert threshold_labels([0.01, 0.015, 0.5], percent=True, exact=0.01) == [
        "1.0%",
        "1.5%",
        "50.0%",
    ]
    assert threshold_labels([400.0, 1000.0, 1600.0], percent=False) == ["400", "1,000", "1,600"]
    fine = threshold_labels([0.01 + k * 1e-6 for k in range(5)], percent=True)
    assert len(set(fine)) == 5


def test_unknown_rule_names_the_pack_rules(
    populations: dict[str, tuple[CompiledPack, pa.Table]],
) -> None:
    pack, facts = populations["amazon"]
    with pytest.raises(ValueError, match=r"no rule 'odr' \(its rules: odr-over-target, "):
        sweep(pack, "odr", facts, AS_OF, [0.01])


def test_a_facts_table_without_what_the_rule_reads_is_refused(
    populations: dict[str, tuple[CompiledPack, pa.Table]],
) -> None:
    """A missing fact (or the volume ``min_orders`` checks) would assess no one: an error."""
    pack, facts = populations["amazon"]
    for dropped in ("order_defect_rate", "order_defect_rate__den"):
        with pytest.raises(FactsError, match=f"lacks {dropped}, which rule 'odr-over-target'"):
            sweep(pack, "odr-over-target", facts.drop_columns([dropped]), AS_OF, [0.01])
    kept = facts.drop_columns(["order_defect_rate__den"])
    assert sweep(pack, "late-shipment-30d", kept, AS_OF, []).current_fired > 0


def test_cli_current_count_equals_evaluate_decisions(source: Path, tmp_path: Path) -> None:
    """``sellerpolicy sweep`` at the current threshold gives the number of ``matched``
    outcomes in the decision file ``sellerpolicy evaluate`` writes, for two packs."""
    for pack, rule in [("amazon", "odr-over-target"), ("walmart", "cancellation-over-standard")]:
        out = tmp_path / f"{pack}.arrows"
        done = run_cli(
            "evaluate", "--pack", pack, "--source", source, "--as-of", AS_OF, "--out", out
        )
        assert done.returncode == 0, done.stderr
        with pa.ipc.open_stream(out) as reader:
            outcomes = reader.read_all().column(f"rule:{rule}.outcome").to_pylist()
        matched = outcomes.count(Outcome.MATCHED.value)
        assert matched > 0
        chart = tmp_path / f"{pack}-sweep.png"
        done = run_cli(
            "sweep", "--pack", pack, "--rule", rule, "--source", source, "--as-of", AS_OF,
            "--from", "0.5%", "--to", "3%", "--steps", "5", "--format", "json", "--chart", chart,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)
        assert document["current_fired"] == matched
        steps = {s["threshold"]: s["fired"] for s in document["steps"]}
        assert steps[document["current_threshold"]] == matched
        assert len(steps) == 6  # 5 evenly spaced (0.5%, 1.125%... 3%) and the current one
        assert document["sellers"] == len(outcomes)
        assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        rejects = tmp_path / f"{pack}-sweep.rejects.jsonl"
        assert len(rejects.read_text(encoding="utf-8").splitlines()) == document["rejects"] > 0
        assert f"chart written to {chart}" in done.stderr


def test_cli_table_marks_the_current_row_and_csv_lists_steps(source: Path, tmp_path: Path) -> None:
    """Text: one row per threshold, the current one marked, changes against it; CSV:
    ``threshold,fired`` with whole thresholds for a count; an SVG chart by extension."""
    common = ["sweep", "--pack", "ebay", "--rule", "below-standard-defects-12m",
              "--source", source, "--as-of", AS_OF]  # fmt: skip
    chart = tmp_path / "count.svg"
    done = run_cli(
        *common, "--metric", "transaction_defect_rate_12m__num", "--from", "1", "--to", "12",
        "--format", "csv", "--chart", chart,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["threshold", "fired"]
    assert [r[0] for r in rows[1:]] == [str(n) for n in range(1, 13)]
    fired = [int(r[1]) for r in rows[1:]]
    assert fired == sorted(fired, reverse=True)  # ``>=``: a higher count fires on fewer
    assert chart.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    done = run_cli(
        *common, "--metric", "transaction_defect_rate_12m", "--from", "1%", "--to", "4%",
        "--steps", "4", "--chart", tmp_path / "rate.png",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = [line for line in done.stdout.splitlines() if "%" in line and "│" in line]
    assert [row.split("│")[1].strip() for row in table] == ["1%", "2%", "3%", "4%"]
    assert ["<- current" in row for row in table] == [False, True, False, False]
    assert "+" in table[0]
    assert all(" -" in row for row in table[2:])
    assert "at the current threshold 2% the rule fires on" in " ".join(done.stdout.split())
    assert (tmp_path / "rate.rejects.jsonl").exists()


def test_cli_without_a_chart_writes_rejects_in_the_current_folder(
    source: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MAIN, "sweep", "--pack", "amazon", "--rule", "odr-over-target",
         "--source", str(source), "--as-of", str(AS_OF), "--from", "0.5%", "--to", "2%"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rejects = tmp_path / "sweep.rejects.jsonl"
    assert f"rejected input rows: {len(rejects.read_text().splitlines())} " in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rule", "below-standard-defects-12m"], "Invalid value for --metric: rule"),
        (
            ["--rule", "below-standard-defects-12m", "--metric", "nope"],
            "compares no metric 'nope'",
        ),
        (["--rule", "nope"], "Invalid value for --rule: pack 'ebay-seller-standards'"),
        (
            ["--rule", "top-rated-12m", "--metric", "orders_12m", "--from", "1%"],
            "Invalid value for --from: '1%': orders_12m is not a rate",
        ),
        (
            ["--rule", "top-rated-12m", "--metric", "orders_12m", "--from", "500"],
            "--from 500 is not below --to 400",
        ),
        (
            ["--rule", "top-rated-12m", "--metric", "orders_12m", "--steps", "1"],
            "Invalid value for '--steps': 1 is not in the range 2<=x<=1000",
        ),
        (
            ["--rule", "top-rated-12m", "--metric", "orders_12m", "--chart", "sweep.gif"],
            "a chart is written as .svg or .png",
        ),
    ],
)
def test_cli_unusable_options_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    """Each is one ``error:`` line, before any data is read (the source does not exist)."""
    base = {"--from": "10", "--to": "400"}
    for i in range(0, len(args), 2):
        base.pop(args[i], None)
    done = run_cli(
        "sweep", "--pack", "ebay", "--source", tmp_path / "missing", "--as-of", AS_OF,
        *args, *(x for pair in base.items() for x in pair),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ")
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
