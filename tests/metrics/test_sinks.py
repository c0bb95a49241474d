"""engine.sinks: JSONL / CSV / Parquet by extension, batches, records, atomic files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sellerpolicy.engine.batch.sinks import OutputFormat, format_for, open_sink, write_table

TABLE = pa.table({"seller_id": ["S1", "S2"], "rate": [0.5, None], "n": [2, 0]})


class Decisionish:
    """An object with a to_json method, like engine.decision.Decision."""

    def __init__(self, seller: str) -> None:
        self.seller = seller

    def to_json(self) -> dict[str, object]:
        """The record form."""
        return {"seller_id": self.seller, "actions": [{"action": "warn"}], "score": 1.5}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.jsonl", OutputFormat.JSONL),
        ("a.CSV", OutputFormat.CSV),
        ("a.parquet", OutputFormat.PARQUET),
    ],
)
def test_format_by_extension(name: str, fmt: OutputFormat) -> None:
    """The extension (any case) picks the format."""
    assert format_for(Path(name)) is fmt


def test_unknown_extension_is_an_error() -> None:
    """An unknown extension raises ValueError naming the choices."""
    with pytest.raises(ValueError, match=r"\.jsonl"):
        format_for(Path("out.txt"))


def read_back(path: Path) -> list[dict[str, object]]:
    """Rows of a written file as dicts (CSV values stay text)."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if path.suffix == ".csv":
        with path.open() as fh:
            return list(csv.DictReader(fh))
    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("ext", ["jsonl", "csv", "parquet"])
def test_arrow_tables_round_trip(tmp_path: Path, ext: str) -> None:
    """An Arrow table written in batches reads back with its rows and nulls."""
    out = tmp_path / f"facts.{ext}"
    with open_sink(out) as sink:
        for batch in TABLE.to_batches(max_chunksize=1):
            sink.write(batch)
    assert sink.rows == 2
    rows = read_back(out)
    assert [r["seller_id"] for r in rows] == ["S1", "S2"]
    assert rows[1]["rate"] in (None, "")


@pytest.mark.parametrize("ext", ["jsonl", "csv", "parquet"])
def test_records_with_nested_values(tmp_path: Path, ext: str) -> None:
    """Objects with to_json and mappings are written; nested values as JSON text when flat."""
    out = tmp_path / f"decisions.{ext}"
    with open_sink(out, batch_size=1) as sink:
        assert sink.write([Decisionish("S1"), Decisionish("S2")]) == 2
        sink.write([{"seller_id": "S3", "actions": [], "score": 2}])
    rows = read_back(out)
    assert [r["seller_id"] for r in rows] == ["S1", "S2", "S3"]
    actions = rows[0]["actions"]
    parsed = actions if isinstance(actions, list) else json.loads(str(actions))
    assert parsed == [{"action": "warn"}]


def test_new_fields_after_the_first_batch_are_rejected(tmp_path: Path) -> None:
    """Columnar outputs fix their columns on the first write; a new field is an error."""
    out = tmp_path / "r.parquet"
    sink = open_sink(out)
    sink.write([{"a": 1}])
    with pytest.raises(ValueError, match="new fields"):
        sink.write([{"a": 2, "b": 3}])
    sink.close(keep=False)
    assert not out.exists()


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    """An exception inside the sink removes the partial file and keeps no temp file."""
    out = tmp_path / "facts.jsonl"

    def fail() -> None:
        with open_sink(out) as sink:
            sink.write(TABLE)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    assert list(tmp_path.iterdir()) == []


def test_empty_output_is_created(tmp_path: Path) -> None:
    """Closing a sink without writes leaves an empty, valid file."""
    for ext in ("jsonl", "csv", "parquet"):
        with open_sink(tmp_path / f"e.{ext}"):
            pass
        assert (tmp_path / f"e.{ext}").exists()


def test_write_table_streams_a_reader(tmp_path: Path) -> None:
    """write_table accepts a RecordBatchReader and returns the row count."""
    reader = pa.RecordBatchReader.from_batches(TABLE.schema, TABLE.to_batches(max_chunksize=1))
    assert write_table(reader, tmp_path / "f.parquet") == 2
    assert pq.read_table(tmp_path / "f.parquet").num_rows == 2


def test_non_finite_numbers_are_refused(tmp_path: Path) -> None:
    """NaN/inf never reach a file as invalid JSON."""
    sink = open_sink(tmp_path / "x.jsonl")
    with pytest.raises(ValueError, match="Out of range float"):
        sink.write([{"x": float("nan")}])
    sink.close(keep=False)
