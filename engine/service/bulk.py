"""Large evaluation requests decided on the columnar leg, their records rendered in bulk.

For a batch of sellers, building a :class:`~sellerpolicy.engine.evaluation.decision.Decision`
per seller and encoding its ``to_json()`` costs some 0.3 ms of CPU a seller
(3 s for 10,000 amazon sellers). The columnar leg of batch runs does the same
work column by column: :func:`~sellerpolicy.engine.columnar.decisions.evaluate_batches`
decides a whole batch, :func:`~sellerpolicy.engine.columnar.typed.record_batch`
types it, and :func:`~sellerpolicy.engine.columnar.records.json_line_chunks`
renders every record as the JSON text of ``Decision.to_json`` (a differential
and a byte-equality test over every shipped pack guard both).

:func:`plan` splits the sellers of one ``as_of`` into *batches* the columnar
leg takes exactly: sellers whose facts have the same names in the same order
(a decision echoes the facts as given, absent ones absent) and, per fact, the
same kind of JSON number (``1`` and ``1.0`` are written back as given: one
Arrow column is ``int64`` or ``float64``). A batch under the minimum
(:data:`.evaluate.BULK_SELLERS` sellers), and any seller whose facts no Arrow column
holds (an integer beyond 64 bits, no facts at all), is left to the
per-decision path. :func:`bulk_records` decides one batch and returns the
same :class:`~sellerpolicy.engine.store.records.DecisionRecord` values the
per-decision path makes (``DecisionRecord.of``): status, rule outcomes, the
enforced actions by rule, the decision's JSON text as the store keeps it
(``ensure_ascii=False``: a text with an escaped character is encoded again;
rare), so storing, idempotency and escalation history work as before. The
record's ``document`` mapping is left empty (:data:`NOT_PARSED`): nothing
reads it when the JSON text is given.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.columnar.decisions import evaluate_batches
from sellerpolicy.engine.columnar.read import STATUS_LABELS, label_codes
from sellerpolicy.engine.columnar.records import json_line_chunks, text_bytes
from sellerpolicy.engine.columnar.typed import record_batch
from sellerpolicy.engine.evaluation.decision import Outcome
from sellerpolicy.engine.evaluation.evaluate import HistoryLookup
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.metrics.facts import SellerFacts, as_of_label
from sellerpolicy.engine.store.records import DecisionRecord, RuleRecord, aware_utc, encode_json
from sellerpolicy.rules.model import CompiledPack

from .offload import let_the_server_run

__all__ = ["BULK_STEP", "NOT_PARSED", "Batch", "bulk_records", "plan"]

#: Sellers decided (and rendered) between two turns of the server's loop (some 30 ms of work).
BULK_STEP = 4096
#: The ``document`` of a record built here: its JSON text stands for it.
NOT_PARSED: MappingProxyType[str, object] = MappingProxyType({})

_OUTCOMES = tuple(o.value for o in Outcome)
_MATCHED = _OUTCOMES.index(Outcome.MATCHED.value)
_ESCAPE = re.compile(rb"\\u")
_INT64 = (-(2**63), 2**63 - 1)
_NONE = type(None)


class Batch:
    """Sellers (by their index in the request) the columnar leg decides in one batch."""

    __slots__ = ("facts", "indexes")

    def __init__(self, indexes: list[int], facts: pa.RecordBatch) -> None:
        self.indexes = indexes
        self.facts = facts


def plan(
    facts: Sequence[SellerFacts], indexes: Sequence[int], minimum: int
) -> tuple[list[Batch], list[int]]:
    """The columnar batches among these sellers (one ``as_of``), and the sellers left over.

    A batch holds at least ``minimum`` sellers; the others are left over.
    """
    by_names: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index in indexes:
        by_names[tuple(facts[index].values)].append(index)
    batches: list[Batch] = []
    rest: list[int] = []
    for names, members in by_names.items():
        if len(members) < minimum or not names:
            rest += members
            continue
        for part, batch in _batches(facts, names, members, minimum):
            if batch is None:
                rest += part
            else:
                batches.append(Batch(part, batch))
    rest.sort()
    return batches, rest


def _batches(
    facts: Sequence[SellerFacts], names: tuple[str, ...], members: list[int], minimum: int
) -> Iterator[tuple[list[int], pa.RecordBatch | None]]:
    """The sellers with these fact names, as batches with one kind of number per column.

    A fact given as an integer by some sellers and as a float by others
    splits them (each way of writing the numbers is a batch); ``None`` for
    sellers no batch can hold.
    """
    columns = list(zip(*(tuple(facts[i].values.values()) for i in members), strict=True))
    mixed = [k for k, column in enumerate(columns) if {int, float} <= set(map(type, column))]
    if not mixed:
        yield members, _facts_batch(facts, names, members, columns)
        return
    split: dict[tuple[bool, ...], list[int]] = defaultdict(list)
    for row, index in enumerate(members):
        split[tuple(type(columns[k][row]) is float for k in mixed)].append(index)
    for part in split.values():
        if len(part) < minimum:
            yield part, None
            continue
        rows = [tuple(facts[i].values.values()) for i in part]
        yield part, _facts_batch(facts, names, part, list(zip(*rows, strict=True)))


def _facts_batch(
    facts: Sequence[SellerFacts],
    names: tuple[str, ...],
    members: list[int],
    columns: list[tuple[Any, ...]],
) -> pa.RecordBatch | None:
    """``seller_id`` and one typed column per fact; ``None`` when a column cannot be typed."""
    arrays = [pa.array([facts[i].seller_id for i in members], pa.string())]
    for column in columns:
        kinds = set(map(type, column)) - {_NONE}
        if kinds == {int}:
            low, high = (
                min(v for v in column if v is not None),
                max(v for v in column if v is not None),
            )
            if low < _INT64[0] or high > _INT64[1]:
                return None
            arrays.append(pa.array(column, pa.int64()))
        elif kinds <= {float}:
            arrays.append(pa.array(column, pa.float64()))
        else:  # pragma: no cover - facts are numbers or null (validated), never mixed here
            return None
    return pa.RecordBatch.from_arrays(arrays, names=["seller_id", *names])


def bulk_records(
    pack: CompiledPack,
    batch: Batch,
    as_of: datetime,
    *,
    history: HistoryLookup | None,
    explain: ExplainLevel,
) -> list[DecisionRecord]:
    """The decisions of one batch, as ``DecisionRecord.of`` makes them, in batch order.

    Decided :data:`BULK_STEP` sellers at a time, letting the server's loop run
    between steps (:func:`~.offload.let_the_server_run`).
    """
    facts = batch.facts
    slices = (facts.slice(start, BULK_STEP) for start in range(0, facts.num_rows, BULK_STEP))
    when = aware_utc(datetime.fromisoformat(as_of_label(as_of)))
    out: list[DecisionRecord] = []
    for decided in evaluate_batches(pack, slices, as_of, history=history, explain=explain):
        records = record_batch(decided, pack)
        texts: list[str] = []
        for chunk in json_line_chunks(records, pack, end=""):
            texts += _as_stored(chunk)
        statuses = label_codes(decided.column("status"), STATUS_LABELS, "status").tolist()
        out += [
            DecisionRecord(
                seller_id=seller,
                as_of=when,
                status=STATUS_LABELS[status],
                document=NOT_PARSED,
                rules=rules,
                decision_id=decision_id,
                document_json=text,
            )
            for seller, status, rules, decision_id, text in zip(
                decided.column("seller_id").to_pylist(),
                statuses,
                _rule_records(pack, decided),
                records.column("decision_id").to_pylist(),
                texts,
                strict=True,
            )
        ]
        let_the_server_run()
    return out


def _as_stored(chunk: pa.StringArray) -> list[str]:
    """The texts of a chunk of rendered records as the store encodes them.

    Rendered records are ASCII (``\\u`` escapes, as the JSON lines sink
    writes); the store keeps non-ASCII characters as they are
    (:func:`~sellerpolicy.engine.store.records.encode_json`). Only a text
    with an escape can differ: those are encoded again.
    """
    texts: list[str] = chunk.to_pylist()
    if not len(chunk) or _ESCAPE.search(text_bytes(chunk)) is None:
        return texts
    escaped = np.flatnonzero(np.asarray(pc.match_substring(chunk, "\\u"), np.bool_))
    for row in escaped.tolist():
        texts[row] = encode_json(json.loads(texts[row]))
    return texts


def _rule_records(pack: CompiledPack, decided: pa.RecordBatch) -> list[tuple[RuleRecord, ...]]:
    """Per row, its :class:`RuleRecord` values in pack order (``DecisionRecord.of``'s).

    A rule *fired* when it matched; its actions are the enforced items it owns,
    in the decision's order. Rows with the same outcomes and actions share
    one tuple.
    """
    n = decided.num_rows
    ids = [rule.id for rule in pack.rules]
    if not ids:
        return [()] * n
    outcomes = np.stack(
        [label_codes(decided.column(f"rule:{rule}.outcome"), _OUTCOMES, rule) for rule in ids],
        axis=1,
    )
    actions = decided.column("actions")
    enforced: dict[int, list[tuple[str, str]]] = defaultdict(list)
    items = pc.list_flatten(actions)
    if len(items):
        parents = pc.list_parent_indices(actions).to_pylist()
        owners = items.field("rule").cast(pa.string()).to_pylist()
        names = items.field("action").cast(pa.string()).to_pylist()
        applied = items.field("enforced").to_pylist()
        for parent, owner, name, applies in zip(parents, owners, names, applied, strict=True):
            if applies:
                enforced[parent].append((owner, name))
    shared: dict[tuple[bytes, tuple[tuple[str, str], ...]], tuple[RuleRecord, ...]] = {}
    out: list[tuple[RuleRecord, ...]] = []
    for row in range(n):
        taken = tuple(enforced.get(row, ()))
        key = (outcomes[row].tobytes(), taken)
        found = shared.get(key)
        if found is None:
            by_rule: dict[str, list[str]] = defaultdict(list)
            for owner, name in taken:
                by_rule[owner].append(name)
            found = tuple(
                RuleRecord(
                    rule_id=rule,
                    outcome=_OUTCOMES[code],
                    fired=code == _MATCHED,
                    actions=tuple(by_rule.get(rule, ())),
                )
                for rule, code in zip(ids, outcomes[row].tolist(), strict=True)
            )
            shared[key] = found
        out.append(found)
    return out
