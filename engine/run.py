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
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import duckdb
import pyarrow as pa

from sellerpolicy.rules.model import CompiledPack, Exemption, Status

from .backend import Backend, BackendName
from .backend_python import PythonBackend
from .decision import Decision, Outcome
from .errors import StrictRejectsError
from .evaluate import ExplainLevel, evaluate
from .explain import EvidenceLookup
from .facts import SellerFacts, as_of_instant, as_of_label
from .facts_file import read_facts
from .logs import get_logger
from .metrics import DuckDBEvidence, compute_metrics, iter_facts
from .rejects import rejects_path_for, write_rejects
from .sinks import format_for, open_sink
from .sources import load_source
from .store import DecisionRecord, DecisionStore, resolve_store_url

_T = TypeVar("_T")


# ---------------------------------------------------------------------------
# The run


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one run did: counts, rejects, durations and where its files are."""

    run_id: str
    pack: str
    pack_version: str
    pack_digest: str
    as_of: str
    sellers: int
    statuses: Mapping[str, int]  # every status label, worst last
    actions: Mapping[str, Mapping[str, int]]  # rule -> enforced action -> sellers
    reported: Mapping[str, Mapping[str, int]]  # rule -> shadow or exempted action -> sellers
    not_assessed: Mapping[str, int]  # rule -> sellers for whom it was not assessed
    rejects: int
    rejects_path: Path | None
    output: Path
    store: str | None
    durations: Mapping[str, float]  # stage -> seconds


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported after each chunk: sellers done so far, of ``total`` when known."""

    done: int
    total: int | None


ProgressCallback = Callable[[Progress], None]


@dataclass(slots=True)
class _Tally:
    """Counters of one run, filled chunk by chunk (never logged per seller)."""

    sellers: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    actions: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    reported: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    not_assessed: Counter[str] = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, decisions: Sequence[Decision]) -> None:
        self.sellers += len(decisions)
        for decision in decisions:
            self.statuses[decision.status.label] += 1
            for item in decision.actions:
                (self.actions if item.enforced else self.reported)[item.rule][item.action] += 1
            for result in decision.rules:
                if result.outcome is Outcome.NOT_ASSESSED:
                    self.not_assessed[result.rule] += 1

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start


def select_backend(name: BackendName) -> Backend:
    """The back end for ``--backend``: ``auto`` is the vectorized one for batches.

    The back ends agree exactly (a differential test over every shipped pack
    proves it); the vectorized one evaluates every rule over a whole batch's
    columns at once, so batches use it unless told otherwise.
    """
    if name is BackendName.DURABLE:
        from .backend_durable import DurableBackend  # noqa: PLC0415 (loads the C engine on demand)

        return DurableBackend()
    if name is BackendName.PYTHON:
        return PythonBackend()
    from .backend_vector import VectorBackend  # noqa: PLC0415 (NumPy kernels: load on demand)

    return VectorBackend()


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


def _timed(items: Iterable[_T], seconds: defaultdict[str, float], stage: str) -> Iterator[_T]:
    """Yield ``items``, adding the time spent producing each to ``seconds[stage]``."""
    iterator = iter(items)
    while True:
        start = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            seconds[stage] += time.perf_counter() - start
        yield item


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
    chunk_size: int = 10_000,
    progress: ProgressCallback | None = None,
) -> RunSummary:
    """Evaluate every seller of a source (or a facts file) and write the decisions.

    Exactly one of ``source`` and ``facts_path`` is given. Decisions go to
    ``out`` (JSONL, CSV or Parquet by extension) and, with ``store_url``, to
    the decision store, whose history drives escalation ladders. With a
    source, rejected rows go to ``<out stem>.rejects.jsonl`` beside ``out``
    (written on every run, empty when there are none); ``strict`` makes any
    reject a :class:`StrictRejectsError` before anything is evaluated. The
    output file appears only when the run succeeds; the store is appended
    chunk by chunk (one transaction each), so a run that fails part-way
    leaves its finished chunks in the store under its ``run_id``. ValueError for an
    unknown output extension or a ``chunk_size`` under 1.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    format_for(out)  # an unknown extension fails before any work
    instant = as_of_instant(as_of)
    run_id = str(uuid.uuid4())
    log = get_logger(run_id=run_id, pack=pack.id, pack_digest=pack.digest)
    tally = _Tally()
    engine = select_backend(backend) if isinstance(backend, BackendName) else backend
    rejects, rejects_path = 0, None
    with ExitStack() as stack:
        store = stack.enter_context(DecisionStore(store_url)) if store_url else None
        evidence = None
        total: int | None = None
        if source is not None and facts_path is None:
            con = stack.enter_context(duckdb.connect())
            with tally.timed("source"):
                report = load_source(source, con)
            rejects, rejects_path = report.reject_count, rejects_path_for(out)
            write_rejects(report.rejects, rejects_path)
            log.info(
                "source.loaded", source=str(source), rows=dict(report.rows_read), rejects=rejects
            )
            if strict and rejects:
                raise StrictRejectsError(rejects, str(rejects_path))
            with tally.timed("metrics"):
                metrics = compute_metrics(con, pack.metrics, instant)
            total = metrics.table.num_rows
            log.info("metrics.computed", sellers=total, warnings=len(metrics.warnings))
            chunks = facts_chunks(metrics.table, instant, chunk_size)
            if explain is ExplainLevel.FULL:
                evidence = DuckDBEvidence(con, pack.metrics, instant)
        elif facts_path is not None and source is None:
            chunks = read_facts(facts_path, pack, instant, chunk_size=chunk_size)
        else:
            raise ValueError("give exactly one of source and facts_path")
        sink = stack.enter_context(open_sink(out))
        batches = evaluate_batches(
            pack,
            chunks,
            as_of=instant,
            backend=engine,
            store=store,
            explain=explain,
            exemptions=exemptions,
            evidence=evidence,
        )
        started = time.perf_counter()
        for index, decisions in enumerate(_timed(batches, tally.seconds, "evaluate")):
            if store is not None:
                with tally.timed("store"):
                    store.append(pack, [DecisionRecord.of(d) for d in decisions], run_id=run_id)
            with tally.timed("write"):
                sink.write(decisions)
            tally.add(decisions)
            log.info(
                "batch.evaluated",
                batch=index,
                sellers=len(decisions),
                seconds=round(time.perf_counter() - started, 3),
            )
            if progress is not None:
                progress(Progress(tally.sellers, total))
            started = time.perf_counter()
    summary = _summary(
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


def _summary(
    pack: CompiledPack,
    tally: _Tally,
    *,
    run_id: str,
    as_of: datetime,
    out: Path,
    store_url: str | None,
    rejects: int,
    rejects_path: Path | None,
) -> RunSummary:
    return RunSummary(
        run_id=run_id,
        pack=pack.id,
        pack_version=pack.version,
        pack_digest=pack.digest,
        as_of=as_of_label(as_of),
        sellers=tally.sellers,
        statuses=MappingProxyType({s.label: tally.statuses[s.label] for s in Status}),
        actions=_frozen(tally.actions),
        reported=_frozen(tally.reported),
        not_assessed=MappingProxyType(dict(sorted(tally.not_assessed.items()))),
        rejects=rejects,
        rejects_path=rejects_path,
        output=out,
        store=resolve_store_url(store_url).render_as_string(hide_password=True)
        if store_url
        else None,
        durations=MappingProxyType(dict(tally.seconds)),
    )


def _frozen(counts: Mapping[str, Counter[str]]) -> Mapping[str, Mapping[str, int]]:
    return MappingProxyType(
        {rule: MappingProxyType(dict(sorted(c.items()))) for rule, c in sorted(counts.items())}
    )
