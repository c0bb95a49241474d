"""reconcile: computed metrics against reported ones. Facts perturbed on purpose are
found exactly (those sellers, those metrics, nothing else); metrics the source's
reports do not carry are never compared; definitions that differ are reported."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from importkit import ORDER_COLUMNS, amazon_example, order_line, run_main, write_json, write_report

from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.importers.amazon_reports import AccountReports, import_amazon_reports
from sellerpolicy.engine.importers.reconcile import Status, reconcile
from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.rules import load_pack
from sellerpolicy.rules.catalog import counts_in_facts

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
PACK = load_pack("amazon")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("recon") / "source"
    generate(sellers=300, days=100, seed=11, as_of=AS_OF.date(), out=out, broken_share=0)
    return out


@pytest.fixture(scope="module")
def computed(source: Path) -> list[dict[str, Any]]:
    with duckdb.connect() as con:
        load_source(source, con)
        rows: list[dict[str, Any]] = compute_metrics(con, PACK.metrics, AS_OF).table.to_pylist()
    return rows


def _perturb(
    rows: list[dict[str, Any]], seed: int
) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    """Copies of ``rows`` with one count moved in some sellers' metrics: the perturbed
    (seller, metric) pairs."""
    rng = random.Random(seed)
    out = [dict(r) for r in rows]
    changed: set[tuple[str, str]] = set()
    for row in rng.sample(out, 12):
        use = rng.choice([u for u in PACK.metrics if counts_in_facts(u.kind)])
        num, den = row[f"{use.name}__num"], row[f"{use.name}__den"]
        if not den or num == den:
            continue
        row[f"{use.name}__num"] = num + 1
        row[use.name] = (num + 1) / den
        changed.add((row["seller_id"], use.name))
    for row in rng.sample(out, 5):
        row["orders"] += 3
        changed.add((row["seller_id"], "orders"))
    return out, changed


def _write(rows: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_perturbed_facts_are_found_exactly(
    source: Path, computed: list[dict[str, Any]], tmp_path: Path, seed: int
) -> None:
    """The rows reported different are exactly the perturbed sellers and metrics;
    every other comparison is equal."""
    rows, changed = _perturb(computed, seed)
    assert changed
    result = reconcile(source, _write(rows, tmp_path / "r.jsonl"), PACK, AS_OF)
    assert {(r.seller_id, r.metric) for r in result.different} == changed
    assert {r.status for r in result.rows} == {Status.EQUAL, Status.DIFFERENT}
    first = next(r for r in result.different if r.metric != "orders")
    assert first.reported.num == (first.computed.num or 0) + 1
    assert first.reported.den == first.computed.den


def test_unchanged_facts_agree_and_a_small_change_is_within_tolerance(
    source: Path, computed: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The computed facts themselves reconcile equal; a rate moved by 0.0001 (no counts)
    is within the default tolerance, by 0.01 it is different."""
    assert not reconcile(source, _write(computed, tmp_path / "same.jsonl"), PACK, AS_OF).different
    rows = [dict(r) for r in computed]
    row = next(r for r in rows if r["valid_tracking_rate"] is not None)
    row["valid_tracking_rate__num"] = row["valid_tracking_rate__den"] = None
    row["valid_tracking_rate"] -= 0.0001
    result = reconcile(source, _write(rows, tmp_path / "near.jsonl"), PACK, AS_OF)
    (near,) = [r for r in result.rows if r.status is Status.WITHIN_TOLERANCE]
    assert (near.seller_id, near.metric) == (row["seller_id"], "valid_tracking_rate")
    row["valid_tracking_rate"] -= 0.01
    result = reconcile(source, _write(rows, tmp_path / "far.jsonl"), PACK, AS_OF)
    assert [(r.seller_id, r.metric) for r in result.different] == [
        (row["seller_id"], "valid_tracking_rate")
    ]


def test_cli_exits_1_on_differences_and_writes_every_comparison(
    source: Path, computed: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Exit 1 and the differing rows printed; --out holds one row per seller and use."""
    rows, changed = _perturb(computed, 4)
    reported = _write(rows, tmp_path / "reported.jsonl")
    out = tmp_path / "reconcile.jsonl"
    done = run_main(
        "reconcile", "--source", source, "--reported", reported, "--pack", "amazon",
        "--as-of", "2026-11-01", "--out", out,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(written) == len(computed) * len(PACK.metrics)
    assert {(r["seller_id"], r["metric"]) for r in written if r["status"] == "different"} == changed
    assert "different: " in done.stdout
    same = _write(computed, tmp_path / "same.jsonl")
    done = run_main(
        "reconcile", "--source", source, "--reported", same, "--pack", "amazon",
        "--as-of", "2026-11-01",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_reported_facts_of_another_day_are_refused(
    source: Path, computed: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Both sides must be as of the same day: exit 2, one line."""
    reported = _write(computed, tmp_path / "r.jsonl")
    done = run_main(
        "reconcile", "--source", source, "--reported", reported, "--pack", "amazon",
        "--as-of", "2026-10-31",
    )  # fmt: skip
    assert done.returncode == 2
    assert "facts are as of 2026-11-01, not 2026-10-31" in done.stderr


def test_an_imported_source_is_compared_on_what_its_reports_carry(tmp_path: Path) -> None:
    """A source imported from order reports has no shipments: its late shipment rates
    are not compared (not_carried), its order counts are."""
    orders = write_report(
        tmp_path / "o.txt",
        ORDER_COLUMNS,
        [order_line(f"O{i}", f"2026-10-{i + 1:02d}T10:00:00Z") for i in range(20)],
    )
    source = tmp_path / "source"
    import_amazon_reports([AccountReports("S1", (orders,))], source)
    facts = {u.name: None for u in PACK.metrics}
    row = {"seller_id": "S1", "as_of": "2026-11-01", **facts, "orders": 20}
    row["late_shipment_rate_30d"] = 0.5
    result = reconcile(source, _write([row], tmp_path / "r.jsonl"), PACK, AS_OF)
    status = {r.metric: r.status for r in result.rows}
    assert status["orders"] is Status.EQUAL
    assert status["late_shipment_rate_30d"] is Status.NOT_CARRIED
    assert not result.different
    sources = {n.metric: n.reported for n in result.definitions if n.aspect == "source"}
    assert "ship confirmation" in sources["late_shipment_rate_30d"]


def test_definitions_name_reported_windows_and_what_they_count(tmp_path: Path) -> None:
    """Amazon's example, imported, against a source: its ODR window ends 15 days before
    as_of and its on-time delivery covers 30 days where the pack's covers 14 (lagged 7);
    what the report counts is set against the pack's knobs."""
    report = write_json(tmp_path / "A1B2C3.json", amazon_example())
    reported = tmp_path / "reported.jsonl"
    done = run_main("import", "amazon-account-health", report, "--out", reported)
    assert done.returncode == 0, done.stderr
    orders = write_report(tmp_path / "o.txt", ORDER_COLUMNS, [order_line("1", "2020-10-01")])
    source = tmp_path / "source"
    import_amazon_reports([AccountReports("A1B2C3", (orders,))], source)
    as_of = datetime(2020, 11, 20, tzinfo=UTC)
    result = reconcile(source, reported, PACK, as_of)
    windows = {n.metric: (n.pack, n.reported) for n in result.definitions if n.aspect == "window"}
    assert windows["order_defect_rate"] == (
        "60 d ending at as_of",
        "60 d ending at as_of, lagged 15 d",
    )
    assert windows["on_time_delivery_rate"] == (
        "14 d ending at as_of, lagged 7 d",
        "30 d ending at as_of, lagged 10 d",
    )
    assert "late_shipment_rate_30d" not in windows  # the same 30 days, ending at as_of
    counts = {n.metric: (n.pack, n.reported) for n in result.definitions if n.aspect == "counts"}
    pack_side, reported_side = counts["order_defect_rate"]
    assert "claim_statuses: granted, refunded" in pack_side
    assert "Amazon decides" in reported_side


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_reported_facts_in_csv_and_parquet(
    source: Path, computed: list[dict[str, Any]], tmp_path: Path, suffix: str
) -> None:
    """Any facts file format; seller ids stay text in CSV."""
    table = pa.Table.from_pylist(computed)
    path = tmp_path / f"reported{suffix}"
    if suffix == ".csv":
        pa_csv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    result = reconcile(source, path, PACK, AS_OF)
    assert result.sellers_reported == len(computed)
    assert not result.different
