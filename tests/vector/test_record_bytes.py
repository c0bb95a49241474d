"""Records rendered in bulk are the bytes the record sinks write for ``Decision.to_json``.

Over every shipped pack and the differential population (:mod:`population`:
facts on every edge, escalation history, exemptions), at each explain level:
the JSON lines of :func:`~sellerpolicy.engine.columnar.records.json_lines`
equal ``dumps(decision)`` line for line, and the ``.jsonl`` and ``.csv``
files :func:`write_decisions` writes equal, byte for byte, the files the
record sinks write from ``decisions_from_batch``. Text that needs escaping,
formulas and awkward numbers get their own cases.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from population import AS_OF, PACKS, batch, exemptions, history, table

from sellerpolicy.engine.batch.sinks import dumps, open_sink
from sellerpolicy.engine.columnar.decisions import (
    decisions_from_batch,
    evaluate_table,
    write_decisions,
)
from sellerpolicy.engine.columnar.jsontext import Rows
from sellerpolicy.engine.columnar.records import json_lines
from sellerpolicy.engine.columnar.typed import record_batch
from sellerpolicy.engine.columnar.typed_rows import decisions_from_records
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.rules import CompiledPack, load_pack, resolve_pack

SEEDS = range(8)  # 8 batches of 200 sellers per pack and level


def _decided(pack: CompiledPack, seed: int, level: ExplainLevel) -> pa.Table:
    facts = batch(pack, seed)
    return evaluate_table(
        pack,
        table(facts),
        AS_OF,
        history=history(pack, facts, seed),
        exemptions=exemptions(pack, facts),
        explain=level,
        chunk_size=64,
    )


def _sink_bytes(path: Path, decided: pa.Table, pack: CompiledPack) -> bytes:
    with open_sink(path) as sink:
        for part in decided.to_batches():
            sink.write(decisions_from_batch(part, pack))
    return path.read_bytes()


@pytest.mark.parametrize("level", list(ExplainLevel))
@pytest.mark.parametrize("pack", PACKS, ids=[p.id for p in PACKS])
def test_json_lines_are_the_bytes_of_decision_to_json(
    pack: CompiledPack, level: ExplainLevel
) -> None:
    """Every generated seller's JSON line equals ``dumps(decision)``; the records read back
    into the same decisions."""
    seen = 0
    for seed in SEEDS:
        decided = _decided(pack, seed, level)
        expected = [dumps(d) + "\n" for d in decisions_from_batch(decided, pack)]
        records = record_batch(decided, pack)
        assert json_lines(records, pack).to_pylist() == expected
        back = [dumps(d) + "\n" for d in decisions_from_records(records, pack)]
        assert back == expected
        seen += len(expected)
    assert seen == 200 * len(SEEDS)


@pytest.mark.parametrize("pack", PACKS, ids=[p.id for p in PACKS])
def test_jsonl_and_csv_files_equal_the_record_sinks(pack: CompiledPack, tmp_path: Path) -> None:
    """``write_decisions`` to ``.jsonl`` and ``.csv`` writes the sinks' files, byte for byte."""
    decided = pa.concat_tables([_decided(pack, seed, ExplainLevel.SUMMARY) for seed in (1, 2)])
    for suffix in (".jsonl", ".csv"):
        bulk = tmp_path / f"bulk{suffix}"
        assert write_decisions(decided.to_batches(), bulk, pack=pack) == 400
        assert bulk.read_bytes() == _sink_bytes(tmp_path / f"sink{suffix}", decided, pack)


def test_text_that_needs_escaping_and_formulas(tmp_path: Path) -> None:
    """Seller ids with quotes, backslashes, control and non-ASCII characters, or starting
    like a formula, are escaped (and quoted in CSV) exactly as the sinks do it."""
    pack = load_pack(resolve_pack("amazon"))
    ids = ['S"1', "S\\2", "S\t3", "Zoë", "=HYPERLINK(1)", "@SUM", "-5", "😀", "plain"]
    n = len(ids)
    facts = pa.table(
        {
            "seller_id": ids,
            "orders": [500] * n,
            "order_defect_rate": [0.03] * n,
            "order_defect_rate__num": [15] * n,
            "order_defect_rate__den": [500] * n,
        }
    )
    decided = evaluate_table(pack, facts, AS_OF)
    expected = [dumps(d) + "\n" for d in decisions_from_batch(decided, pack)]
    assert json_lines(record_batch(decided, pack), pack).to_pylist() == expected
    assert "\\u00eb" in expected[3]  # ASCII-only JSON, as the sink writes it
    for suffix in (".jsonl", ".csv"):
        bulk = tmp_path / f"bulk{suffix}"
        write_decisions(decided.to_batches(), bulk, pack=pack)
        assert bulk.read_bytes() == _sink_bytes(tmp_path / f"sink{suffix}", decided, pack)
    assert "'=HYPERLINK" in (tmp_path / "bulk.csv").read_text(encoding="utf-8")


def test_awkward_numbers_and_fact_types() -> None:
    """Facts as int32, float32, whole floats, tiny and huge floats, negative zero: each
    number is written as Python writes it."""
    pack = load_pack(resolve_pack("amazon"))
    rates = [1e-7, 1.5e-5, 0.0001, 1e16, 123456789.0, -0.0, 0.1, 2.0**53, 0.02]
    n = len(rates)
    facts = pa.table(
        {
            "seller_id": [f"S{i}" for i in range(n)],
            "orders": pa.array([500] * n, pa.int32()),
            "order_defect_rate": pa.array(rates, pa.float64()),
            "order_defect_rate__num": pa.array([10.0] * n, pa.float64()),
            "order_defect_rate__den": pa.array([500] * n, pa.int64()),
            "late_shipment_rate_30d": pa.array([0.05] * n, pa.float32()),
            "extra": pa.array([None] * n, pa.null()),
        }
    )
    decided = evaluate_table(pack, facts, AS_OF)
    expected = [dumps(d) + "\n" for d in decisions_from_batch(decided, pack)]
    assert json_lines(record_batch(decided, pack), pack).to_pylist() == expected
    assert '"order_defect_rate":1e-07' in expected[0]
    assert '"order_defect_rate":-0.0' in expected[5]


def test_a_nan_fact_is_refused_as_the_sink_refuses_it() -> None:
    """A NaN fact is no JSON: ValueError, as ``json.dumps(..., allow_nan=False)`` raises."""
    pack = load_pack(resolve_pack("amazon"))
    facts = pa.table({"seller_id": ["S1"], "orders": [500], "spare": [math.nan]})
    decided = evaluate_table(pack, facts, datetime(2026, 11, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="JSON"):
        dumps(decisions_from_batch(decided, pack)[0])
    with pytest.raises(ValueError, match="JSON"):
        json_lines(record_batch(decided, pack), pack)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(
        st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.integers()),
        min_size=1,
        max_size=40,
    )
)
def test_numbers_are_written_as_json_dumps_writes_them(values: list[float | int | None]) -> None:
    """Any float (or int) column renders as ``json.dumps`` renders each value."""
    floats = [None if v is None else float(v) for v in values]
    rows = Rows(len(floats))
    rows.number(pa.array(floats, pa.float64()))
    assert rows.build().to_pylist() == [json.dumps(v) for v in floats]
    whole = [None if v is None else int(np.clip(int(v), -(2**63), 2**63 - 1)) for v in values]
    rows = Rows(len(whole))
    rows.number(pa.array(whole, pa.int64()))
    assert rows.build().to_pylist() == [json.dumps(v) for v in whole]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=30))
def test_strings_are_written_as_json_dumps_writes_them(values: list[str | None]) -> None:
    """Any text column (plain or dictionary-encoded) renders as ``json.dumps`` renders it."""
    for array in (pa.array(values, pa.string()), pa.array(values, pa.string()).dictionary_encode()):
        rows = Rows(len(values))
        rows.text("[")
        rows.string(array)
        rows.text("]")
        assert rows.build(end="\n").to_pylist() == [f"[{json.dumps(v)}]\n" for v in values]
