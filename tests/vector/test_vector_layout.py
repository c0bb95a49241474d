"""The layout of decision batches and of the Parquet file they are written to."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sellerpolicy.engine.columnar.decisions import (
    decisions_from_batch,
    evaluate_table,
    write_decisions,
)
from sellerpolicy.engine.columnar.read import explain_level
from sellerpolicy.engine.columnar.write import parquet_options
from sellerpolicy.engine.evaluation.backends.python import PythonBackend
from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.rules import load_pack, resolve_pack

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
PACK = load_pack(resolve_pack("amazon"))


def _facts(orders: list[int | float | None]) -> pa.Table:
    n = len(orders)
    return pa.table(
        {
            "seller_id": [f"S{i}" for i in range(n)],
            "orders": orders,
            "order_defect_rate": [0.03 if i % 2 else 0.001 for i in range(n)],
            "order_defect_rate__num": [30 if i % 2 else 1 for i in range(n)],
            "order_defect_rate__den": [1000] * n,
        }
    )


def _json(decisions: list[object]) -> list[dict[str, object]]:
    return [{**d.to_json(), "decision_id": None} for d in decisions]  # type: ignore[attr-defined]


def test_decision_ids_are_distinct_uuid4() -> None:
    """Every decision id is a version-4, RFC 4122 UUID, and no two are equal."""
    table = evaluate_table(PACK, _facts([500] * 2000), AS_OF, chunk_size=512)
    ids = [uuid.UUID(bytes=raw) for raw in table.column("decision_id").to_pylist()]
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == 2000


def test_streak_is_a_column_of_laddered_rules_only() -> None:
    """``rule:<id>.streak`` exists exactly for the rules with an escalation ladder."""
    names = set(evaluate_table(PACK, _facts([500]), AS_OF).schema.names)
    for rule in PACK.rules:
        assert (f"rule:{rule.id}.streak" in names) is (rule.escalation is not None)
        assert f"rule:{rule.id}.headroom" not in names  # derived from the counts on read


@pytest.mark.parametrize("level", list(ExplainLevel))
def test_distance_is_derived_on_read_at_the_recorded_explain_level(level: ExplainLevel) -> None:
    """The schema records the explain level; distances rebuilt on read match ``evaluate``."""
    facts = _facts([500, 500, 5, None])
    table = evaluate_table(PACK, facts, AS_OF, explain=level)
    assert explain_level(table.schema) is level
    sellers = [
        SellerFacts(row.pop("seller_id"), AS_OF, row)
        for row in facts.to_pylist()  # type: ignore[arg-type]
    ]
    expected = evaluate(PACK, sellers, backend=PythonBackend(), explain=level)
    got = decisions_from_batch(table, PACK)
    assert _json(got) == _json(expected)
    odr = [d.rules[0].distance for d in got]
    assert (odr[0] is not None) is (level is not ExplainLevel.NONE)


def test_volume_reasons_for_float_and_negative_counts() -> None:
    """Volumes that are floats or negative take the sorting path and word reasons alike."""
    for orders in ([3.0, 3.0, 99.5, 500.0], [-1, 3, 3, 500]):
        facts = _facts(orders)
        sellers = [
            SellerFacts(row.pop("seller_id"), AS_OF, row)
            for row in facts.to_pylist()  # type: ignore[arg-type]
        ]
        expected = evaluate(PACK, sellers, backend=PythonBackend())
        assert _json(decisions_from_batch(evaluate_table(PACK, facts, AS_OF), PACK)) == _json(
            expected
        )


def test_parquet_encodings_per_column(tmp_path: Path) -> None:
    """Typed records in Parquet: integer facts are delta-encoded, ids are plain, outcomes
    keep their dictionary."""
    table = evaluate_table(PACK, _facts([500] * 300), AS_OF)
    options = parquet_options(table.schema)
    assert options["column_encoding"]["facts.orders"] == "DELTA_BINARY_PACKED"
    assert "seller_id" not in options["use_dictionary"]
    assert "actions.list.element.rule" in options["use_dictionary"]
    out = tmp_path / "d.parquet"
    write_decisions(table.to_batches(), out, pack=PACK)
    meta = pq.ParquetFile(out).metadata.row_group(0)
    paths = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    assert "DELTA_BINARY_PACKED" in paths["facts.orders"].encodings
    assert "RLE_DICTIONARY" in paths[f"rules.{PACK.rules[0].id}.outcome"].encodings
    assert "RLE_DICTIONARY" not in paths["seller_id"].encodings
    assert explain_level(pq.read_schema(out)) is ExplainLevel.SUMMARY
    with pytest.raises(ValueError, match="rendered with the pack"):
        write_decisions(table.to_batches(), tmp_path / "e.parquet")


def test_arrow_stream_sink_holds_the_same_decisions(tmp_path: Path) -> None:
    """An ``.arrows`` file reads back, batch dictionaries and all, into the same decisions."""
    facts = _facts([500, 5, 40, None, 3] * 60)
    table = evaluate_table(PACK, facts, AS_OF, chunk_size=64)
    out = tmp_path / "d.arrows"
    assert write_decisions(table.to_batches(), out) == facts.num_rows
    with pa.ipc.open_stream(out) as reader:
        back = reader.read_all()
    assert _json(decisions_from_batch(back, PACK)) == _json(decisions_from_batch(table, PACK))
    with pytest.raises(ValueError, match=r"not '\.txt'"):
        write_decisions(table.to_batches(), tmp_path / "d.txt")
    assert not (tmp_path / "d.txt").exists()


def test_decisions_without_facts_read_back_with_the_facts_beside(tmp_path: Path) -> None:
    """``with_facts=False`` leaves the facts out; given beside, they give the same decisions."""
    facts = _facts([500, 5, 40, None, 3] * 40)
    embedded = evaluate_table(PACK, facts, AS_OF, chunk_size=64)
    beside = evaluate_table(PACK, facts, AS_OF, chunk_size=64, with_facts=False)
    assert "facts" not in beside.schema.names
    assert beside.schema.metadata[b"sellerpolicy.facts"] == b"beside"
    out, whole = tmp_path / "d.arrows", tmp_path / "whole.arrows"
    write_decisions(beside.to_batches(), out)
    write_decisions(embedded.to_batches(), whole)
    assert out.stat().st_size < whole.stat().st_size
    with pa.ipc.open_stream(out) as reader:
        back = reader.read_all()
    assert _json(decisions_from_batch(back, PACK, facts)) == _json(
        decisions_from_batch(embedded, PACK)
    )
    with pytest.raises(ValueError, match="without facts"):
        decisions_from_batch(back, PACK)
    with pytest.raises(ValueError, match="line up"):
        decisions_from_batch(back, PACK, facts.slice(1))
    shuffled = facts.take(list(range(facts.num_rows - 1, -1, -1)))
    with pytest.raises(ValueError, match="line up"):
        decisions_from_batch(back, PACK, shuffled)


def test_reason_codes_name_the_failed_check_and_read_back_worded() -> None:
    """The stored reason is the static label of the first failing check; the text is exact."""
    facts = _facts([500, 5, None]).set_column(
        4, "order_defect_rate__den", pa.array([1000, 5, None], pa.int64())
    )
    table = evaluate_table(PACK, facts, AS_OF)
    rule = PACK.rules[0]
    assert rule.min_orders is not None
    assert "order_defect_rate" in str(rule.when)
    reasons = table.column(f"rule:{rule.id}.reason").to_pylist()
    assert reasons[0] is None
    assert reasons[1] is not None
    assert "under min_orders" in reasons[1]
    assert reasons[2] is not None
    assert "is null" in reasons[2]
    decisions = decisions_from_batch(table, PACK)
    result = next(r for r in decisions[1].rules if r.rule == rule.id)
    assert result.reason is not None
    assert result.reason.startswith("only 5 ")
    dictionary = table.column(f"rule:{rule.id}.reason").chunk(0).dictionary.to_pylist()
    again = evaluate_table(PACK, _facts([500] * 3), AS_OF).column(f"rule:{rule.id}.reason")
    assert again.chunk(0).dictionary.to_pylist() == dictionary  # static, whatever the batch


def test_values_hidden_under_nulls_are_never_read() -> None:
    """Null facts whose buffers hold values that would breach every rule (and NaN)
    decide exactly as nulls holding zeros: columns are read zero-copy, masked."""
    n = 64
    clean = _facts([500] * n)
    rates = {"order_defect_rate": (0.9, np.nan), "order_defect_rate__num": (900, 10**12)}
    poisoned = clean
    for name, (bad, worse) in rates.items():
        column = clean.column(name).combine_chunks()
        values = np.asarray(column.to_numpy(zero_copy_only=False)).copy()
        hidden = np.where(np.arange(n) % 2 == 0, bad, worse).astype(values.dtype)
        null = np.arange(n) % 3 == 0
        values[null] = hidden[null]
        array = pa.array(values, mask=null)
        assert array.null_count == int(null.sum())
        poisoned = poisoned.set_column(poisoned.schema.get_field_index(name), name, array)
        zeroed = pa.array(np.where(null, 0, values).astype(values.dtype), mask=null)
        clean = clean.set_column(clean.schema.get_field_index(name), name, zeroed)
    got = _json(decisions_from_batch(evaluate_table(PACK, poisoned, AS_OF), PACK))
    assert got == _json(decisions_from_batch(evaluate_table(PACK, clean, AS_OF), PACK))
    assert any(d["status"] != "healthy" for d in got)


def test_decisions_are_read_only_with_the_pack_that_made_them() -> None:
    """Another pack (or version) cannot rebuild a batch's decisions: ValueError naming both."""
    table = evaluate_table(PACK, _facts([500, 5]), AS_OF)
    other = load_pack(resolve_pack("amazon-2015"))
    with pytest.raises(ValueError, match="read them with the pack that made them"):
        decisions_from_batch(table, other)
    assert len(decisions_from_batch(table, PACK)) == 2
