"""The Python API for account-management workflows: load a pack once, ask often.

A :class:`Policy` holds one compiled pack and evaluates sellers with the same
:func:`~sellerpolicy.engine.evaluation.evaluate.evaluate` function the CLI, the batch run
and the HTTP service call::

    >>> from datetime import date
    >>> from sellerpolicy.engine.api import Policy
    >>> policy = Policy.load("amazon")
    >>> decision = policy.evaluate(
    ...     {
    ...         "seller_id": "S1",
    ...         "orders": 2000,
    ...         "order_defect_rate": 0.0135,
    ...         "order_defect_rate__num": 27,
    ...         "order_defect_rate__den": 2000,
    ...     },
    ...     as_of=date(2026, 11, 1),
    ... )
    >>> decision.status.label
    'critical'
    >>> [(item.action, item.rule) for item in decision.enforced_actions]
    [('suspend', 'odr-over-target')]
    >>> decision.rule("cancel-rate-over-target").outcome.value  # no cancel facts given
    'not_assessed'

Facts absent from the mapping are null ("not measured"), so rules reading
them are not assessed, never silently passed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from sellerpolicy.engine.batch.backends import select_backend
from sellerpolicy.engine.batch.run import evaluate_batches, facts_chunks
from sellerpolicy.engine.change.impact import ImpactReport, impact
from sellerpolicy.engine.change.population import Population, population_from_table
from sellerpolicy.engine.errors import FactsError, SourceError
from sellerpolicy.engine.evaluation.backends.protocol import Backend, BackendName
from sellerpolicy.engine.evaluation.decision import Decision
from sellerpolicy.engine.evaluation.evaluate import HistoryLookup, evaluate_one
from sellerpolicy.engine.evaluation.explain import render_report
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.compute import DuckDBEvidence, compute_metrics, iter_facts
from sellerpolicy.engine.metrics.facts import Number, SellerFacts, as_of_instant
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.rejects import Reject, write_rejects
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.rules import load_exemption, load_pack
from sellerpolicy.rules.diff import Change, diff_packs
from sellerpolicy.rules.model import CompiledPack, Exemption

__all__ = ["Explained", "Policy"]

_KEYS = frozenset({"seller_id", "as_of"})


@dataclass(frozen=True, slots=True)
class Explained:
    """A fully explained decision, its text report, and the rows the source rejected."""

    decision: Decision
    report: str
    rejects: tuple[Reject, ...]


class Policy:
    """A compiled rule pack, ready to evaluate sellers (load it once, reuse it)."""

    def __init__(
        self,
        pack: CompiledPack,
        *,
        backend: BackendName = BackendName.AUTO,
        exemptions: Sequence[Exemption] = (),
        explain: ExplainLevel = ExplainLevel.SUMMARY,
    ) -> None:
        self._pack = pack
        self._backend: Backend = select_backend(backend)
        self._exemptions = tuple(exemptions)
        self._explain = explain

    @classmethod
    def load(
        cls,
        ref: str | Path,
        *,
        backend: BackendName = BackendName.AUTO,
        exemptions: Sequence[str | Path] = (),
        explain: ExplainLevel = ExplainLevel.SUMMARY,
    ) -> Policy:
        """Load a pack by shipped name (``amazon``), folder or file, and its exemption files.

        Raises :class:`~sellerpolicy.rules.PackError` with every diagnostic
        when the pack or an exemption document is invalid.
        """
        pack = load_pack(ref)
        return cls(
            pack,
            backend=backend,
            exemptions=[load_exemption(path, pack) for path in exemptions],
            explain=explain,
        )

    @property
    def pack(self) -> CompiledPack:
        """The compiled pack (id, version, digest, rules...)."""
        return self._pack

    def evaluate(
        self,
        facts: Mapping[str, object] | SellerFacts,
        *,
        as_of: date | datetime | None = None,
        history: HistoryLookup | None = None,
    ) -> Decision:
        """The decision for one seller's metric facts.

        ``facts`` is a :class:`SellerFacts` or a mapping of facts names to
        numbers (or ``None``) that also holds ``seller_id`` and, unless
        ``as_of`` is given, ``as_of``. ``history`` (for example
        ``DecisionStore.history(...)``) drives escalation ladders; without it
        every firing is a first firing.
        """
        seller = facts if isinstance(facts, SellerFacts) else _seller_facts(facts, as_of)
        return evaluate_one(
            self._pack,
            seller,
            backend=self._backend,
            history=history,
            exemptions=self._exemptions,
            explain=self._explain,
        )

    def evaluate_source(
        self,
        source: str | Path,
        *,
        as_of: date | datetime,
        store: DecisionStore | None = None,
        rejects_out: Path | None = None,
        chunk_size: int = 10_000,
    ) -> Iterator[Decision]:
        """Decisions for every seller of a source (files or DuckDB database), in seller order.

        Escalation history comes from ``store`` when given (read, never
        written: recording is the batch run's job). Rejected source rows are
        written to ``rejects_out``; without it, a source with rejects raises
        :class:`SourceError` (rows are never silently dropped).
        """
        instant = as_of_instant(as_of)
        with duckdb.connect() as con:
            table = self._metrics(con, source, instant, rejects_out)
            batches = evaluate_batches(
                self._pack,
                facts_chunks(table, instant, chunk_size),
                as_of=instant,
                backend=self._backend,
                store=store,
                explain=self._explain,
                exemptions=self._exemptions,
            )
            for decisions in batches:
                yield from decisions

    def evaluate_columns(
        self,
        facts: pa.Table,
        *,
        as_of: date | datetime,
        history: HistoryLookup | None = None,
        chunk_size: int = 131_072,
        with_facts: bool = True,
    ) -> Iterator[pa.RecordBatch]:
        """Decision batches, in the columnar layout, for a whole Arrow table of facts.

        The table holds ``seller_id`` and fact columns as ``sellerpolicy
        metrics`` writes them; one decision row per facts row, in order, in
        batches of ``chunk_size``. The fast path for millions of sellers
        (vectorized, the same decisions as :meth:`evaluate`; see
        :mod:`sellerpolicy.engine.columnar.decisions` for the layout).
        :meth:`decisions` turns a batch into :class:`Decision` values.
        """
        from sellerpolicy.engine.columnar.decisions import evaluate_batches as columnar  # noqa: PLC0415 (NumPy)

        yield from columnar(
            self._pack,
            facts.to_batches(max_chunksize=chunk_size),
            as_of,
            history=history,
            exemptions=self._exemptions,
            explain=self._explain,
            with_facts=with_facts,
        )

    def decisions(
        self, batch: pa.RecordBatch | pa.Table, facts: pa.RecordBatch | pa.Table | None = None
    ) -> list[Decision]:
        """The :class:`Decision` values of a batch from :meth:`evaluate_columns`.

        ``facts`` are the rows the batch judged, needed when it was made with
        ``with_facts=False``.
        """
        from sellerpolicy.engine.columnar.decisions import decisions_from_batch  # noqa: PLC0415 (NumPy)

        return decisions_from_batch(batch, self._pack, facts)

    def diff(self, other: Policy | CompiledPack) -> list[Change]:
        """What changes from this policy's pack to ``other``'s (``diff THIS OTHER``).

        The semantic diff of the compiled packs (:func:`sellerpolicy.rules.diff.diff_packs`):
        empty when they mean the same, whatever their YAML looks like.
        """
        after = other.pack if isinstance(other, Policy) else other
        return diff_packs(self._pack, after)

    def impact(
        self,
        baseline: Policy | CompiledPack,
        facts: pa.Table,
        as_of: date | datetime,
        *,
        baseline_facts: pa.Table | None = None,
        store: DecisionStore | None = None,
        explain_limit: int = 1_000,
    ) -> ImpactReport:
        """What this policy would do to the sellers of ``facts``, against ``baseline``.

        ``facts`` holds ``seller_id`` and every fact either pack reads
        (``baseline_facts``, row for row the same sellers, when the baseline
        computes its metrics differently). The report holds the status
        transition matrix, firings per rule and action, the changed sellers
        as an Arrow table (:attr:`ImpactReport.changed`) with the first
        ``explain_limit`` of them explained, and the moved thresholds.
        ``store`` gives both packs their sellers' escalation history.
        """
        before = baseline.pack if isinstance(baseline, Policy) else baseline
        if baseline_facts is None:
            population = population_from_table(facts, [self._pack, before])
        else:
            population_from_table(facts, [self._pack])
            population_from_table(baseline_facts, [before])
            if not facts.column("seller_id").equals(baseline_facts.column("seller_id")):
                raise FactsError("facts and baseline_facts must hold the same sellers, in order")
            population = Population((facts, baseline_facts), "table")
        return impact(
            self._pack, before, population, as_of, store=store, explain_limit=explain_limit
        )

    def explain_seller(
        self,
        source: str | Path,
        seller_id: str,
        *,
        as_of: date | datetime,
        store: DecisionStore | None = None,
    ) -> Explained:
        """One seller's fully explained decision, its text report and the source's rejects.

        The report gives, per rule, the value with its counts, the window
        dates, the threshold, what the rule does and the distance to
        compliance (for a breach, the date it clears if nothing new goes
        wrong; for a pass, how many more bad orders it can take).
        """
        instant = as_of_instant(as_of)
        with duckdb.connect() as con:
            report = load_source(source, con)
            table = compute_metrics(con, self._pack.metrics, instant).table
            seller = next((f for f in iter_facts(table, instant) if f.seller_id == seller_id), None)
            if seller is None:
                raise FactsError(f"{source}: seller {seller_id!r} has no orders or messages")
            history = store.history(self._pack, [seller_id], instant) if store else None
            decision = evaluate_one(
                self._pack,
                seller,
                backend=self._backend,
                history=history,
                exemptions=self._exemptions,
                explain=ExplainLevel.FULL,
                evidence=DuckDBEvidence(con, self._pack.metrics, instant),
            )
        return Explained(decision, render_report(decision, self._pack), report.rejects)

    def _metrics(
        self,
        con: duckdb.DuckDBPyConnection,
        source: str | Path,
        as_of: datetime,
        rejects_out: Path | None,
    ) -> pa.Table:
        report = load_source(source, con)
        if rejects_out is not None:
            write_rejects(report.rejects, rejects_out)
        elif report.rejects:
            first = report.rejects[0]
            raise SourceError(
                str(source),
                f"{report.reject_count} rows break the data contract (first: {first.table} "
                f"row {first.row}: {first.reason}); pass rejects_out to write them and go on",
            )
        return compute_metrics(con, self._pack.metrics, as_of).table


def _seller_facts(facts: Mapping[str, object], as_of: date | datetime | None) -> SellerFacts:
    seller_id = facts.get("seller_id")
    if not isinstance(seller_id, str) or not seller_id:
        raise FactsError("facts: 'seller_id' is missing or not a string")
    when = as_of if as_of is not None else facts.get("as_of")
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError as exc:
            raise FactsError(f"facts of {seller_id}: as_of {when!r} is not a date") from exc
    if not isinstance(when, date):
        raise FactsError(f"facts of {seller_id}: give as_of (a date or datetime)")
    values: dict[str, Number | None] = {}
    for name, value in facts.items():
        if name in _KEYS:
            continue
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            values[name] = value
        else:
            raise FactsError(f"facts of {seller_id}: field {name!r} is {value!r}, not a number")
    return SellerFacts(seller_id, as_of_instant(when), values)
