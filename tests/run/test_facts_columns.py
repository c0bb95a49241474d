"""The columnar facts reader accepts and refuses exactly what the row reader does."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from runkit import AS_OF, healthy_facts

from sellerpolicy.engine.batch.facts_file import read_facts, read_facts_columns
from sellerpolicy.engine.errors import FactsError
from sellerpolicy.rules import CompiledPack, load_pack, resolve_pack

INSTANT = datetime(2026, 11, 1, tzinfo=UTC)
PACK: CompiledPack = load_pack(resolve_pack("amazon"))


def _rows(n: int = 40) -> list[dict[str, object]]:
    rows = [healthy_facts(PACK, f"S{i}", AS_OF) for i in range(n)]
    for i, row in enumerate(rows):
        row["note"] = None if i % 3 else "vip"  # not a fact: text, ignored
        row["order_defect_rate__num"] = i
        row["order_defect_rate"] = i / 200
    return rows


def _write(rows: list[dict[str, object]], path: Path) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".csv":
        pa_csv.write_csv(pa.Table.from_pylist(rows), path)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _by_rows(path: Path) -> list[dict[str, object]] | str:
    try:
        chunks = read_facts(path, PACK, INSTANT, chunk_size=7)
        return [
            {"seller_id": f.seller_id, **{k: v for k, v in f.values.items() if v is not None}}
            for chunk in chunks
            for f in chunk
        ]
    except FactsError as exc:
        return str(exc)


def _by_columns(path: Path) -> list[dict[str, object]] | str:
    try:
        _, batches = read_facts_columns(path, PACK, INSTANT, chunk_size=7)
        return [
            {k: v for k, v in row.items() if v is not None}
            for batch in batches
            for row in batch.to_pylist()
        ]
    except FactsError as exc:
        return str(exc)


def _spoil(kind: str, rows: list[dict[str, object]]) -> None:
    if kind == "as_of":
        rows[23]["as_of"] = "2026-10-31"
    elif kind == "as_of-garbage":
        rows[9]["as_of"] = "yesterday"
    elif kind == "seller":
        rows[15]["seller_id"] = None
    elif kind == "text-fact":
        for row in rows:
            row["order_defect_rate"] = "n/a" if row["seller_id"] == "S30" else None
    elif kind == "two-problems":  # the earlier row wins
        rows[31]["as_of"] = "2026-10-31"
        rows[12]["seller_id"] = None


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
@pytest.mark.parametrize(
    "kind", ["clean", "as_of", "as_of-garbage", "seller", "text-fact", "two-problems"]
)
def test_columnar_reader_agrees_with_row_reader(tmp_path: Path, suffix: str, kind: str) -> None:
    """Same facts, or the same error naming the same row, for each format and problem."""
    rows = _rows()
    _spoil(kind, rows)
    path = _write(rows, tmp_path / f"facts{suffix}")
    expected = _by_rows(path)
    got = _by_columns(path)
    if kind == "clean":
        assert isinstance(expected, list)
        assert len(expected) == 40
    else:
        assert isinstance(expected, str)
        assert "row " in expected
    assert got == expected
