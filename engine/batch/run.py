"""The batch run: source or facts file -> decisions, history, output files.

:func:`run_evaluation` is the one pipeline behind ``sellerpolicy evaluate``,
the Python API and the HTTP service's batch endpoint::

    source --load_source--> canonical tables --compute_metrics--> metric facts ┐
    facts file (JSONL / CSV / Parquet, as ``sellerpolicy metrics`` writes) ────┤
                                                                               v
        chunks of SellerFacts --> history (store) --> evaluate --> store, output sink

Facts flow in chunks of ``chunk_size`` sellers; for each chunk the escalation
history of its sellers is read from the store in one prefetch, the chunk is
evaluated, appended to the store and streamed to the output. Rejected source
rows go to ``<output stem>.rejects.jsonl`` beside the output. One log event
is emitted per chunk and one per run.

This module owns the pipeline, its per-seller leg (:func:`facts_chunks`,
:func:`evaluate_batches`) and the choice of back end and leg
(:func:`select_backend`, :func:`check_output`). The columnar leg is in
:mod:`.columnar`; the summary, progress and counts of a run in :mod:`.summary`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import structlog

from sellerpolicy.engine.errors import StrictRejectsError
from sellerpolicy.engine.evaluation.backends.protocol import Backend, BackendName
from sellerpolicy.engine.evaluation.decision import Decision
from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.engine.evaluation.explain import EvidenceLookup
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.logs import get_logger
from sellerpolicy.engine.metrics.compute import DuckDBEvidence, compute_metrics, iter_facts
from sellerpolicy.engine.metrics.facts import SellerFacts, as_of_instant
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.rejects import Reject, rejects_path_for, write_rejects
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.records import DecisionRecord
from sellerpolicy.engine.store.runs import RunKind
from sellerpolicy.rules.model import CompiledPack, Exemption

from .backends import select_backend
from .facts_file import read_facts
from .outputs import open_decision_sink
from .sinks import format_for
from .summary import Progress, ProgressCallback, RunSummary, Tally, summarize, timed_batches

__all__ = [
    "COLUMNAR_CHUNK",
    "COLUMNAR_SUFFIX",
    "COLUMNAR_SUFFIXES",
    "RECORD_CHUNK",
    "check_output",
    "evaluate_batches",
    "facts_chunks",
    "run_evaluation",
]

#: The output extension of the columnar decision layout (an Arrow IPC stream).
COLUMNAR_SUFFIX = ".arrows"
#: Outputs holding the columnar decision layout itself (the stream, or the IPC file).
COLUMNAR_SUFFIXES = (COLUMNAR_SUFFIX, ".arrow", ".feather")
#: Sellers per chunk when each decision becomes a :class:`Decision` (the per-seller
#: path, and the store).
RECORD_CHUNK = 10_000
#: Sellers per batch when decisions stay columns until written (the columnar leg, no store).
COLUMNAR_CHUNK = 131_072


def facts_chunks(table: pa.Table, as_of: datetime, size: int) -> Iterator[list[SellerFacts]]:
    """The rows of a metrics table as lists of at most ``size`` :class:`SellerFacts`."""
    chunk: list[SellerFacts] = []
    for facts in iter_facts(table, as_of):
        chunk.append(facts)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def evaluate_batches(
    pack: CompiledPack,
    chunks: Iterable[Sequence[SellerFacts]],
    *,
    as_of: datetime,
    backend: Backend,
    store: DecisionStore | None = None,
    explain: ExplainLevel = ExplainLevel.SUMMARY,
    exemptions: Sequence[Exemption] = (),
    evidence: EvidenceLookup | None = None,
) -> Iterator[list[Decision]]:
    """Evaluate chunk after chunk, each with its sellers' history prefetched from ``store``."""
    for chunk in chunks:
        history = store.history(pack, [f.seller_id for f in chunk], as_of) if store else None
        yield evaluate(
            pack,
            chunk,
            backend=backend,
            history=history,
            exemptions=exemptions,
            explain=explain,
            evidence=evidence,
        )


def run_evaluation(
    pack: CompiledPack,
    *,
    source: Path | None = None,
    facts_path: Path | None = None,
    as_of: date | datetime,
    out: Path,
    store_url: str | None = None,
    backend: BackendName | Backend = BackendName.AUTO,
    explain: ExplainLevel = ExplainLevel.SUMMARY,
    exemptions: Sequence[Exemption] = (),
    strict: bool = False,
    chunk_size: int | None = None,
    progress: ProgressCallback | None = None,
) -> RunSummary:
    """Evaluate every seller of a source (or a facts file) and write the decisions.

    Exactly one of ``source`` and ``facts_path`` is given. Decisions go to
    ``out`` (by extension: JSON lines, CSV or typed Parquet records, or the
    columnar layout: ``.arrows``, ``.arrow``) and, with ``store_url``, to
    the decision store, whose history drives escalation ladders. With a
    source, rejected rows go to ``<out stem>.rejects.jsonl`` beside ``out``
    (written on every run, empty when there are none); ``strict`` makes any
    reject a :class:`StrictRejectsError` before anything is evaluated. The
    output file appears only when the run succeeds; the store is appended
    chunk by chunk (one transaction each) under a run recorded as
    ``started``, marked ``complete`` once the output is in place (``failed``
    on an error): until then its decisions are no history, and completing
    it replaces the decisions an earlier run of the same pack version and
    ``as_of`` made for the same sellers (:mod:`sellerpolicy.engine.store.runs`). ``chunk_size``
    defaults to :data:`RECORD_CHUNK` sellers, or :data:`COLUMNAR_CHUNK` when
    no :class:`Decision` is built (the columnar leg without a store: every
    output is then written from decision batches, records included).
    ValueError for an unknown output extension or a ``chunk_size`` under 1.
    """
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    engine = select_backend(backend) if isinstance(backend, BackendName) else backend
    bulk = _bulk(engine, explain)
    columnar = check_output(out, engine, explain)
    if chunk_size is None:
        chunk_size = COLUMNAR_CHUNK if columnar and store_url is None else RECORD_CHUNK
    instant = as_of_instant(as_of)
    run_id = str(uuid.uuid4())
    log = get_logger(run_id=run_id, pack=pack.id, pack_digest=pack.digest)
    tally, fact_rejects = Tally(), list[Reject]()
    rejects, rejects_path = 0, None
    with ExitStack() as stack:
        if (source is None) == (facts_path is None):
            raise ValueError("give exactly one of source and facts_path")
        store = _open_run(stack, store_url, pack, instant, run_id) if store_url else None
        metrics_table, evidence = None, None
        if source is not None:
            con = stack.enter_context(duckdb.connect())
            rejects, rejects_path = _load(
                source,
                con,
                out,
                strict=strict,
                tally=tally,
                log=log,
                # explain=full asks the source per seller: tables, not files read in place
                materialize=explain is ExplainLevel.FULL,
            )
            with tally.timed("metrics"):
                metrics = compute_metrics(con, pack.metrics, instant)
            metrics_table = metrics.table
            log.info(
                "metrics.computed", sellers=metrics_table.num_rows, warnings=len(metrics.warnings)
            )
            if explain is ExplainLevel.FULL:
                evidence = DuckDBEvidence(con, pack.metrics, instant)
        total = None if metrics_table is None else metrics_table.num_rows
        sink = None if columnar else stack.enter_context(open_decision_sink(out, pack, explain))

        def recorded(decisions: list[Decision], sellers: int, index: int, started: float) -> None:
            """Store and write one chunk's decisions (if any were built), then report it."""
            if store is not None:
                with tally.timed("store"):
                    store.append(pack, [DecisionRecord.of(d) for d in decisions], run_id=run_id)
            if sink is not None:
                with tally.timed("write"):
                    sink.write(decisions)
            log.info(
                "batch.evaluated",
                batch=index,
                sellers=sellers,
                seconds=round(time.perf_counter() - started, 3),
            )
            if progress is not None:
                progress(Progress(tally.sellers, total))

        if bulk:
            from .columnar import facts_batches, run_columnar  # noqa: PLC0415 (NumPy path: load on demand)

            run_columnar(
                pack,
                facts_batches(
                    metrics_table, facts_path, pack, instant, chunk_size, rejected=fact_rejects
                ),
                as_of=instant,
                store=store,
                explain=explain,
                exemptions=exemptions,
                out=out if columnar else None,
                tally=tally,
                recorded=recorded,
                records=store is not None,
            )
        else:
            batches = evaluate_batches(
                pack,
                facts_chunks(metrics_table, instant, chunk_size)
                if metrics_table is not None
                else read_facts(
                    facts_path,  # type: ignore[arg-type]
                    pack,
                    instant,
                    chunk_size=chunk_size,
                    rejected=fact_rejects,
                ),
                as_of=instant,
                backend=engine,
                store=store,
                explain=explain,
                exemptions=exemptions,
                evidence=evidence,
            )
            for index, (decisions, started) in enumerate(timed_batches(batches, tally.seconds)):
                tally.add(decisions)
                recorded(decisions, len(decisions), index, started)
        rejects, rejects_path = (
            _fact_rejects(fact_rejects, out, strict=strict, log=log)
            if facts_path is not None
            else (rejects, rejects_path)
        )
    summary = summarize(
        pack,
        tally,
        run_id=run_id,
        as_of=instant,
        out=out,
        store_url=store_url,
        rejects=rejects,
        rejects_path=rejects_path,
    )
    log.info(
        "run.finished",
        as_of=summary.as_of,
        sellers=summary.sellers,
        statuses=dict(summary.statuses),
        rejects=rejects,
        output=str(out),
        seconds={k: round(v, 3) for k, v in summary.durations.items()},
    )
    return summary


def _fact_rejects(
    rejected: list[Reject], out: Path, *, strict: bool, log: structlog.typing.FilteringBoundLogger
) -> tuple[int, Path]:
    """Write the facts rows left out (contradictory numbers) beside ``out``.

    With ``strict``, any of them fails the run (the output is then discarded).
    """
    path = rejects_path_for(out)
    write_rejects(rejected, path)
    log.info("facts.rejected", rejects=len(rejected))
    if strict and rejected:
        out.unlink(missing_ok=True)  # a columnar output is complete by now: no output either
        raise StrictRejectsError(len(rejected), str(path))
    return len(rejected), path


def _open_run(
    stack: ExitStack, store_url: str, pack: CompiledPack, as_of: datetime, run_id: str
) -> DecisionStore:
    """Open the store and record the run; on leaving ``stack`` mark it complete, or failed.

    Registered before the output sink, so the run completes only after the
    output file is in place: a run that stops anywhere before leaves
    decisions that are no history, and its rerun replaces them.
    """
    store = stack.enter_context(DecisionStore(store_url))
    store.start_run(pack, as_of, RunKind.BATCH, run_id=run_id)

    def finish(exc_type: type[BaseException] | None, *_: object) -> bool:
        if exc_type is None:
            store.complete_run(run_id)
        else:
            store.fail_run(run_id)
        return False

    stack.push(finish)
    return store


def _bulk(engine: Backend, explain: ExplainLevel) -> bool:
    """Whether a run takes the columnar leg (:mod:`.columnar`)."""
    return getattr(engine, "name", None) == BackendName.VECTOR and explain is not ExplainLevel.FULL


def check_output(out: Path, engine: Backend, explain: ExplainLevel) -> bool:
    """Whether ``out`` is written from decision batches (the columnar leg), not decisions.

    On the columnar leg every format is (records rendered in bulk); the
    per-seller path writes records through :mod:`.outputs`. ValueError for
    an unknown extension, or for the columnar layout (``.arrows``,
    ``.arrow``) when the run would not take the columnar leg; checked before
    any work starts.
    """
    kind = out.suffix.lower()
    if kind not in COLUMNAR_SUFFIXES:
        try:
            format_for(out)
        except ValueError:
            choices = ", ".join(sorted((".jsonl", ".csv", ".parquet", *COLUMNAR_SUFFIXES)))
            raise ValueError(
                f"{out}: unknown output extension {out.suffix!r} (use {choices})"
            ) from None
        return _bulk(engine, explain)
    if not _bulk(engine, explain):
        raise ValueError(
            f"{out}: {kind} output is written by the vectorized back end "
            "(--backend auto or vector) with --explain summary or none"
        )
    return True


def _load(
    source: Path,
    con: duckdb.DuckDBPyConnection,
    out: Path,
    *,
    strict: bool,
    tally: Tally,
    log: structlog.typing.FilteringBoundLogger,
    materialize: bool,
) -> tuple[int, Path]:
    """Validate and load the source; rejects go beside ``out`` (strict: none allowed)."""
    with tally.timed("source"):
        report = load_source(source, con, materialize=materialize)
    rejects, rejects_path = report.reject_count, rejects_path_for(out)
    write_rejects(report.rejects, rejects_path)
    log.info("source.loaded", source=str(source), rows=dict(report.rows_read), rejects=rejects)
    if strict and rejects:
        raise StrictRejectsError(rejects, str(rejects_path))
    return rejects, rejects_path
