"""Scale-out: the same per-partition evaluation on a Dask distributed cluster.

Sellers are split into ``P`` partitions by a stable hash of ``seller_id``
(:func:`partition_of`: the first 60 bits of its MD5, modulo ``P``; the same
on every machine and Python version, unlike the per-process salted
``hash()``). The run has three steps:

1. **Validate once** (driver): a raw source is validated exactly as
   ``sellerpolicy evaluate`` does and staged as a DuckDB file of canonical
   tables in the output folder (rejects go to ``rejects.jsonl`` there; they
   are decided over the whole source, so a duplicate ``order_id`` across
   two sellers is still a duplicate). A source that is already such a file
   (``validated=True``) is used as it is.
2. **Partition** (driver): its sellers (from ``orders`` and ``messages``) are
   hashed once each and split into ``P`` lists.
3. **Evaluate** (one Dask task per partition, :func:`run_partition`): the
   worker reads only its sellers' rows from the staged file, computes their
   metric facts (DuckDB, one thread: one worker process per core), runs the
   vectorized bulk evaluation and writes ``part-00000.parquet`` (five-digit
   partition number) under a
   temporary name, renamed when complete, so a retried task never leaves
   half a file.

:func:`run_distributed` starts a ``LocalCluster`` of ``workers`` processes
or connects to the scheduler at ``cluster``, submits every partition with
Dask ``retries``, and writes ``manifest.json`` beside the parts: the pack's
id, version and digest, the code version, ``as_of``, each partition with its
counts, the totals and the failures. A partition that still fails after its
retries is listed under ``failures`` (and :attr:`DistributedSummary.ok` is
false, which the CLI turns into a non-zero exit); it is never silently
missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sellerpolicy.engine.columnar.decisions import decisions_from_batch, write_decisions
from sellerpolicy.engine.evaluation.explain import ExplainLevel
from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.metrics.facts import as_of_instant, as_of_label
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.rejects import write_rejects
from sellerpolicy.engine.sources.tables import TABLES
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.records import DecisionRecord
from sellerpolicy.rules import load_pack, resolve_pack
from sellerpolicy.rules.model import CompiledPack

from .columnar import decide_batches

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = [
    "DistributedSummary",
    "PartitionFailure",
    "PartitionResult",
    "PartitionTask",
    "partition_of",
    "run_distributed",
    "run_partition",
]

MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"
_HASH_HEX = 15  # hex digits of the MD5 used: 60 bits


def partition_of(seller_id: str, partitions: int) -> int:
    """The partition of a seller: the first 60 bits of MD5(seller_id) modulo ``partitions``."""
    digest = hashlib.md5(seller_id.encode("utf-8"), usedforsecurity=False).hexdigest()
    return int(digest[:_HASH_HEX], 16) % partitions


@dataclass(frozen=True, slots=True)
class PartitionTask:
    """Everything a worker needs for one partition (small, picklable)."""

    index: int
    source: str  # a DuckDB file of validated canonical tables
    sellers: tuple[str, ...]  # the partition's sellers
    pack: str  # a pack file, loaded on the worker
    pack_digest: str  # checked on the worker: every partition runs the same pack
    as_of: str  # ISO timestamp
    out_dir: str
    explain: ExplainLevel = ExplainLevel.SUMMARY
    store: str | None = None  # a decision store URL: escalation history is read from it

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


@dataclass(frozen=True, slots=True)
class PartitionFailure:
    """A partition that failed after all its retries."""

    index: int
    error: str


@dataclass(frozen=True, slots=True)
class DistributedSummary:
    """The outcome of a distributed run (also written as ``manifest.json``)."""

    run_id: str
    out_dir: Path
    manifest: Path
    pack: str
    pack_version: str
    pack_digest: str
    as_of: str
    partitions: tuple[PartitionResult, ...]
    failures: tuple[PartitionFailure, ...]
    sellers: int
    rejects: int | None  # rows rejected by validation (None: the source came validated)
    statuses: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    seconds: float = 0.0
    store: str | None = None  # where the decisions were appended (password hidden), if anywhere
    stages: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # seconds

    @property
    def ok(self) -> bool:
        """True when every partition was written."""
        return not self.failures


_HISTORY_CHUNK = 50_000  # sellers per history prefetch and per store append


def _as_of(text: str) -> datetime:
    return as_of_instant(datetime.fromisoformat(text.replace("Z", "+00:00")))


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
        con.execute(f"ATTACH '{_quoted(task.source)}' AS src (READ_ONLY)")
        con.register("partition_sellers_input", pa.table({"seller_id": list(task.sellers)}))
        con.execute("CREATE TEMP TABLE partition_sellers AS FROM partition_sellers_input")
        for table in TABLES:  # views: the metrics query filters while it scans
            con.execute(
                f"CREATE VIEW {table} AS SELECT * FROM src.{table} "  # noqa: S608 (fixed names)
                "WHERE seller_id IN (SELECT seller_id FROM partition_sellers)"
            )
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
                facts.to_batches(max_chunksize=_HISTORY_CHUNK),
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

            write_decisions(counted(), temporary)
        temporary.replace(out / task.file_name)
        written = task.file_name
    return PartitionResult(
        index=task.index,
        file=written,
        sellers=facts.num_rows,
        statuses=MappingProxyType(dict(sorted(statuses.items()))),
        seconds=round(time.perf_counter() - started, 3),
    )


def run_distributed(
    pack_ref: str | Path,
    *,
    source: str | Path,
    as_of: date | datetime,
    out_dir: str | Path,
    workers: int | None = None,
    cluster: str | None = None,
    partitions: int | None = None,
    retries: int = 2,
    explain: ExplainLevel = ExplainLevel.SUMMARY,
    validated: bool = False,
    store_url: str | None = None,
) -> DistributedSummary:
    """Evaluate every seller of ``source`` on a Dask cluster into partitioned Parquet.

    Give exactly one of ``workers`` (start a ``LocalCluster`` of that many
    worker processes, one thread each) and ``cluster`` (the address of a
    running scheduler, e.g. ``tcp://10.0.0.5:8786``; its workers must see
    the pack and ``out_dir`` at the same paths, e.g. on a shared file
    system). ``pack_ref`` is a pack path or a shipped pack's name;
    ``source`` a source folder (or DuckDB file) as for ``sellerpolicy
    evaluate``, or with ``validated`` a DuckDB file of already validated
    canonical tables (as :func:`~sellerpolicy.engine.sources.reader.load_source`
    leaves them). ``partitions`` defaults to the number of workers.

    With ``store_url`` (a decision store every worker can reach: a
    PostgreSQL URL, or a SQLite file on a local cluster), workers read their
    sellers' escalation history from it, and once every partition is written
    the driver appends all decisions under the run's id, reading them back
    from the parts; a run with failed partitions appends nothing (a retried
    partition is therefore never recorded twice).

    Raises ValueError for bad arguments and the source's own errors
    (:class:`~sellerpolicy.engine.errors.SourceError`) before any task runs;
    partition failures are reported in the summary and the manifest.
    """
    if (workers is None) == (cluster is None):
        raise ValueError("give exactly one of workers and cluster")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if partitions is not None and partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    started = time.perf_counter()
    pack = load_pack(pack_ref)
    instant = as_of_instant(as_of)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*out.glob("part-*.parquet"), out / REJECTS, out / MANIFEST):
        stale.unlink(missing_ok=True)
    run_id = str(uuid.uuid4())
    staged = out / f".staged-{run_id}.duckdb"
    if store_url is not None:
        DecisionStore(store_url).close()  # created and migrated once, before any worker opens it
    stages: dict[str, float] = {}
    try:
        rejects = None
        if validated:
            database = Path(source).resolve()
        else:
            database, rejects = staged, _stage(Path(source), staged, out / REJECTS)
        count = partitions or workers or 1
        shares = _seller_shares(database, count) if partitions or workers else None
        stages["validate and partition"] = round(time.perf_counter() - started, 3)
        template = PartitionTask(
            index=0,
            source=str(database),
            sellers=(),
            pack=str(resolve_pack(pack_ref).resolve()),
            pack_digest=pack.digest,
            as_of=instant.isoformat(),
            out_dir=str(out),
            explain=explain,
            store=store_url,
        )
        results, failures, count = _submit(
            template, shares, workers=workers, cluster=cluster, retries=retries, count=count
        )
        stages["cluster and partitions"] = round(
            time.perf_counter() - started - stages["validate and partition"], 3
        )
    finally:
        staged.unlink(missing_ok=True)
    stored = None
    if store_url is not None and not failures:
        mark = time.perf_counter()
        stored = _record(pack, out, results, store_url, run_id)
        stages["store"] = round(time.perf_counter() - mark, 3)
    totals: Counter[str] = Counter()
    for result in results:
        totals.update(result.statuses)
    summary = DistributedSummary(
        run_id=run_id,
        out_dir=out,
        manifest=out / MANIFEST,
        pack=pack.id,
        pack_version=pack.version,
        pack_digest=pack.digest,
        as_of=as_of_label(instant),
        partitions=tuple(results),
        failures=tuple(failures),
        sellers=sum(r.sellers for r in results),
        rejects=rejects,
        statuses=MappingProxyType(dict(sorted(totals.items()))),
        seconds=round(time.perf_counter() - started, 3),
        store=stored,
        stages=MappingProxyType(stages),
    )
    _write_manifest(summary, count)
    return summary


def _record(
    pack: CompiledPack, out: Path, results: list[PartitionResult], url: str, run_id: str
) -> str:
    """Append every partition's decisions to the store, part by part; returns where."""
    with DecisionStore(url) as store:
        for result in sorted(results, key=lambda r: r.index):
            if result.file is None:
                continue
            for batch in pq.ParquetFile(out / result.file).iter_batches(_HISTORY_CHUNK):
                records = [DecisionRecord.of(d) for d in decisions_from_batch(batch, pack)]
                store.append(pack, records, run_id=run_id)
        return store.where


def _stage(source: Path, staged: Path, rejects_path: Path) -> int:
    """Validate a raw source once into a DuckDB file; write its rejects; return their count.

    (Bound by writing the valid rows into the file: about 6 s for 10 M orders
    here, whether validated in the file or in memory and copied.)
    """
    with duckdb.connect(str(staged)) as con:
        con.execute("SET enable_progress_bar = false")
        report = load_source(source, con)
    write_rejects(report.rejects, rejects_path)
    return report.reject_count


def _submit(
    template: PartitionTask,
    shares: list[tuple[str, ...]] | None,
    *,
    workers: int | None,
    cluster: str | None,
    retries: int,
    count: int,
) -> tuple[list[PartitionResult], list[PartitionFailure], int]:
    """Run one task per partition on the cluster; results and failures sorted by index."""
    # dask.distributed ships without complete annotations (hence the ignores below);
    # imported here because it is heavy and only this entry point needs it.
    from dask.distributed import Client, LocalCluster, as_completed  # noqa: PLC0415

    local = (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        if workers is not None
        else None
    )
    try:
        with Client(local if local is not None else cluster) as client:  # type: ignore[no-untyped-call]
            if shares is None:  # a remote cluster: as many partitions as it has workers
                count = max(1, len(client.scheduler_info()["workers"]))
                shares = _seller_shares(Path(template.source), count)
            tasks = [replace(template, index=i, sellers=share) for i, share in enumerate(shares)]
            futures = client.map(run_partition, tasks, retries=retries, pure=False)
            index_of = {f.key: t.index for f, t in zip(futures, tasks, strict=True)}
            results: list[PartitionResult] = []
            failures: list[PartitionFailure] = []
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                if future.status == "finished":
                    results.append(future.result())
                else:
                    error = future.exception()
                    failures.append(
                        PartitionFailure(index_of[future.key], f"{type(error).__name__}: {error}")
                    )
    finally:
        if local is not None:
            local.close()
    results.sort(key=lambda r: r.index)
    failures.sort(key=lambda f: f.index)
    return results, failures, count


def _quoted(path: str | Path) -> str:
    return str(path).replace("'", "''")


def _seller_shares(database: Path, partitions: int) -> list[tuple[str, ...]]:
    """The sellers of a validated DuckDB source (orders, messages), split into partitions."""
    shares: list[list[str]] = [[] for _ in range(partitions)]
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"ATTACH '{_quoted(database)}' AS src (READ_ONLY)")
        rows = con.execute(
            "SELECT seller_id FROM src.orders UNION SELECT seller_id FROM src.messages"
        ).fetchall()
    for (seller,) in rows:
        shares[partition_of(seller, partitions)].append(seller)
    return [tuple(share) for share in shares]


def _code_version() -> str:
    try:
        return version("sellerpolicy")
    except PackageNotFoundError:
        return "unknown"


def _write_manifest(summary: DistributedSummary, partitions: int) -> None:
    document = {
        "run_id": summary.run_id,
        "pack": {
            "id": summary.pack,
            "version": summary.pack_version,
            "digest": summary.pack_digest,
        },
        "code_version": _code_version(),
        "as_of": summary.as_of,
        "partitioning": {"function": "md5(seller_id)[:60 bits] % partitions", "count": partitions},
        "partitions": [
            {
                "index": r.index,
                "file": r.file,
                "sellers": r.sellers,
                "statuses": dict(r.statuses),
                "seconds": r.seconds,
            }
            for r in summary.partitions
        ],
        "totals": {
            "sellers": summary.sellers,
            "statuses": dict(summary.statuses),
            "rejects": summary.rejects,
            "rejects_file": REJECTS if summary.rejects is not None else None,
            "partitions_written": len(summary.partitions),
            "partitions_failed": len(summary.failures),
        },
        "failures": [{"index": f.index, "error": f.error} for f in summary.failures],
        "store": summary.store,
        "seconds": summary.seconds,
        "stages": dict(summary.stages),
    }
    temporary = summary.manifest.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    temporary.replace(summary.manifest)
