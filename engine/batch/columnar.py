"""The batch run's columnar leg: Arrow batches of facts through the bulk decision path.

:func:`~sellerpolicy.engine.batch.run.run_evaluation` takes this leg whenever the
vectorized back end evaluates (``--backend auto`` or ``vector``) and
explanations are ``summary`` or ``none`` (``full`` needs per-seller order
dates from the source, which only the per-seller path reads). Facts stay
columns from the metrics table (or the facts file) to the decision batch,
and every output is written from decision batches
(:func:`~sellerpolicy.engine.columnar.write.write_decisions`): ``.arrows``
and ``.arrow`` as they are, JSON lines, CSV and typed Parquet records
rendered column by column. Full
:class:`~sellerpolicy.engine.evaluation.decision.Decision` values are built
from a batch only for the decision store.

Owns the leg itself (:func:`run_columnar`: the facts as Arrow batches, the
decision batches with their sellers' history, and the output written
through a partial file), and the counts a run summary reads off decision
batches (:class:`ColumnarCounts`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.columnar.decisions import (
    decision_schema,
    decisions_from_batch,
    evaluate_batches,
    write_decisions,
)
from sellerpolicy.engine.evaluation.decision import Decision, Outcome
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.sources.rejects import Reject
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.rules.model import CompiledPack, Exemption

from .facts_file import read_facts_columns
from .summary import Tally, timed_batches

__all__ = ["ColumnarCounts", "decide_batches", "facts_batches", "run_columnar"]

_T = TypeVar("_T")


def facts_batches(
    table: pa.Table | None,
    facts_path: Path | None,
    pack: CompiledPack,
    as_of: datetime,
    chunk_size: int,
    *,
    rejected: list[Reject] | None = None,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The facts of a run as Arrow batches, and their schema (known before the first).

    Facts-file rows with contradictory numbers go to ``rejected`` (if given).
    """
    if table is not None:
        return table.schema, iter(table.to_batches(max_chunksize=chunk_size))
    assert facts_path is not None
    return read_facts_columns(facts_path, pack, as_of, chunk_size=chunk_size, rejected=rejected)


def run_columnar(
    pack: CompiledPack,
    facts: tuple[pa.Schema, Iterator[pa.RecordBatch]],
    *,
    as_of: datetime,
    store: DecisionStore | None,
    explain: ExplainLevel,
    exemptions: Sequence[Exemption],
    out: Path | None,
    tally: Tally,
    recorded: Callable[[list[Decision], int, int, float], None],
    records: bool,
) -> None:
    """The bulk leg of a run: decision batches, recorded, and written as they are to ``out``."""
    schema, batches = facts
    decided = decide_batches(
        pack, batches, as_of=as_of, store=store, explain=explain, exemptions=exemptions
    )

    def steps() -> Iterator[pa.RecordBatch]:
        for index, (batch, started) in enumerate(timed_batches(decided, tally.seconds)):
            decisions: list[Decision] = []
            if records:
                with tally.timed("records"):
                    decisions = decisions_from_batch(batch, pack)
                tally.add(decisions)
            else:
                tally.add_batch(batch, pack)
            recorded(decisions, batch.num_rows, index, started)
            yield batch

    if out is None:
        for _ in steps():
            pass
        return
    partial = out.with_name(f".partial-{out.name}")
    try:
        first = next(iter(steps_ := steps()), None)
        if first is None:
            empty = decision_schema(pack, schema, explain).empty_table()
            write_decisions(empty.to_batches() or [_empty_batch(empty.schema)], partial, pack=pack)
        else:
            with tally.timed("write"):
                write_decisions(_chain(first, steps_), partial, pack=pack)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


def _chain(first: _T, rest: Iterator[_T]) -> Iterator[_T]:
    yield first
    yield from rest


def decide_batches(
    pack: CompiledPack,
    batches: Iterable[pa.RecordBatch],
    *,
    as_of: datetime,
    store: DecisionStore | None,
    explain: ExplainLevel,
    exemptions: Sequence[Exemption],
) -> Iterator[pa.RecordBatch]:
    """Decision batches, each with its sellers' escalation history prefetched from ``store``."""
    for batch in batches:
        if not batch.num_rows:
            continue
        history = None
        if store is not None:
            sellers = batch.column("seller_id").cast(pa.string()).to_pylist()
            history = store.history(pack, sellers, as_of)
        yield from evaluate_batches(
            pack, [batch], as_of, history=history, exemptions=exemptions, explain=explain
        )


class ColumnarCounts:
    """What a run summary counts, read off decision batches column by column."""

    @staticmethod
    def statuses(batch: pa.RecordBatch) -> dict[str, int]:
        """Sellers per status label."""
        counts = pc.value_counts(batch.column("status").dictionary_decode())
        return {str(c["values"]): int(c["counts"]) for c in counts.to_pylist()}

    @staticmethod
    def actions(batch: pa.RecordBatch) -> list[tuple[str, str, bool]]:
        """(rule, action, enforced) of every action item, one per item."""
        items = pc.list_flatten(batch.column("actions"))
        if not len(items):
            return []
        rules = items.field("rule").to_pylist()
        actions = items.field("action").to_pylist()
        enforced = items.field("enforced").to_pylist()
        return list(zip(rules, actions, enforced, strict=True))

    @staticmethod
    def not_assessed(batch: pa.RecordBatch, pack: CompiledPack) -> dict[str, int]:
        """Sellers per rule for whom the rule was not assessed."""
        out: dict[str, int] = {}
        for rule in pack.rules:
            outcome = batch.column(f"rule:{rule.id}.outcome").dictionary_decode()
            count = int(pc.sum(pc.equal(outcome, Outcome.NOT_ASSESSED.value)).as_py() or 0)
            if count:
                out[rule.id] = count
        return out
