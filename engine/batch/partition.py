"""One partition of a distributed run: what a Dask worker receives, does and returns.

Owns the partition function (:func:`partition_of`: the first 60 bits of the
MD5 of ``seller_id``, modulo the number of partitions; the same on every
machine and Python version, unlike the per-process salted ``hash()``), the
task shipped to a worker (:class:`PartitionTask`: small and picklable), and
:func:`run_partition`, which Dask pickles by its module path and runs on the
worker: it reads only its sellers' rows from the staged DuckDB file, computes
their metric facts (DuckDB, one thread: one worker process per core), runs the
vectorized bulk evaluation and writes ``part-00000.parquet`` (five-digit
partition number; the typed record layout a single-process run writes to
``.parquet``, :mod:`~sellerpolicy.engine.columnar.typed`) under a temporary
name, renamed when complete, so a retried task never leaves half a file. It
returns a :class:`PartitionResult`.

The driver (:func:`~sellerpolicy.engine.batch.distributed.run_distributed`)
stages the source, builds the tasks and collects the results.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.columnar.decisions import write_decisions
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.metrics.facts import as_of_instant
from sellerpolicy.engine.sources.limits import keep_limits
from sellerpolicy.engine.sources.tables import TABLES
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.rules import load_pack

from .columnar import decide_batches

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = [
    "HISTORY_CHUNK",
    "PartitionResult",
    "PartitionTask",
    "partition_of",
    "quoted",
    "run_partition",
]

_HASH_HEX = 15  # hex digits of the MD5 used: 60 bits
HISTORY_CHUNK = 50_000  # sellers per history prefetch and per store append


def partition_of(seller_id: str, partitions: int) -> int:
    """The partition of a seller: the first 60 bits of MD5(seller_id) modulo ``partitions``."""
    digest = hashlib.md5(seller_id.encode("utf-8"), usedforsecurity=False).hexdigest()
    return int(digest[:_HASH_HEX], 16) % partitions


@dataclass(frozen=True, slots=True)
class PartitionTask:
    """Everything a worker needs for one partition (small, picklable)."""

    index: int
    source: str | None  # a DuckDB file of validated canonical tables (those not in views)
    sellers: tuple[str, ...]  # the partition's sellers
    pack: str  # a pack file, loaded on the worker
    pack_digest: str  # checked on the worker: every partition runs the same pack
    as_of: str  # ISO timestamp
    out_dir: str
    explain: ExplainLevel = ExplainLevel.SUMMARY
    store: str | None = None  # a decision store URL: escalation history is read from it
    views: tuple[tuple[str, str], ...] = ()  # (table, query of its valid rows read in place)
    # (metric, why) the source cannot measure (its import.json): null facts, as in one process
    limits: tuple[tuple[str, str], ...] = ()

    @property
    def file_name(self) -> str:
        """The partition's output file name."""
        return f"part-{self.index:05d}.parquet"


@dataclass(frozen=True, slots=True)
class PartitionResult:
    """What one partition wrote."""

    index: int
    file: str | None  # None when the partition holds no seller
    sellers: int
    statuses: Mapping[str, int]
    seconds: float


def _as_of(text: str) -> datetime:
    return as_of_instant(datetime.fromisoformat(text.replace("Z", "+00:00")))


def quoted(path: str | Path) -> str:
    """``path`` as the text of a single-quoted SQL literal (its quotes doubled)."""
    return str(path).replace("'", "''")


def run_partition(task: PartitionTask) -> PartitionResult:
    """Evaluate one partition and write its Parquet file (runs on a worker).

    Raises on any failure (Dask retries the task); ValueError when the pack
    on the worker is not the one the run was started with.
    """
    started = time.perf_counter()
    pack = load_pack(task.pack)
    if pack.digest != task.pack_digest:
        raise ValueError(
            f"pack {task.pack} on this worker has digest {pack.digest}, "
            f"the run uses {task.pack_digest}"
        )
    instant = _as_of(task.as_of)
    with duckdb.connect() as con:
        con.execute("SET threads TO 1")  # one worker process per core
        con.execute("SET enable_progress_bar = false")
        if task.source is not None:
            con.execute(f"ATTACH '{quoted(task.source)}' AS src (READ_ONLY)")
        con.register("partition_sellers_input", pa.table({"seller_id": list(task.sellers)}))
        con.execute("CREATE TEMP TABLE partition_sellers AS FROM partition_sellers_input")
        in_place = dict(task.views)
        for table in TABLES:  # views: the metrics query filters while it scans
            rows = f"({in_place[table]})" if table in in_place else f"src.{table}"
            con.execute(
                f"CREATE VIEW {table} AS SELECT * FROM {rows} "  # noqa: S608 (our own SQL)
                "WHERE seller_id IN (SELECT seller_id FROM partition_sellers)"
            )
        keep_limits(con, dict(task.limits))
        facts = compute_metrics(con, pack.metrics, instant).table
    out = Path(task.out_dir)
    statuses: Counter[str] = Counter()
    written: str | None = None
    if facts.num_rows:
        temporary = out / f".tmp-{uuid.uuid4().hex}-{task.file_name}"
        with contextlib.ExitStack() as stack:
            store = stack.enter_context(DecisionStore(task.store)) if task.store else None
            decisions = decide_batches(
                pack,
                facts.to_batches(max_chunksize=HISTORY_CHUNK),
                as_of=instant,
                store=store,
                explain=task.explain,
                exemptions=(),
            )

            def counted() -> Iterator[pa.RecordBatch]:
                for batch in decisions:
                    counts = pc.value_counts(batch.column("status").dictionary_decode())
                    for item in counts.to_pylist():
                        statuses[item["values"]] += item["counts"]
                    yield batch

            write_decisions(counted(), temporary, pack=pack)
        temporary.replace(out / task.file_name)
        written = task.file_name
    return PartitionResult(
        index=task.index,
        file=written,
        sellers=facts.num_rows,
        statuses=MappingProxyType(dict(sorted(statuses.items()))),
        seconds=round(time.perf_counter() - started, 3),
    )
