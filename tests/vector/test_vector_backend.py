"""The vectorized back end's contract and the columnar decision writer."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sellerpolicy.engine.columnar.backend import VectorBackend
from sellerpolicy.engine.columnar.decisions import (
    decisions_from_batch,
    evaluate_batches,
    evaluate_table,
    write_decisions,
)
from sellerpolicy.engine.columnar.typed import record_schema
from sellerpolicy.engine.columnar.typed_rows import decisions_from_records
from sellerpolicy.engine.evaluation.backends.python import PythonBackend
from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.rules import load_pack, resolve_pack
from sellerpolicy.rules.model import (
    AllOf,
    AnyOf,
    Compare,
    CompiledPack,
    Field,
    NotOf,
    Op,
    Rule,
    Severity,
)

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def _pack(*rules: Rule) -> CompiledPack:
    base = load_pack(resolve_pack("amazon-2015"))
    return CompiledPack(
        id="t",
        title="t",
        marketplace="t",
        version="1",
        digest="sha256:t",
        mode=base.mode,
        metrics=base.metrics,
        rules=rules,
        status_map=base.status_map,
    )


def _rule(rule_id: str, when: object) -> Rule:
    return Rule(rule_id, rule_id, when, ("warn",), Severity.LOW, "x")  # type: ignore[arg-type]


def test_null_fact_never_matches_even_under_not() -> None:
    """A rule reading a null fact does not match, whatever its not nodes say."""
    leaf = Compare("order_defect_rate", Op.GTE, 0.01)
    pack = _pack(_rule("neg", NotOf(leaf)), _rule("pos", leaf))
    sellers = [
        SellerFacts("a", AS_OF, {"order_defect_rate": None}),
        SellerFacts("b", AS_OF, {}),
        SellerFacts("c", AS_OF, {"order_defect_rate": 0.0}),
        SellerFacts("d", AS_OF, {"order_defect_rate": 0.01}),
    ]
    assert VectorBackend().match(pack, sellers) == [
        frozenset(),
        frozenset(),
        frozenset({"neg"}),
        frozenset({"pos"}),
    ]


def test_agrees_with_python_backend_on_nested_conditions() -> None:
    """all / any / not and count leaves give the plain-Python answers on non-null facts."""
    when = AnyOf(
        (
            AllOf(
                (
                    Compare("refund_rate", Op.GT, 0.05),
                    Compare("refund_rate", Op.GTE, 3, Field.COUNT),
                )
            ),
            NotOf(Compare("orders", Op.GTE, 10)),
            Compare("late_shipment_rate", Op.EQ, 0.04),
        )
    )
    pack = _pack(_rule("r", when))
    sellers = [
        SellerFacts(
            f"s{i}",
            AS_OF,
            {
                "refund_rate": rate,
                "refund_rate__num": num,
                "orders": orders,
                "late_shipment_rate": late,
            },
        )
        for i, (rate, num, orders, late) in enumerate(
            [(0.06, 3, 100, 0.0), (0.06, 2, 100, 0.0), (0.0, 0, 9, 0.0), (0.0, 0, 10, 0.04)]
        )
    ]
    assert VectorBackend().match(pack, sellers) == PythonBackend().match(pack, sellers)
    assert [bool(m) for m in VectorBackend().match(pack, sellers)] == [True, False, True, True]


def test_evaluate_with_vector_backend_equals_python() -> None:
    """engine.evaluate gives the same decisions with the vector and the Python back ends."""
    pack = load_pack(resolve_pack("amazon"))
    sellers = [
        SellerFacts(
            "s1",
            AS_OF,
            {
                "orders": 300,
                "order_defect_rate": 0.02,
                "order_defect_rate__num": 6,
                "order_defect_rate__den": 300,
            },
        ),
        SellerFacts("s2", AS_OF, {"orders": 3}),
    ]

    def strip(decisions: list[object]) -> list[dict[str, object]]:
        out = [d.to_json() for d in decisions]  # type: ignore[attr-defined]
        for record in out:
            del record["decision_id"]
        return out

    got = strip(evaluate(pack, sellers, backend=VectorBackend()))  # type: ignore[arg-type]
    assert got == strip(evaluate(pack, sellers, backend=PythonBackend()))  # type: ignore[arg-type]


def test_write_decisions_streams_batches_to_parquet(tmp_path: Path) -> None:
    """Every batch lands in one Parquet file of typed records that reads back into the same
    decisions."""
    pack = load_pack(resolve_pack("amazon"))
    facts = pa.table(
        {
            "seller_id": [f"S{i}" for i in range(1000)],
            "orders": list(range(1000)),
            "order_defect_rate": [i / 1000 for i in range(1000)],
            "order_defect_rate__num": [i * i // 1000 for i in range(1000)],
            "order_defect_rate__den": list(range(1000)),
        }
    )
    out = tmp_path / "d.parquet"
    batches = evaluate_batches(pack, facts.to_batches(max_chunksize=128), date(2026, 11, 1))
    assert write_decisions(batches, out, pack=pack) == 1000
    table = pq.read_table(out)
    assert table.num_rows == 1000
    facts_type = pa.struct([f for f in facts.schema if f.name != "seller_id"])
    assert table.schema.names == record_schema(pack, facts_type).names
    expected = evaluate_table(pack, facts, date(2026, 11, 1))
    strip = [{**d.to_json(), "decision_id": None} for d in decisions_from_records(table, pack)]
    want = [{**d.to_json(), "decision_id": None} for d in decisions_from_batch(expected, pack)]
    assert strip == want


def test_write_decisions_refuses_other_formats_and_empty_input(tmp_path: Path) -> None:
    """An unknown format, records without their pack, or no batch at all is a ValueError
    and leaves no file behind."""
    with pytest.raises(ValueError, match="parquet"):
        write_decisions(iter(()), tmp_path / "d.txt")
    with pytest.raises(ValueError, match="rendered with the pack"):
        write_decisions(iter(()), tmp_path / "d.jsonl")
    with pytest.raises(ValueError, match="empty"):
        write_decisions(iter(()), tmp_path / "d.arrows")
    assert list(tmp_path.iterdir()) == []


def test_non_numeric_fact_column_is_named() -> None:
    """A fact column of text is refused with its name, not silently treated as null."""
    pack = load_pack(resolve_pack("amazon"))
    facts = pa.table({"seller_id": ["a"], "order_defect_rate": ["high"]})
    with pytest.raises(ValueError, match="order_defect_rate"):
        evaluate_table(pack, facts, AS_OF)
