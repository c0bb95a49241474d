"""Facts from files and requests are checked like rows are: counts, rates and averages
that contradict each other never reach a decision ("headroom -990")."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runkit import AS_OF, healthy_facts, run_cli

from sellerpolicy.engine.metrics.checks import fact_problems, maybe_contradictory
from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.metrics.facts import as_of_instant
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.rules import load_pack
from sellerpolicy.rules.catalog import MetricKind

PACK = load_pack("amazon")
ODR = "order_defect_rate"


def _facts(**changes: object) -> dict[str, Any]:
    return {**healthy_facts(PACK, "S1", AS_OF), **changes}


CONTRADICTIONS = {
    "negative_orders": ({"orders": -5}, "orders"),
    "fractional_orders": ({"orders": 2.5}, "orders"),
    "rate_not_num_over_den": (
        {ODR: 0.0, f"{ODR}__num": 1000, f"{ODR}__den": 2000},
        ODR,
    ),
    "num_above_den": ({ODR: 1.5, f"{ODR}__num": 30, f"{ODR}__den": 20}, f"{ODR}__num"),
    "negative_num": ({ODR: None, f"{ODR}__num": -1, f"{ODR}__den": 0}, f"{ODR}__num"),
    "value_with_empty_den": ({ODR: 0.0, f"{ODR}__num": 0, f"{ODR}__den": 0}, ODR),
    "null_value_with_den": ({ODR: None, f"{ODR}__num": 2, f"{ODR}__den": 200}, ODR),
    "num_without_den": ({ODR: 0.01, f"{ODR}__num": 2, f"{ODR}__den": None}, f"{ODR}__den"),
    "rate_above_one_without_counts": (
        {ODR: 1.2, f"{ODR}__num": None, f"{ODR}__den": None},
        ODR,
    ),
}


@pytest.mark.parametrize(("changes", "field"), CONTRADICTIONS.values(), ids=CONTRADICTIONS.keys())
def test_contradiction_is_named(changes: dict[str, object], field: str) -> None:
    problems = fact_problems(_facts(**changes), PACK)
    assert problems
    assert problems[0].field == field


def test_consistent_facts_pass() -> None:
    assert fact_problems(_facts(), PACK) == []
    rate_alone = {ODR: 0.004, f"{ODR}__num": None, f"{ODR}__den": None}
    assert fact_problems(_facts(**rate_alone), PACK) == []  # a report's rate without counts
    ebay = load_pack("aliexpress")
    averages = [u for u in ebay.metrics if u.kind.value == "average"]
    if averages:
        name = averages[0].name
        bad = {name: 6.0, f"{name}__num": 1200.0, f"{name}__den": 200}
        assert [p.field for p in fact_problems(bad, ebay)] == [name]


def test_facts_computed_from_a_source_never_contradict(small_source: Path) -> None:
    """What `sellerpolicy metrics` writes passes the checks, for every shipped pack."""
    for name in ("amazon", "amazon-2015", "aliexpress", "ebay", "walmart"):
        pack = load_pack(name)
        con = duckdb.connect()
        load_source(small_source, con)
        table = compute_metrics(con, pack.metrics, as_of_instant(AS_OF)).table
        for record in table.to_pylist():
            assert fact_problems(record, pack) == [], (name, record["seller_id"])
        batch = table.to_batches()[0] if table.num_rows else None
        if batch is not None:
            assert not maybe_contradictory(batch, pack).any()


NUMBERS = st.one_of(
    st.none(),
    st.integers(-3, 50),
    st.floats(-1, 60, allow_nan=False),
    st.sampled_from([0.0, 0.5, 1.0, 0.25]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(NUMBERS, NUMBERS, NUMBERS, NUMBERS), min_size=1, max_size=20))
def test_batch_prefilter_flags_every_contradictory_row(
    rows: list[tuple[object, object, object, object]],
) -> None:
    """The vectorised prefilter of the columnar reader is a superset of the row check."""
    records = [
        {**_facts(), "orders": o, ODR: v, f"{ODR}__num": n, f"{ODR}__den": d} for o, v, n, d in rows
    ]
    cleaned = [{k: (float(x) if isinstance(x, int) else x) for k, x in r.items()} for r in records]
    batch = pa.RecordBatch.from_pylist(cleaned)
    flags = maybe_contradictory(batch, PACK)
    for index, record in enumerate(records):
        if fact_problems(record, PACK):
            assert flags[index], record


@pytest.mark.parametrize(
    ("backend", "out"),
    [("python", "d.jsonl"), ("vector", "d.arrows"), ("vector", "d.jsonl")],
)
def test_contradictory_facts_row_is_a_reject_and_the_run_goes_on(
    tmp_path: Path, backend: str, out: str
) -> None:
    """Row and columnar readers both leave out `orders: -5` and a rate that is not
    num/den, each a reject naming the 1-based row and the field; the other sellers
    are decided."""
    rate = {ODR: 0.0, f"{ODR}__num": 1000, f"{ODR}__den": 2000}
    rows = [_facts(), _facts(orders=-5), _facts(), _facts(**rate)]
    for i, row in enumerate(rows):
        row["seller_id"] = f"S{i + 1}"
    facts = tmp_path / "facts.jsonl"
    facts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = run_cli(
        "evaluate", "--pack", "amazon", "--facts", facts, "--as-of", AS_OF.isoformat(),
        "--out", tmp_path / out, "--backend", backend,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rejects = [json.loads(line) for line in (tmp_path / "d.rejects.jsonl").read_text().splitlines()]
    assert [(r["table"], r["row"], r["column"]) for r in rejects] == [
        ("facts", 2, "orders"),
        ("facts", 4, ODR),
    ]
    assert rejects[0]["reason"].startswith("contradictory_fact: orders is -5")
    assert "0.5" in rejects[1]["reason"]
    assert (tmp_path / out).exists()
    strict = run_cli(
        "evaluate", "--pack", "amazon", "--facts", facts, "--as-of", AS_OF.isoformat(),
        "--out", tmp_path / f"strict-{out}", "--backend", backend, "--strict",
    )  # fmt: skip
    assert strict.returncode == 1
    assert not (tmp_path / f"strict-{out}").exists()


def test_library_readers_raise_without_a_rejects_list(tmp_path: Path) -> None:
    """read_facts called without ``rejected`` refuses the row, naming file, row, field."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    from sellerpolicy.engine.batch.facts_file import read_facts_columns  # noqa: PLC0415
    from sellerpolicy.engine.errors import FactsError  # noqa: PLC0415

    rows = [_facts(), {**_facts(**{ODR: 0.0, f"{ODR}__num": 1000, f"{ODR}__den": 2000})}]
    rows[1]["seller_id"] = "S2"
    facts = tmp_path / "facts.parquet"
    pq.write_table(pa.Table.from_pylist(rows), facts)
    _, batches = read_facts_columns(facts, PACK, as_of_instant(AS_OF), chunk_size=10)
    with pytest.raises(FactsError, match=f"row 2: {ODR} is 0.0 but"):
        list(batches)


def test_growth_must_equal_its_counts() -> None:
    """Growth carries __num (current minus previous sum) and __den (previous sum)."""
    name = "sales_growth_rate"
    use = replace(PACK.metrics[1], name=name, metric=name, kind=MetricKind.GROWTH)
    pack = replace(PACK, metrics=(*PACK.metrics, use))
    good = {name: -0.25, f"{name}__num": -50.0, f"{name}__den": 200.0}
    assert fact_problems(_facts(**good), pack) == []
    bad = {name: 0.5, f"{name}__num": -50.0, f"{name}__den": 200.0}
    assert [p.field for p in fact_problems(_facts(**bad), pack)] == [name]
    empty = {name: 0.1, f"{name}__num": 10.0, f"{name}__den": 0.0}
    assert [p.field for p in fact_problems(_facts(**empty), pack)] == [name]
    alone = {name: 0.1, f"{name}__num": None, f"{name}__den": None}
    assert fact_problems(_facts(**alone), pack) == []
