"""The impact report agrees with two separate evaluations, seller by seller.

A generated marketplace is judged by the 2015 Amazon rules and the current
ones: the transition matrix, the firings per rule and the enforced actions
per (rule, action) must be what two ``evaluate`` runs give when joined by
seller, and the changed sellers exactly those whose status or enforced
actions differ. The two packs define ``order_defect_rate`` with different
windows, so the population computes metrics once per pack.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from run.runkit import healthy_facts, run_cli

from sellerpolicy.engine.batch.run import run_evaluation
from sellerpolicy.engine.change.html import render_html
from sellerpolicy.engine.change.impact import impact
from sellerpolicy.engine.change.population import (
    population_from_facts,
    population_from_source,
    population_from_table,
    shared_uses,
)
from sellerpolicy.engine.errors import FactsError
from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.metrics.facts import as_of_instant
from sellerpolicy.rules import load_pack
from sellerpolicy.rules.model import CompiledPack

AS_OF = date(2026, 11, 1)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("market") / "src"
    generate(sellers=800, days=120, seed=7, as_of=AS_OF, out=out)
    return out


@pytest.fixture(scope="module")
def stricter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped amazon pack with two thresholds moved (ODR 1% -> 0.8%, LSR30 4% -> 3%)."""
    folder = tmp_path_factory.mktemp("packs") / "stricter"
    shutil.copytree(ROOT / "policies" / "amazon", folder)
    text = (folder / "pack.yaml").read_text(encoding="utf-8")
    for old, new in [
        (f"version: {load_pack('amazon').version}", "version: 2099.1.0"),
        ("{metric: order_defect_rate, gte: 1%}", "{metric: order_defect_rate, gte: 0.8%}"),
        ("{metric: late_shipment_rate_30d, gte: 4%}", "{metric: late_shipment_rate_30d, gte: 3%}"),
    ]:
        assert old in text
        text = text.replace(old, new)
    (folder / "pack.yaml").write_text(text, encoding="utf-8")
    return folder


def _decisions(pack: CompiledPack, source: Path, out: Path) -> dict[str, dict[str, object]]:
    run_evaluation(pack, source=source, as_of=AS_OF, out=out)
    lines = out.read_text(encoding="utf-8").splitlines()
    return {d["seller_id"]: d for d in map(json.loads, lines)}


def _enforced(decision: dict[str, object]) -> frozenset[str]:
    return frozenset(a["action"] for a in decision["actions"] if a["enforced"])  # type: ignore[attr-defined, index]


def test_report_agrees_with_two_evaluations_joined_by_seller(source: Path, tmp_path: Path) -> None:
    new, old = load_pack("amazon"), load_pack("amazon-2015")
    assert shared_uses([new, old]) is None  # metrics computed per pack
    population = population_from_source(source, [new, old], as_of_instant(AS_OF))
    report = impact(new, old, population, AS_OF)

    after = _decisions(new, source, tmp_path / "new.jsonl")
    before = _decisions(old, source, tmp_path / "old.jsonl")
    assert set(after) == set(before)
    assert report.sellers == len(after)
    assert sum(map(sum, report.matrix)) == len(after)

    labels = list(report.statuses)
    cells = Counter(
        (labels.index(before[s]["status"]), labels.index(after[s]["status"])) for s in after
    )
    expected = [[cells[i, j] for j in range(len(labels))] for i in range(len(labels))]
    assert [list(row) for row in report.matrix] == expected
    assert report.matrix != ((0,) * 3,) * 3

    changed = {
        s
        for s in after
        if before[s]["status"] != after[s]["status"] or _enforced(before[s]) != _enforced(after[s])
    }
    assert changed
    assert set(report.changed.column("seller_id").to_pylist()) == changed
    rows = {r["seller_id"]: r for r in report.changed.to_pylist()}
    for seller in changed:
        assert rows[seller]["status_before"] == before[seller]["status"]
        assert set(rows[seller]["actions_after"]) == _enforced(after[seller])

    def fired(decisions: dict[str, dict[str, object]]) -> Counter[str]:
        return Counter(
            r["rule"]
            for d in decisions.values()
            for r in d["rules"]  # type: ignore[attr-defined]
            if r["outcome"] == "matched"
        )

    fired_before, fired_after = fired(before), fired(after)
    for count in report.rules:
        if count.fired_before is not None:
            assert count.fired_before == fired_before[count.rule], count.rule
        if count.fired_after is not None:
            assert count.fired_after == fired_after[count.rule], count.rule

    def pairs(decisions: dict[str, dict[str, object]]) -> Counter[tuple[str, str]]:
        return Counter(
            (a["rule"], a["action"])
            for d in decisions.values()
            for a in d["actions"]  # type: ignore[attr-defined]
            if a["enforced"]
        )

    per_rule = {(a.rule, a.action): a for a in report.actions if a.rule is not None}
    assert {k: v.before for k, v in per_rule.items() if v.before} == dict(pairs(before))
    assert {k: v.after for k, v in per_rule.items() if v.after} == dict(pairs(after))


def test_changed_sellers_are_explained_most_serious_first(source: Path) -> None:
    new, old = load_pack("amazon"), load_pack("amazon-2015")
    population = population_from_source(source, [new, old], as_of_instant(AS_OF))
    report = impact(new, old, population, AS_OF, explain_limit=25)
    assert len(report.explained) == min(25, report.changed.num_rows)
    statuses = list(report.statuses)
    order = [statuses.index(s) for s in report.changed.column("status_after").to_pylist()]
    assert order == sorted(order, reverse=True)
    listed = report.changed.column("seller_id").to_pylist()[:25]
    assert [c.seller_id for c in report.explained] == listed
    for seller in report.explained:
        for side in (seller.before, seller.after):
            for item in side.actions:
                assert item["explanation"], seller.seller_id
        assert seller.before.status != seller.after.status or (
            {a["action"] for a in seller.before.actions}
            != {a["action"] for a in seller.after.actions}
        )
    # the distance to compliance under the new pack, where the rule has one
    assert any(r["distance"] for c in report.explained for r in c.after.reasons)


def test_moved_thresholds_show_the_metric_spread(source: Path, stricter: Path) -> None:
    new, old = load_pack(stricter), load_pack("amazon")
    population = population_from_source(source, [new, old], as_of_instant(AS_OF))
    assert population.tables[0] is population.tables[1]  # same uses: metrics computed once
    report = impact(new, old, population, AS_OF)
    moved = {t.rule: t for t in report.thresholds}
    assert set(moved) == {"odr-over-target", "late-shipment-30d"}
    odr = moved["odr-over-target"]
    assert (odr.old, odr.new, odr.percent) == (0.01, 0.008, True)
    values = population.tables[0].column("order_defect_rate").to_numpy(zero_copy_only=False)
    values = values[np.isfinite(values.astype(float))]
    assert odr.measured == values.size
    assert sum(odr.counts) == odr.measured
    assert odr.between == int(((values >= 0.008) & (values <= 0.01)).sum())
    assert len(odr.edges) == len(odr.counts) + 1
    # a stricter pack only ever adds actions: nobody improves
    grid = report.matrix
    assert all(grid[i][j] == 0 for i in range(3) for j in range(3) if j < i)
    assert [c.text() for c in report.changes if c.section == "rules"] == [
        "rule late-shipment-30d condition: late_shipment_rate_30d >= 4% -> "
        "late_shipment_rate_30d >= 3%",
        "rule odr-over-target condition: order_defect_rate >= 1% -> order_defect_rate >= 0.8%",
    ]


def test_same_pack_changes_nobody(source: Path) -> None:
    pack = load_pack("amazon")
    report = impact(
        pack, pack, population_from_source(source, [pack, pack], as_of_instant(AS_OF)), AS_OF
    )
    assert report.changed.num_rows == 0
    assert report.changes == ()
    assert all(report.matrix[i][j] == 0 for i in range(3) for j in range(3) if i != j)


def test_facts_file_lacking_a_field_of_either_pack_is_one_clear_error(
    source: Path, tmp_path: Path
) -> None:
    facts = tmp_path / "facts.parquet"
    result = run_cli(
        "metrics", "--pack", "amazon", "--source", source, "--as-of", AS_OF, "--out", facts
    )
    assert result.returncode == 0, result.stderr
    new, old = load_pack("amazon"), load_pack("amazon-2015")
    with pytest.raises(FactsError, match=r"late_shipment_rate.*amazon-seller-performance-2015"):
        population_from_facts(facts, [new, old], as_of_instant(AS_OF))
    cli = run_cli(
        "impact", "--pack", "amazon", "--baseline", "amazon-2015", "--facts", facts,
        "--as-of", AS_OF, "--out", tmp_path / "r.json",
    )  # fmt: skip
    assert cli.returncode == 2
    assert cli.stderr.count("error:") == 1
    assert "missing field(s)" in cli.stderr
    assert "amazon-seller-performance-2015" in cli.stderr
    assert not (tmp_path / "r.json").exists()


def test_untrusted_seller_ids_are_escaped_in_the_html(stricter: Path) -> None:
    old, new = load_pack("amazon"), load_pack(stricter)
    hostile = '<img src=x onerror="alert(1)">'
    rows = [healthy_facts(old, seller, AS_OF) for seller in (hostile, "S2")]
    rows[0] |= {
        "orders": 2000,
        "order_defect_rate": 0.009,
        "order_defect_rate__num": 18,
        "order_defect_rate__den": 2000,
    }
    table = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "as_of"} for r in rows])
    report = impact(new, old, population_from_table(table, [new, old]), AS_OF)
    assert report.changed.column("seller_id").to_pylist() == [hostile]
    page = render_html(report)
    assert hostile not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "<script" not in page
    with pytest.raises(FactsError, match="missing field"):
        population_from_table(table.drop_columns(["valid_tracking_rate"]), [new, old])


def test_cli_writes_json_and_a_self_contained_html_page(
    source: Path, stricter: Path, tmp_path: Path
) -> None:
    out, html = tmp_path / "impact.json", tmp_path / "impact.html"
    result = run_cli(
        "impact", "--pack", stricter, "--baseline", "amazon", "--source", source,
        "--as-of", AS_OF, "--out", out, "--html", html,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "What the policy change does" in result.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert sum(map(sum, report["statuses"]["matrix"])) == report["sellers"]
    assert report["changed_sellers"]["count"] == len(report["changed_sellers"]["sellers"]) > 0
    assert {t["rule"] for t in report["thresholds"]} == {"odr-over-target", "late-shipment-30d"}
    page = html.read_text(encoding="utf-8")
    assert page.count('src="data:image/svg+xml;base64,') == 2
    assert "<script" not in page
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "odr-over-target" in page
    assert (tmp_path / "impact.rejects.jsonl").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "x", "--facts", "y"], "exactly one of --source, --facts and --replay"),
        (["--source", "x", "--since", "2026-01-01"], "--since applies to --replay only"),
        (["--source", "x", "--out", "r.txt"], "the report is written as .json"),
        (["--source", "x", "--pack", "nope@1"], "give --store"),
    ],
)
def test_cli_refuses_bad_options_with_one_line(args: list[str], message: str) -> None:
    options = {"--pack": "amazon", "--baseline": "amazon", "--as-of": "2026-11-01"}
    options["--out"] = "r.json"
    options.update(zip(args[::2], args[1::2], strict=True))
    result = run_cli("impact", *(word for pair in options.items() for word in pair))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("error:") == 1
