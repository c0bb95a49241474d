"""Scale-out: the same per-partition evaluation on a Dask distributed cluster.

Sellers are split into ``P`` partitions by a stable hash of ``seller_id``
(:func:`~sellerpolicy.engine.batch.partition.partition_of`: the first 60 bits
of its MD5, modulo ``P``; the same on every machine and Python version, unlike
the per-process salted ``hash()``). The run has three steps:

1. **Validate once** (driver): a raw source is validated exactly as
   ``sellerpolicy evaluate`` does (rejects go to ``rejects.jsonl`` in the
   output folder; they are decided over the whole source, so a duplicate
   ``order_id`` across two sellers is still a duplicate). Parquet tables are
   not copied: workers read the files in place, leaving out the rejected
   rows by their numbers (the query
   :attr:`~sellerpolicy.engine.sources.reader.SourceReport.in_place` gives);
   only the tables that had to be copied (CSV, JSON Lines, a table with very
   many rejects) are staged, as a DuckDB file in the output folder. A source
   that is already a DuckDB file of canonical tables (``validated=True``) is
   used as it is. The metrics a source imported from marketplace reports
   cannot measure (its ``import.json``, ``sources.limits``) go to every
   worker with its task: their facts are null and their rules not assessed,
   as in a single-process run.
2. **Partition** (driver): its sellers (from ``orders`` and ``messages``) are
   hashed once each and split into ``P`` lists.
3. **Evaluate** (one Dask task per partition,
   :func:`~sellerpolicy.engine.batch.partition.run_partition`): the
   worker reads only its sellers' rows (from the files, or the staged file), computes their
   metric facts (DuckDB, one thread: one worker process per core), runs the
   vectorized bulk evaluation and writes ``part-00000.parquet`` (five-digit
   partition number; typed records, the layout of a single-process run's
   ``.parquet``) under a
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

This module is the driver (the cluster, the store append and the manifest;
steps 1 and 2 are ``batch.shares``); what runs on a worker (the task, its
result and step 3) is in ``batch.partition``.
"""

from __future__ import annotations

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

import pyarrow.parquet as pq

from sellerpolicy.engine.columnar.typed_rows import decisions_from_records
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.facts import as_of_instant, as_of_label
from sellerpolicy.engine.sources.tables import TABLES
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.records import DecisionRecord
from sellerpolicy.engine.store.runs import RunKind
from sellerpolicy.rules import load_pack, resolve_pack
from sellerpolicy.rules.model import CompiledPack

from .partition import HISTORY_CHUNK, PartitionResult, PartitionTask, run_partition
from .shares import PreparedSource, prepare_source, split, validated_sellers

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DistributedSummary", "PartitionFailure", "run_distributed"]

MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"


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
    staged: tuple[str, ...] = ()  # the source tables copied for the workers (not read in place)

    @property
    def ok(self) -> bool:
        """True when every partition was written."""
        return not self.failures


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
    staged_tables: tuple[str, ...] = ()
    if store_url is not None:
        DecisionStore(store_url).close()  # created and migrated once, before any worker opens it
    stages: dict[str, float] = {}
    try:
        if validated:
            given = Path(source).resolve()
            prepared = PreparedSource(given, (), None, *validated_sellers(given))
        else:
            prepared = prepare_source(Path(source), staged, out / REJECTS)
            staged_tables = tuple(t for t in TABLES if t not in dict(prepared.views))
        database, rejects, sellers = prepared.database, prepared.rejects, prepared.sellers
        count = partitions or workers or 1
        shares = split(sellers, count) if partitions or workers else None
        stages["validate and partition"] = round(time.perf_counter() - started, 3)
        template = PartitionTask(
            index=0,
            source=None if database is None else str(database),
            views=prepared.views,
            sellers=(),
            pack=str(resolve_pack(pack_ref).resolve()),
            pack_digest=pack.digest,
            as_of=instant.isoformat(),
            out_dir=str(out),
            explain=explain,
            store=store_url,
            limits=prepared.limits,
        )
        results, failures, count = _submit(
            template,
            shares,
            sellers,
            workers=workers,
            cluster=cluster,
            retries=retries,
            count=count,
        )
        stages["cluster and partitions"] = round(
            time.perf_counter() - started - stages["validate and partition"], 3
        )
    finally:
        staged.unlink(missing_ok=True)
    stored = None
    if store_url is not None and not failures:
        mark = time.perf_counter()
        stored = _record(pack, out, results, store_url, run_id, instant)
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
        staged=staged_tables,
    )
    _write_manifest(summary, count)
    return summary


def _record(  # noqa: PLR0917 - the driver's one call site
    pack: CompiledPack,
    out: Path,
    results: list[PartitionResult],
    url: str,
    run_id: str,
    as_of: datetime,
) -> str:
    """Append every partition's decisions to the store, part by part; returns where.

    The appends form one ``distributed`` run, complete once the last part is
    in (failed if an append fails): a driver stopped half way leaves
    decisions that are no history, and a rerun replaces them.
    """
    with DecisionStore(url) as store:
        store.start_run(pack, as_of, RunKind.DISTRIBUTED, run_id=run_id)
        try:
            for result in sorted(results, key=lambda r: r.index):
                if result.file is None:
                    continue
                for batch in pq.ParquetFile(out / result.file).iter_batches(HISTORY_CHUNK):
                    decided = decisions_from_records(batch, pack)
                    records = [DecisionRecord.of(d) for d in decided]
                    store.append(pack, records, run_id=run_id)
        except BaseException:
            store.fail_run(run_id)
            raise
        store.complete_run(run_id)
        return store.where


def _submit(
    template: PartitionTask,
    shares: list[tuple[str, ...]] | None,
    sellers: list[str],
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
                shares = split(sellers, count)
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
        "staged_tables": list(summary.staged),
        "seconds": summary.seconds,
        "stages": dict(summary.stages),
    }
    temporary = summary.manifest.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    temporary.replace(summary.manifest)
