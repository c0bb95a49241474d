"""Record outputs written through the rendering pipeline of ``engine.columnar.formats``.

Rendering runs ahead of writing across decision batches, and the text of
``.jsonl`` and ``.csv`` reaches the file on a thread of its own: whatever the
slices, the batches and the number of renderers, the files hold every record
once, in order (the record sinks' bytes; Parquet: one row group per decision
batch), and a failed write fails the run, leaving no file.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from population import AS_OF, batch, table

from sellerpolicy.engine.batch.sinks import open_sink
from sellerpolicy.engine.columnar import formats
from sellerpolicy.engine.columnar.decisions import (
    decisions_from_batch,
    evaluate_table,
    write_decisions,
)
from sellerpolicy.engine.columnar.typed import record_batch
from sellerpolicy.rules import CompiledPack, load_pack, resolve_pack

PACK = load_pack(resolve_pack("amazon"))
SIZES = (50, 13, 200, 1, 136)  # uneven decision batches: 400 sellers


def _batches(pack: CompiledPack) -> list[pa.RecordBatch]:
    decided = evaluate_table(pack, table(batch(pack, 1) + batch(pack, 2)), AS_OF)
    assert decided.num_rows == sum(SIZES)
    whole = decided.combine_chunks().to_batches()[0]
    out, start = [], 0
    for size in SIZES:
        out.append(whole.slice(start, size))
        start += size
    return out


def _sink_bytes(path: Path, batches: list[pa.RecordBatch], pack: CompiledPack) -> bytes:
    with open_sink(path) as sink:
        for part in batches:
            sink.write(decisions_from_batch(part, pack))
    return path.read_bytes()


@pytest.mark.parametrize(("slice_rows", "renderers"), [(7, 1), (64, 2), (65_536, 1)])
def test_record_files_do_not_depend_on_slices_or_batches(
    slice_rows: int, renderers: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slices smaller than a batch, spanning batches or not, one or two renderers: the
    ``.jsonl`` and ``.csv`` files are the sinks' bytes; Parquet has one row group per
    decision batch, every record in order."""
    monkeypatch.setattr(formats, "SLICE_ROWS", slice_rows)
    monkeypatch.setattr(formats, "RENDERERS", renderers)
    monkeypatch.setattr(formats, "SPOOLED", 1)
    batches = _batches(PACK)
    for suffix in (".jsonl", ".csv"):
        out = tmp_path / f"bulk{suffix}"
        assert write_decisions(batches, out, pack=PACK) == sum(SIZES)
        assert out.read_bytes() == _sink_bytes(tmp_path / f"sink{suffix}", batches, PACK)
    out = tmp_path / "bulk.parquet"
    assert write_decisions(batches, out, pack=PACK) == sum(SIZES)
    meta = pq.ParquetFile(out).metadata
    assert [meta.row_group(k).num_rows for k in range(meta.num_row_groups)] == list(SIZES)
    expected = pa.Table.from_batches([record_batch(b, PACK) for b in batches])
    assert pq.read_table(out).to_pylist() == expected.to_pylist()


def test_parquet_of_no_decision_holds_the_record_schema(tmp_path: Path) -> None:
    """No decision at all: a Parquet file without rows, in the records' layout."""
    empty = _batches(PACK)[0].slice(0, 0)
    out = tmp_path / "none.parquet"
    assert write_decisions([empty], out, pack=PACK) == 0
    back = pq.read_table(out)
    assert back.num_rows == 0
    assert back.schema.names == record_batch(empty, PACK).schema.names


class _FullDisk:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, room: int) -> None:
        self.room = room

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if size > self.room:
            raise OSError(28, "No space left on device")
        self.room -= size
        return size

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *_: object) -> None:
        return None


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_failed_write_fails_the_run_and_leaves_no_file(
    suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spool thread's write error reaches the caller; no output, no partial file."""
    real_open = Path.open

    def opened(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> IO[Any] | _FullDisk:
        if mode == "wb" and self.name.startswith(".bulk"):
            return _FullDisk(room=20_000)
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", opened)
    monkeypatch.setattr(formats, "SLICE_ROWS", 16)
    out = tmp_path / f"bulk{suffix}"
    with pytest.raises(OSError, match="No space left"):
        write_decisions(_batches(PACK), out, pack=PACK)
    assert list(tmp_path.iterdir()) == []
