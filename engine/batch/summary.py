"""What a batch run reports: its summary, its progress, and the counts behind them.

Owns :class:`RunSummary` (what :func:`~sellerpolicy.engine.batch.run.run_evaluation`
returns), :class:`Progress` (reported after each chunk), and :class:`Tally`,
the counters and stage durations a run fills chunk by chunk, from decisions
or straight from decision batches, never per seller in the log.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import pyarrow as pa

from sellerpolicy.engine.evaluation.decision import Decision, Outcome
from sellerpolicy.engine.metrics.facts import as_of_label
from sellerpolicy.engine.store.decisions import resolve_store_url, store_location
from sellerpolicy.rules.model import CompiledPack, Status

__all__ = ["Progress", "ProgressCallback", "RunSummary", "Tally", "summarize", "timed_batches"]

_T = TypeVar("_T")


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
class Tally:
    """Counters of one run, filled chunk by chunk (never logged per seller)."""

    sellers: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    actions: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    reported: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    not_assessed: Counter[str] = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add_batch(self, batch: pa.RecordBatch, pack: CompiledPack) -> None:
        """Count a decision batch column by column (no :class:`Decision` values built)."""
        from .columnar import ColumnarCounts  # noqa: PLC0415 (NumPy path: load on demand)

        self.sellers += batch.num_rows
        self.statuses.update(ColumnarCounts.statuses(batch))
        for rule, action, enforced in ColumnarCounts.actions(batch):
            (self.actions if enforced else self.reported)[rule][action] += 1
        self.not_assessed.update(ColumnarCounts.not_assessed(batch, pack))

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


def timed_batches(
    items: Iterable[_T], seconds: defaultdict[str, float]
) -> Iterator[tuple[_T, float]]:
    """Yield ``items`` with the time each was asked for, adding the time spent producing
    each to ``seconds["evaluate"]``."""
    iterator = iter(items)
    while True:
        start = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            seconds["evaluate"] += time.perf_counter() - start
        yield item, start


def summarize(
    pack: CompiledPack,
    tally: Tally,
    *,
    run_id: str,
    as_of: datetime,
    out: Path,
    store_url: str | None,
    rejects: int,
    rejects_path: Path | None,
) -> RunSummary:
    """The summary of a finished run from its tally."""
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
        store=store_location(resolve_store_url(store_url)) if store_url else None,
        durations=MappingProxyType(dict(tally.seconds)),
    )


def _frozen(counts: Mapping[str, Counter[str]]) -> Mapping[str, Mapping[str, int]]:
    return MappingProxyType(
        {rule: MappingProxyType(dict(sorted(c.items()))) for rule, c in sorted(counts.items())}
    )
