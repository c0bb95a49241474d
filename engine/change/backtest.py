"""Backtest: what a pack would have decided, date after date, ladders included.

:func:`backtest` evaluates a pack (and optionally a baseline pack) on a
source at each date ``start``, ``start + every``, ... up to ``end``, in order.
The source is loaded and validated once, into tables (every date reads them
again); metric facts are computed once per date (once per pack when the
packs define a metric name differently). Each pack keeps its own escalation
history in memory: the decisions of the earlier dates of this backtest,
exactly as the decision store would hold them for ``sellerpolicy evaluate
--store`` runs made in date order (the same
:class:`~sellerpolicy.engine.store.history.BatchHistory` answers the streaks,
over the same newest evaluations), so ladders climb and lapse as they would
have. Nothing is written to any store.

The report (:class:`Backtest`, values only) holds, per pack and per date,
the sellers, their statuses and the enforced actions per (rule, action);
with a decision store, also what the store holds for that day and pack id
(:func:`~sellerpolicy.engine.store.backtest_reads.stored_day`); and each
seller's timeline of enforced actions: a :class:`Step` on every date its
set of enforced actions changed (a seller never actioned has none).
:func:`write_backtest` writes ``backtest.json`` and ``timelines.jsonl``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.batch.columnar import ColumnarCounts
from sellerpolicy.engine.columnar.decisions import evaluate_batches
from sellerpolicy.engine.evaluation.decision import Outcome
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.metrics.facts import as_of_instant, as_of_label
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.rejects import write_rejects
from sellerpolicy.engine.store.backtest_reads import stored_day
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.history import BatchHistory, Evaluation
from sellerpolicy.rules.durations import format_duration, parse_duration
from sellerpolicy.rules.model import CompiledPack

from .backtest_report import (
    Backtest,
    Counts,
    PackBacktest,
    Pair,
    Point,
    Step,
    Timeline,
    write_backtest,
)
from .population import shared_uses

__all__ = [
    "MAX_DATES",
    "Backtest",
    "Counts",
    "PackBacktest",
    "Point",
    "Step",
    "Timeline",
    "backtest",
    "backtest_dates",
    "parse_every",
    "write_backtest",
]

#: The most dates one backtest evaluates (a year of days, with room to spare).
MAX_DATES = 400
_CHUNK = 131_072  # sellers per decision batch
_MATCHED = Outcome.MATCHED.value


def parse_every(every: str | timedelta) -> timedelta:
    """The step between dates: a positive whole number of days (``7d``, ``48h``).

    Escalation history keeps one evaluation per seller and day, so a step
    under a day, or not a whole number of days, is a ValueError.
    """
    step = parse_duration(every) if isinstance(every, str) else every
    if step <= timedelta(0) or step % timedelta(days=1):
        shown = every if isinstance(every, str) else str(every)
        raise ValueError(f"not a positive whole number of days: {shown!r} (write a week as '7d')")
    return step


def backtest_dates(
    start: date | datetime,
    end: date | datetime,
    every: str | timedelta,
    *,
    limit: int = MAX_DATES,
) -> tuple[datetime, ...]:
    """``start``, ``start + every``, ... up to ``end`` inclusive, as UTC instants.

    ValueError for a bad step (:func:`parse_every`), when ``start`` is after
    ``end``, or when there would be more than ``limit`` dates.
    """
    step = parse_every(every)
    first, last = as_of_instant(start), as_of_instant(end)
    if first > last:
        raise ValueError(
            f"the first date {as_of_label(first)} is after the last {as_of_label(last)}"
        )
    count = (last - first) // step + 1
    if count > limit:
        raise ValueError(
            f"{as_of_label(first)} to {as_of_label(last)} every {format_duration(step)} is "
            f"{count} dates, more than {limit}: take a longer step or a shorter range"
        )
    return tuple(first + k * step for k in range(count))


class _Walk:
    """One pack's walk through the dates: its history in memory, counts and timelines.

    The history holds, per seller, its newest evaluations (at most the
    pack's deepest ladder step, as the store's history query reads them),
    newest first; a seller none of whose kept evaluations fired anything
    is dropped (every streak of it is 0 either way).
    """

    def __init__(self, pack: CompiledPack, role: str) -> None:
        self.pack, self.role = pack, role
        self._depth = max(
            (s.after for r in pack.rules if r.escalation for s in r.escalation.steps), default=0
        )
        self._history: dict[str, list[Evaluation]] = {}
        self._held: dict[str, frozenset[Pair]] = {}
        self._steps: dict[str, list[Step]] = {}
        self._points: list[Point] = []

    def step(self, facts: pa.Table, instant: datetime, stored: Counts | None) -> None:
        """Evaluate every seller of ``facts`` at ``instant``; then remember the date."""
        day, label = instant.date(), as_of_label(instant)
        history = BatchHistory(self.pack, day, self._history) if self._depth else None
        decided = evaluate_batches(
            self.pack,
            facts.to_batches(max_chunksize=_CHUNK),
            instant,
            history=history,
            explain=ExplainLevel.NONE,
            with_facts=False,
        )
        statuses: Counter[str] = Counter()
        actions: defaultdict[str, Counter[str]] = defaultdict(Counter)
        fired: dict[str, set[str]] = {}
        for batch in decided:
            statuses.update(ColumnarCounts.statuses(batch))
            sellers = batch.column("seller_id").to_pylist()
            enforced = _enforced(batch)
            for pairs in enforced.values():
                for rule, action in pairs:
                    actions[rule][action] += 1
            self._changes(batch, sellers, enforced, label)
            for owner in self.pack.rules:
                outcome = batch.column(f"rule:{owner.id}.outcome").dictionary_decode()
                for row in np.flatnonzero(pc.equal(outcome, _MATCHED).to_numpy(False)):
                    fired.setdefault(sellers[row], set()).add(owner.id)
        if self._depth:
            self._remember(facts.column("seller_id").to_pylist(), fired, day)
        self._points.append(Point(label, Counts.of(facts.num_rows, statuses, actions), stored))

    def _changes(
        self,
        batch: pa.RecordBatch,
        sellers: list[str],
        enforced: dict[int, frozenset[Pair]],
        label: str,
    ) -> None:
        """A step for each seller of the batch whose enforced actions changed."""
        rows = set(enforced)
        if self._held:
            held = pc.is_in(batch.column("seller_id"), value_set=pa.array(list(self._held)))
            rows.update(np.flatnonzero(held.to_numpy(False)).tolist())
        status = batch.column("status")
        labels, codes = status.dictionary.to_pylist(), status.indices.to_numpy(False)
        for row in sorted(rows):
            seller, now = sellers[row], enforced.get(row, frozenset())
            before = self._held.get(seller, frozenset())
            if now == before:
                continue
            added, removed = tuple(sorted(now - before)), tuple(sorted(before - now))
            self._steps.setdefault(seller, []).append(
                Step(label, labels[codes[row]], added, removed)
            )
            if now:
                self._held[seller] = now
            else:
                del self._held[seller]

    def _remember(self, sellers: Sequence[str], fired: dict[str, set[str]], day: date) -> None:
        """Put this date's evaluation in front of each evaluated seller's history."""
        for seller in fired.keys() | (self._history.keys() & set(sellers)):
            rules = frozenset(fired.get(seller, ()))
            recent = [Evaluation(day, rules), *self._history.get(seller, ())][: self._depth]
            if any(e.fired for e in recent):
                self._history[seller] = recent
            else:
                del self._history[seller]

    def report(self) -> PackBacktest:
        """The pack and its counts on every date so far."""
        p = self.pack
        return PackBacktest(self.role, p.id, p.version, p.digest, tuple(self._points))

    def timelines(self) -> list[Timeline]:
        """Every seller whose enforced actions ever changed, by seller id."""
        return [
            Timeline(self.role, self.pack.id, seller, tuple(steps))
            for seller, steps in sorted(self._steps.items())
        ]


def _enforced(batch: pa.RecordBatch) -> dict[int, frozenset[Pair]]:
    """The enforced (rule, action) pairs of each row of a decision batch that has any."""
    lists = batch.column("actions")
    items = pc.list_flatten(lists)
    if not len(items):
        return {}
    keep = pa.array(np.flatnonzero(items.field("enforced").to_numpy(False)))
    rows = pc.list_parent_indices(lists).take(keep).to_pylist()
    rules = items.field("rule").take(keep).to_pylist()
    actions = items.field("action").take(keep).to_pylist()
    found: dict[int, set[Pair]] = {}
    for row, rule, action in zip(rows, rules, actions, strict=True):
        found.setdefault(row, set()).add((rule, action))
    return {row: frozenset(pairs) for row, pairs in found.items()}


def backtest(
    pack: CompiledPack,
    *,
    source: Path,
    start: date | datetime,
    end: date | datetime,
    every: str | timedelta = "7d",
    baseline: CompiledPack | None = None,
    store: DecisionStore | None = None,
    rejects_path: Path | None = None,
    on_date: Callable[[str], None] | None = None,
) -> Backtest:
    """Evaluate ``pack`` (and ``baseline``) on ``source`` at every date from ``start`` to ``end``.

    The dates are :func:`backtest_dates` (ValueError for a bad range or
    step, before the source is read). Rejected source rows go to
    ``rejects_path`` (written even when empty). With ``store``, each date
    also reports the stored decisions of each pack's id on that day
    (complete runs only); the store is only read. ``on_date(label)`` is
    called after each date is evaluated.
    """
    instants = backtest_dates(start, end, every)
    walks = [_Walk(pack, "new")] + ([_Walk(baseline, "baseline")] if baseline else [])

    @cache
    def stored_on(pack_id: str, day: date) -> Counts:
        assert store is not None
        found = stored_day(store.engine, pack_id, day)
        return Counts.of(found.sellers, found.statuses, found.actions)

    with duckdb.connect() as con:
        # read once, evaluated many times: tables, not files read in place on each date
        report = load_source(source, con, materialize=len(instants) > 1)
        if rejects_path is not None:
            write_rejects(report.rejects, rejects_path)
        union = shared_uses([w.pack for w in walks])
        for instant in instants:
            shared = compute_metrics(con, union, instant).table if union is not None else None
            for walk in walks:
                uses = walk.pack.metrics
                facts = compute_metrics(con, uses, instant).table if shared is None else shared
                seen = stored_on(walk.pack.id, instant.date()) if store is not None else None
                walk.step(facts, instant, seen)
            if on_date is not None:
                on_date(as_of_label(instant))
    return Backtest(
        dates=tuple(as_of_label(i) for i in instants),
        every=format_duration(parse_every(every)),
        source=str(source),
        rejects=report.reject_count,
        store=store.where if store is not None else None,
        packs=tuple(w.report() for w in walks),
        timelines=tuple(t for w in walks for t in w.timelines()),
    )
