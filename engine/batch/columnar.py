"""The batch run's columnar leg: Arrow batches of facts through the bulk decision path.

:func:`~sellerpolicy.engine.batch.run.run_evaluation` takes this leg whenever the
vectorized back end evaluates (``--backend auto`` or ``vector``) and
explanations are ``summary`` or ``none`` (``full`` needs per-seller order
dates from the source, which only the per-seller path reads). Facts stay
columns from the metrics table (or the facts file) to the decision batch;
full :class:`~sellerpolicy.engine.evaluation.decision.Decision` values are built from a
batch only where a record is needed: the decision store, and the JSONL /
CSV / Parquet sinks. An ``.arrows`` output takes the decision batches as
they are (:func:`~sellerpolicy.engine.columnar.write.write_decisions`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.columnar.decisions import evaluate_batches
from sellerpolicy.engine.evaluation.decision import Outcome
from sellerpolicy.engine.evaluation.explain import ExplainLevel
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.rules.model import CompiledPack, Exemption

__all__ = ["ColumnarCounts", "decide_batches"]


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
