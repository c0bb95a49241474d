"""The bulk columnar evaluation path: metric facts table in, decision columns out.

:func:`evaluate_batches` computes, per seller, exactly the decision that
:func:`sellerpolicy.engine.evaluation.evaluate.evaluate` makes (a differential test
proves it), column by column over a whole batch:

1. assessability: per rule, the first failing check (a null fact read,
   then the ``min_orders`` volume checks) as an int8 code per row;
2. matching: the rule's condition as a NumPy mask (:mod:`.vector_kernels`);
3. escalation: the history is asked for the streaks of the firing rows only;
4. scores: band and grade picked per distinct combination of bands (exact
   ``math.fsum`` per combination);
5. combination: every (rule or grade, action) pair the pack can produce is a
   *slot*; slots are ranked once by (severity, status, pack order, action),
   and per row by enforced-first, so sorting a row needs no Python; the
   status is the maximum status code of the enforced slots present.

The layout of a decision batch (:func:`decision_schema`) holds what was
decided, as codes: ``decision_id`` (16 bytes, a UUID4), ``seller_id``,
``as_of``, ``pack``, ``pack_version``, ``pack_digest`` (one-entry
dictionaries: no repeated strings), ``status``, ``actions`` (a list of
structs: action, rule, severity, metric, threshold, ``enforced`` and
``exemption``), for each rule ``rule:<id>.outcome`` and ``.reason`` (int8
codes over static dictionaries: the reason names the check that failed, null
when assessed) and ``.streak`` (rules with an escalation ladder only); for
each score ``score:<id>.total``, ``.grade``, ``.reason``, ``.explanation``,
``.points.<dimension>``; and ``facts`` (the input fact columns, untouched),
unless ``with_facts=False``. The schema's metadata records the explain level
and whether the facts are embedded. What follows from the facts and the pack
is not stored: a rule result's value, counts, metric, threshold and window,
its explanation, the wording of its reason, its distance to compliance, and
an action item's value and explanation. :func:`decisions_from_batch`
(:mod:`.vector_read`) rebuilds full :class:`Decision` values from a batch and
the pack, rendering the texts at the recorded explain level.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime

import numpy as np
import pyarrow as pa

from sellerpolicy.engine.evaluation.evaluate import HistoryLookup
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.evaluation.plans import RulePlan, pack_plans
from sellerpolicy.engine.metrics.facts import as_of_instant, as_of_label
from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import CompiledPack, Exemption, Severity

from .columns import RuleBlock, Slot, rule_block
from .kernels import Columns
from .read import (
    EXPLAIN_KEY,
    FACTS_BESIDE,
    FACTS_EMBEDDED,
    FACTS_KEY,
    STATUS_LABELS,
    decisions_from_batch,
)
from .scores import ScoreBlock, score_block
from .write import write_decisions

__all__ = [
    "decision_schema",
    "decisions_from_batch",
    "evaluate_batches",
    "evaluate_table",
    "write_decisions",
]

_RESERVED = frozenset({"seller_id", "as_of"})
_DEFAULT_CHUNK = 131_072  # sellers per batch: evaluation and writing overlap best (bench)


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, np.int8)), pa.array([value]), safe=False
    )


def _action_type() -> pa.DataType:
    name = pa.dictionary(pa.int32(), pa.string())
    return pa.struct(
        [
            ("action", name),
            ("rule", name),
            ("severity", name),
            ("metric", name),
            ("threshold", pa.float64()),
            ("enforced", pa.bool_()),
            ("exemption", pa.string()),
        ]
    )


def decision_schema(
    pack: CompiledPack,
    facts: pa.Schema,
    explain: ExplainLevel = ExplainLevel.SUMMARY,
    *,
    with_facts: bool = True,
) -> pa.Schema:
    """The schema of the decision batches of ``pack`` over facts of schema ``facts``.

    ``with_facts=False`` leaves the ``facts`` column out (its metadata says
    so): the decisions then stand beside their facts table, row for row.
    """
    code = pa.dictionary(pa.int8(), pa.string())
    # Never null: declared so (Parquet REQUIRED columns carry no definition levels).
    fields = [
        pa.field("decision_id", pa.binary(16), nullable=False),
        pa.field("seller_id", pa.string()),
        pa.field("as_of", code, nullable=False),
        pa.field("pack", code, nullable=False),
        pa.field("pack_version", code, nullable=False),
        pa.field("pack_digest", code, nullable=False),
        pa.field("status", code, nullable=False),
        pa.field("actions", pa.list_(_action_type()), nullable=False),
    ]
    for rule in pack.rules:
        fields += [f.with_name(f"rule:{rule.id}.{f.name}") for f in RuleBlock.arrow_type(rule)]
    for score in pack.scores:
        for f in ScoreBlock.arrow_type(score):
            if pa.types.is_struct(f.type):
                fields += [pa.field(f"score:{score.id}.{f.name}.{g.name}", g.type) for g in f.type]
            else:
                fields.append(pa.field(f"score:{score.id}.{f.name}", f.type))
    facts_fields = [f for f in facts if f.name not in _RESERVED]
    if with_facts:
        fields.append(pa.field("facts", pa.struct(facts_fields), nullable=False))
    metadata = {
        EXPLAIN_KEY: explain.value.encode(),
        FACTS_KEY: (FACTS_EMBEDDED if with_facts else FACTS_BESIDE),
    }
    return pa.schema(fields, metadata=metadata)


def evaluate_table(
    pack: CompiledPack,
    facts: pa.Table,
    as_of: date | datetime,
    *,
    history: HistoryLookup | None = None,
    exemptions: Sequence[Exemption] = (),
    explain: ExplainLevel = ExplainLevel.SUMMARY,
    chunk_size: int = _DEFAULT_CHUNK,
    with_facts: bool = True,
) -> pa.Table:
    """Evaluate a whole facts table in memory: one decision row per seller, in order."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    batches = list(
        evaluate_batches(
            pack,
            facts.to_batches(max_chunksize=chunk_size),
            as_of,
            history=history,
            exemptions=exemptions,
            explain=explain,
            with_facts=with_facts,
        )
    )
    if not batches:
        return decision_schema(pack, facts.schema, explain, with_facts=with_facts).empty_table()
    return pa.Table.from_batches(batches)


def evaluate_batches(
    pack: CompiledPack,
    batches: Iterable[pa.RecordBatch],
    as_of: date | datetime,
    *,
    history: HistoryLookup | None = None,
    exemptions: Sequence[Exemption] = (),
    explain: ExplainLevel = ExplainLevel.SUMMARY,
    with_facts: bool = True,
) -> Iterator[pa.RecordBatch]:
    """Evaluate facts batch by batch, lazily: memory stays bounded by one batch.

    Each input batch holds ``seller_id`` and fact columns (an ``as_of``
    column, if any, is not a fact and is ignored: ``as_of`` is the argument).
    ``with_facts=False`` writes no ``facts`` column: decision ``i`` of the
    output is then about row ``i`` of the input, whose facts
    :func:`decisions_from_batch` is given beside it (a batch of decisions is
    about a fifth of the bytes of the facts it judges, so writing decisions
    only is several times faster). Raises
    :class:`~sellerpolicy.rules.diagnostics.PackError` for a pack with an
    unmapped action, ValueError for a fact column that is not numeric.
    """
    instant = as_of_instant(as_of)
    plans = pack_plans(pack)
    active: dict[tuple[str, str], str] = {}
    for exemption in exemptions:
        if exemption.pack == pack.id and exemption.expires >= instant.date():
            for owner in exemption.rules:
                active.setdefault((exemption.seller_id, owner), exemption.id)
    # Decision ids: 122 random bits each, drawn from a PCG64 stream seeded with
    # 256 bits from the OS (10x faster than os.urandom per id; ids are unique
    # labels, not secrets).
    random = np.random.default_rng(int.from_bytes(os.urandom(32), "little"))
    for batch in batches:
        if batch.num_rows:
            yield _evaluate_batch(
                pack,
                plans,
                batch,
                as_of=instant,
                history=history,
                exempt=active,
                level=explain,
                random=random,
                with_facts=with_facts,
            )


def _evaluate_batch(
    pack: CompiledPack,
    plans: tuple[RulePlan, ...],
    batch: pa.RecordBatch,
    *,
    as_of: datetime,
    history: HistoryLookup | None,
    exempt: dict[tuple[str, str], str],
    level: ExplainLevel,
    random: np.random.Generator,
    with_facts: bool,
) -> pa.RecordBatch:
    n = batch.num_rows
    if "seller_id" not in batch.schema.names:
        raise ValueError("facts batch has no seller_id column")
    sellers = batch.column("seller_id").cast(pa.string())
    columns = Columns.from_arrow(batch)
    rates = frozenset(u.name for u in pack.metrics if u.kind is MetricKind.RATE)
    rules = [rule_block(p, columns, sellers=sellers, as_of=as_of, history=history) for p in plans]
    scores = [score_block(s, pack, columns, rates, level, as_of) for s in pack.scores]
    slots = _slots(pack, rules, scores)
    status, actions = _actions(slots, n, sellers, exempt)
    facts_fields = [f for f in batch.schema if f.name not in _RESERVED]
    facts = (
        [
            pa.StructArray.from_arrays(
                [batch.column(f.name) for f in facts_fields], fields=facts_fields
            )
        ]
        if with_facts
        else []
    )
    label = as_of_label(as_of)
    ids = random.bit_generator.random_raw(2 * n).view("<u8").reshape(n, 2)
    # As little-endian words (whatever the machine): byte 6 of the UUID is bits 48-55 of
    # the first, byte 8 bits 0-7 of the second. Version 4 in byte 6's high nibble, the
    # RFC 4122 variant in byte 8's top bits.
    first, second = ids[:, 0], ids[:, 1]  # views: updated in place
    first &= np.uint64(0xFF0F_FFFF_FFFF_FFFF)
    first |= np.uint64(0x0040_0000_0000_0000)
    second &= np.uint64(0xFFFF_FFFF_FFFF_FF3F)
    second |= np.uint64(0x80)
    arrays = [
        pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(ids)]),
        sellers,
        _constant(label, n),
        _constant(pack.id, n),
        _constant(pack.version, n),
        _constant(pack.digest, n),
        pa.DictionaryArray.from_arrays(pa.array(status), pa.array(STATUS_LABELS), safe=False),
        actions,
        *(array for block in rules for array in block.array.flatten()),
        *(array for block in scores for array in _flat(block.array)),
        *facts,
    ]
    schema = decision_schema(pack, batch.schema, level, with_facts=with_facts)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _flat(struct: pa.StructArray) -> Iterator[pa.Array]:
    for child in struct.flatten():
        if pa.types.is_struct(child.type):
            yield from child.flatten()
        else:
            yield child


def _slots(pack: CompiledPack, rules: list[RuleBlock], scores: list[ScoreBlock]) -> list[Slot]:
    """Every (owner, action) a decision can carry, ranked by the static sort key."""
    slots = [slot for block in rules for slot in block.slots(pack)]
    offset = len(pack.rules)
    for k, block in enumerate(scores):
        slots += block.slots(pack, offset + k)
    slots.sort(key=lambda s: (-s.severity, -s.status, s.order, s.action))
    return slots


def _actions(
    slots: list[Slot], n: int, sellers: pa.Array, exempt: dict[tuple[str, str], str]
) -> tuple[np.ndarray, pa.ListArray]:
    status = np.zeros(n, np.int8)
    counts = np.zeros(n, np.int32)
    if not slots:
        return status, _list_of(counts, _empty_actions())
    any_present = np.zeros(n, np.bool_)
    for slot in slots:
        any_present |= slot.present
    rows = np.flatnonzero(any_present)
    if rows.size == 0:
        return status, _list_of(counts, _empty_actions())
    width = len(slots)
    present = np.stack([slot.present[rows] for slot in slots], axis=1)
    enforced = np.stack([np.full(rows.size, slot.enforced) for slot in slots], axis=1)
    exemption: dict[tuple[int, int], str] = {}
    if exempt:
        for local, seller in enumerate(sellers.take(pa.array(rows)).to_pylist()):
            for s, slot in enumerate(slots):
                found = exempt.get((seller, slot.owner))
                if found is not None and present[local, s]:
                    exemption[local, s] = found
                    enforced[local, s] = False
    live = present & enforced
    codes = np.array([slot.status for slot in slots], np.int8)
    status[rows] = np.where(live, codes, 0).max(axis=1)
    per_row = present.sum(axis=1)
    order = np.broadcast_to(np.arange(width), present.shape).copy()
    several = per_row > 1  # a single item needs no sorting
    key = np.where(present[several], (~enforced[several]) * width + np.arange(width), 3 * width)
    order[several] = np.argsort(key, axis=1, kind="stable")
    taken = np.take_along_axis(present, order, axis=1)
    local_rows, _ = np.nonzero(taken)
    picked = order[taken]
    counts[rows] = per_row

    def by_slot(texts: Sequence[object], kind: pa.DataType) -> pa.Array:
        return pa.DictionaryArray.from_arrays(
            pa.array(picked, pa.int32()), pa.array(texts, kind), safe=False
        )

    exempted = (
        [exemption.get(key) for key in zip(local_rows.tolist(), picked.tolist(), strict=True)]
        if exemption
        else [None] * picked.size
    )
    struct = pa.StructArray.from_arrays(
        [
            by_slot([slot.action for slot in slots], pa.string()),
            by_slot([slot.owner for slot in slots], pa.string()),
            by_slot([Severity(slot.severity).name.lower() for slot in slots], pa.string()),
            by_slot([slot.metric for slot in slots], pa.string()),
            by_slot([slot.threshold for slot in slots], pa.float64()).cast(pa.float64()),
            pa.array(enforced[local_rows, picked]),
            pa.array(exempted, pa.string()),
        ],
        fields=list(_action_type()),
    )
    return status, _list_of(counts, struct)


def _empty_actions() -> pa.StructArray:
    kinds = _action_type()
    return pa.StructArray.from_arrays(
        [pa.array([], f.type) for f in kinds],
        fields=list(kinds),
    )


def _list_of(counts: np.ndarray, values: pa.Array) -> pa.ListArray:
    offsets = np.zeros(counts.size + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    # Built from buffers: the offsets are ours, non-decreasing and ending at len(values).
    return pa.Array.from_buffers(
        pa.list_(_action_type()), counts.size, [None, pa.py_buffer(offsets)], children=[values]
    )
