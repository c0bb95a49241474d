"""Both directions at scale: a generated marketplace written as Amazon's reports and
imported gives the metrics of the same marketplace's contract tables on every metric
the reports carry (2,000 sellers), and every deliberately broken line is rejected
with the code it was broken for, at its file and line."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from importkit import ROOT, load

from sellerpolicy.engine.generate.amazon_reports import generate_amazon_reports
from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.importers.amazon_reports import account_folders, import_amazon_reports
from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.rules import load_pack
from sellerpolicy.rules.model import CompiledPack

AS_OF = date(2026, 11, 1)
SELLERS = 2_000
CARRIED = load_pack(ROOT / "tests" / "importers" / "carried-pack.yaml")


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The contract tables and the reports of one seed, and the reports imported."""
    root = tmp_path_factory.mktemp("roundtrip")
    generate(sellers=SELLERS, days=100, seed=21, as_of=AS_OF, out=root / "tables", broken_share=0)
    reports = generate_amazon_reports(
        sellers=SELLERS, days=100, seed=21, as_of=AS_OF, out=root / "reports", broken_share=0.0005
    )
    imported = import_amazon_reports(account_folders(root / "reports"), root / "imported")
    return {"root": root, "reports": reports, "imported": imported}


def _metrics(folder: Path, pack: CompiledPack) -> dict[str, dict[str, Any]]:
    con, report = load(folder)
    try:
        table = compute_metrics(con, pack.metrics, AS_OF).table
    finally:
        con.close()
    return {str(r["seller_id"]): r for r in table.to_pylist()} | {"__rejects": report.rejects}


@pytest.mark.slow
def test_round_trip_gives_the_same_metrics_on_every_carried_metric(
    marketplace: dict[str, Any],
) -> None:
    """Orders (two windows), negative feedback (up to 2 and up to 3 stars), gross sales,
    sales growth and return rate (every reason, and the seller's faults only), with
    their counts, agree for every seller with orders."""
    root = marketplace["root"]
    tables = _metrics(root / "tables", CARRIED)
    imported = _metrics(root / "imported", CARRIED)
    assert imported.pop("__rejects") == ()  # the imported source is valid as written
    tables.pop("__rejects")
    with_orders = {s for s, r in tables.items() if r["orders"] or r["orders_30d_lag_7d"]}
    assert set(imported) >= with_orders
    assert len(with_orders) > SELLERS * 0.9
    differences = []
    for seller, ours in imported.items():
        theirs = tables[seller]
        for name, value in ours.items():
            other = theirs[name]
            same = (
                math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-9)
                if isinstance(value, float) and isinstance(other, float)
                else value == other
            )
            if not same:
                differences.append((seller, name, value, other))
    assert differences == []
    negative = sum(r["negative_feedback_rate__num"] or 0 for r in imported.values())
    assert negative > 100  # the comparison is not over empty metrics
    returned = sum(r["return_rate__num"] or 0 for r in imported.values())
    faults = sum(r["return_rate_defects__num"] or 0 for r in imported.values())
    assert returned > faults > 100


@pytest.mark.slow
def test_every_broken_line_is_rejected_where_it_was_broken(marketplace: dict[str, Any]) -> None:
    """The injected lines and the rejects are the same (file, line, code) triples."""
    injected = {(str(i.file), i.line, i.code) for i in marketplace["reports"].injected}
    rejected = {(r.file, r.line, r.code) for r in marketplace["imported"].rejects}
    assert injected
    assert rejected == injected


@pytest.mark.slow
def test_the_amazon_pack_counts_the_same_orders(marketplace: dict[str, Any]) -> None:
    """On the shipped pack, the one use the reports carry (orders) agrees too."""
    pack = load_pack("amazon")
    root = marketplace["root"]
    tables = _metrics(root / "tables", pack)
    imported = _metrics(root / "imported", pack)
    tables.pop("__rejects")
    imported.pop("__rejects")
    assert imported
    assert all(tables[s]["orders"] == r["orders"] for s, r in imported.items())
