"""The bulk columnar evaluation path: metric facts table in, decision columns out.

:func:`evaluate_batches` computes, per seller, exactly the decision that
:func:`sellerpolicy.engine.evaluate.evaluate` makes (a differential test
proves it), column by column over a whole batch:

1. assessability: per rule, the first null fact read, then the ``min_orders``
   volume checks, as a reason code per row (reasons are a dictionary of the
   distinct texts);
2. matching: the rule's condition as a NumPy mask (:mod:`.backend_vector`);
3. escalation: the history is asked for the streaks of the firing rows only;
4. scores: band and grade picked per distinct combination of bands (exact
   ``math.fsum`` per combination);
5. combination: every (rule or grade, action) pair the pack can produce is a
   *slot*; slots are ranked once by (severity, status, pack order, action),
   and per row by enforced-first, so sorting a row needs no Python; the
   status is the maximum status code of the enforced slots present.

Texts are rendered only where a decision carries them (firing rules, scores,
actions); at ``summary`` the distance to compliance of single-leaf rate
rules is computed with int64 arithmetic (falling back to the exact Python
function when the numbers could overflow).

The layout of a decision batch (:func:`decision_schema`), flat so that
Parquet encodes it fast: ``decision_id`` (16 bytes, a UUID4), ``seller_id``,
``as_of``, ``pack``, ``pack_version``, ``pack_digest``, ``status``,
``actions`` (a list of structs: the data-contract action objects plus
``enforced`` and ``exemption``), for each rule ``rule:<id>.outcome``,
``.reason``, ``.streak``, ``.explanation``, ``.distance`` (whether there is
one), ``.headroom``, ``.excess``, ``.good_needed``; for each score
``score:<id>.total``, ``.grade``, ``.reason``, ``.explanation``,
``.points.<dimension>``; and ``facts`` (the input fact columns, untouched).
Numbers a rule result repeats from its facts (value, counts) and from the
pack (metric, threshold, window) are not stored again:
:func:`decisions_from_batch` rebuilds full :class:`Decision` values from a
batch and the pack. In the bulk path ``Distance.clears_on`` is always null
(it needs per-seller order dates: an evidence lookup per seller).
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import CompiledPack, Exemption, Score, Severity, Status

from .backend_vector import Columns, RuleBlock, ScoreBlock, Slot, rule_block, score_block
from .decision import (
    ActionItem,
    Decision,
    DimensionResult,
    Distance,
    Outcome,
    RuleResult,
    ScoreResult,
)
from .evaluate import ExplainLevel, HistoryLookup, RulePlan, check_status_map, plan_rule
from .explain import window_dates
from .facts import as_of_instant, as_of_label

__all__ = [
    "decision_schema",
    "decisions_from_batch",
    "evaluate_batches",
    "evaluate_table",
    "write_decisions",
]

_STATUS_LABELS = tuple(s.label for s in sorted(Status))
_RESERVED = frozenset({"seller_id", "as_of"})
_DEFAULT_CHUNK = 262_144


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int8)), pa.array([value]))


def _action_type() -> pa.DataType:
    return pa.struct(
        [
            ("action", pa.string()),
            ("rule", pa.string()),
            ("severity", pa.string()),
            ("metric", pa.string()),
            ("value", pa.float64()),
            ("threshold", pa.float64()),
            ("explanation", pa.string()),
            ("enforced", pa.bool_()),
            ("exemption", pa.string()),
        ]
    )


def decision_schema(pack: CompiledPack, facts: pa.Schema) -> pa.Schema:
    """The schema of the decision batches of ``pack`` over facts of schema ``facts``."""
    text = pa.dictionary(pa.int32(), pa.string())
    fields = [
        pa.field("decision_id", pa.binary(16)),
        pa.field("seller_id", pa.string()),
        pa.field("as_of", pa.dictionary(pa.int8(), pa.string())),
        pa.field("pack", pa.dictionary(pa.int8(), pa.string())),
        pa.field("pack_version", pa.dictionary(pa.int8(), pa.string())),
        pa.field("pack_digest", pa.dictionary(pa.int8(), pa.string())),
        pa.field("status", pa.dictionary(pa.int8(), pa.string())),
        pa.field("actions", pa.list_(_action_type())),
    ]
    for rule in pack.rules:
        fields += [pa.field(f"rule:{rule.id}.{f.name}", f.type) for f in RuleBlock.arrow_type(text)]
    for score in pack.scores:
        for f in ScoreBlock.arrow_type(score):
            if pa.types.is_struct(f.type):
                fields += [pa.field(f"score:{score.id}.{f.name}.{g.name}", g.type) for g in f.type]
            else:
                fields.append(pa.field(f"score:{score.id}.{f.name}", f.type))
    facts_fields = [f for f in facts if f.name not in _RESERVED]
    fields.append(pa.field("facts", pa.struct(facts_fields)))
    return pa.schema(fields)


def evaluate_table(
    pack: CompiledPack,
    facts: pa.Table,
    as_of: date | datetime,
    *,
    history: HistoryLookup | None = None,
    exemptions: Sequence[Exemption] = (),
    explain: ExplainLevel = ExplainLevel.SUMMARY,
    chunk_size: int = _DEFAULT_CHUNK,
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
        )
    )
    if not batches:
        return decision_schema(pack, facts.schema).empty_table()
    return pa.Table.from_batches(batches)


def evaluate_batches(
    pack: CompiledPack,
    batches: Iterable[pa.RecordBatch],
    as_of: date | datetime,
    *,
    history: HistoryLookup | None = None,
    exemptions: Sequence[Exemption] = (),
    explain: ExplainLevel = ExplainLevel.SUMMARY,
) -> Iterator[pa.RecordBatch]:
    """Evaluate facts batch by batch, lazily: memory stays bounded by one batch.

    Each input batch holds ``seller_id`` and fact columns (an ``as_of``
    column, if any, is not a fact and is ignored: ``as_of`` is the argument).
    Raises :class:`~sellerpolicy.rules.diagnostics.PackError` for a pack with
    an unmapped action, ValueError for a fact column that is not numeric.
    """
    check_status_map(pack)
    instant = as_of_instant(as_of)
    plans = tuple(plan_rule(rule, pack) for rule in pack.rules)
    active: dict[tuple[str, str], str] = {}
    for exemption in exemptions:
        if exemption.pack == pack.id and exemption.expires >= instant.date():
            for owner in exemption.rules:
                active.setdefault((exemption.seller_id, owner), exemption.id)
    for batch in batches:
        if batch.num_rows:
            yield _evaluate_batch(
                pack, plans, batch, as_of=instant, history=history, exempt=active, level=explain
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
) -> pa.RecordBatch:
    n = batch.num_rows
    if "seller_id" not in batch.schema.names:
        raise ValueError("facts batch has no seller_id column")
    sellers = batch.column("seller_id").cast(pa.string())
    columns = Columns.from_arrow(batch)
    rates = frozenset(u.name for u in pack.metrics if u.kind is MetricKind.RATE)
    rules = [
        rule_block(p, columns, sellers=sellers, as_of=as_of, history=history, level=level)
        for p in plans
    ]
    scores = [score_block(s, pack, columns, rates, level) for s in pack.scores]
    slots = _slots(pack, rules, scores)
    status, actions = _actions(slots, n, sellers, exempt)
    facts_fields = [f for f in batch.schema if f.name not in _RESERVED]
    facts = pa.StructArray.from_arrays(
        [batch.column(f.name) for f in facts_fields], fields=facts_fields
    )
    label = as_of_label(as_of)
    ids = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    ids[:, 6] = (ids[:, 6] & 0x0F) | 0x40  # version 4
    ids[:, 8] = (ids[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    arrays = [
        pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(ids)]),
        sellers,
        _constant(label, n),
        _constant(pack.id, n),
        _constant(pack.version, n),
        _constant(pack.digest, n),
        pa.DictionaryArray.from_arrays(pa.array(status), pa.array(_STATUS_LABELS)),
        actions,
        *(array for block in rules for array in block.array.flatten()),
        *(array for block in scores for array in _flat(block.array)),
        facts,
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=decision_schema(pack, batch.schema))


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
    item_rows = rows[local_rows]
    values = np.zeros(picked.size, np.float64)
    for s, slot in enumerate(slots):
        here = picked == s
        values[here] = slot.values[item_rows[here]]

    def by_slot(texts: Sequence[object], kind: pa.DataType) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(picked, pa.int32()), pa.array(texts, kind))

    exempted = (
        [exemption.get(key) for key in zip(local_rows.tolist(), picked.tolist(), strict=True)]
        if exemption
        else [None] * picked.size
    )
    struct = pa.StructArray.from_arrays(
        [
            by_slot([slot.action for slot in slots], pa.string()).cast(pa.string()),
            by_slot([slot.owner for slot in slots], pa.string()).cast(pa.string()),
            by_slot([Severity(slot.severity).name.lower() for slot in slots], pa.string()).cast(
                pa.string()
            ),
            by_slot([slot.metric for slot in slots], pa.string()).cast(pa.string()),
            pa.array(values),
            by_slot([slot.threshold for slot in slots], pa.float64()).cast(pa.float64()),
            pa.array(
                [
                    slots[s].texts.get(r)
                    for r, s in zip(item_rows.tolist(), picked.tolist(), strict=True)
                ],
                pa.string(),
            ),
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
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=pa.list_(_action_type()))


# ---------------------------------------------------------------------------
# Back to Decision values, and to files


def decisions_from_batch(batch: pa.RecordBatch | pa.Table, pack: CompiledPack) -> list[Decision]:
    """Full :class:`Decision` values from a decision batch of ``pack`` (for sinks and tests)."""
    plans = tuple(plan_rule(rule, pack) for rule in pack.rules)
    data = {name: batch.column(name).to_pylist() for name in batch.schema.names}
    out: list[Decision] = []
    windows: dict[tuple[str, str], tuple[date, date]] = {}
    for i, seller in enumerate(data["seller_id"]):
        facts = data["facts"][i]
        label = data["as_of"][i]
        results = []
        for plan in plans:
            key = (plan.use.name, label)
            if key not in windows:
                instant = as_of_instant(datetime.fromisoformat(label.replace("Z", "+00:00")))
                windows[key] = window_dates(plan.use, instant)
            cell = _cell(data, f"rule:{plan.rule.id}.", i)
            results.append(_rule_result(plan, cell, facts, windows[key]))
        scores = tuple(
            _score_result(score, _cell(data, f"score:{score.id}.", i), facts)
            for score in pack.scores
        )
        by_rule = {p.rule.id: p for p in plans}
        actions = tuple(
            _action_item(item, pack, facts, by_rule.get(item["rule"]))
            for item in data["actions"][i]
        )
        out.append(
            Decision(
                decision_id=str(uuid.UUID(bytes=data["decision_id"][i])),
                seller_id=seller,
                as_of=label,
                pack=data["pack"][i],
                pack_version=data["pack_version"][i],
                pack_digest=data["pack_digest"][i],
                status=Status(_STATUS_LABELS.index(data["status"][i])),
                actions=actions,
                rules=tuple(results),
                scores=scores,
                facts=MappingProxyType(facts),
            )
        )
    return out


def _cell(data: dict[str, list[Any]], prefix: str, row: int) -> dict[str, Any]:
    return {k.removeprefix(prefix): v[row] for k, v in data.items() if k.startswith(prefix)}


def _rule_result(
    plan: RulePlan, cell: dict[str, Any], facts: dict[str, Any], window: tuple[date, date]
) -> RuleResult:
    counts = plan.count_facts
    distance = (
        Distance(cell["headroom"], cell["excess"], cell["good_needed"])
        if cell["distance"]
        else None
    )
    return RuleResult(
        rule=plan.rule.id,
        outcome=Outcome(cell["outcome"]),
        mode=plan.mode,
        reason=cell["reason"],
        metric=plan.leaf.metric,
        op=plan.leaf.op,
        value=facts.get(plan.value_fact),
        threshold=plan.leaf.threshold,
        num=facts.get(counts[0]) if counts else None,
        den=facts.get(counts[1]) if counts else None,
        window_start=window[0],
        window_end=window[1],
        explanation=cell["explanation"],
        distance=distance,
        streak=cell["streak"],
    )


def _score_result(score: Score, cell: dict[str, Any], facts: dict[str, Any]) -> ScoreResult:
    dims = tuple(
        DimensionResult(d.id, d.metric, d.weight, facts.get(d.metric), cell[f"points.{d.id}"])
        for d in score.dimensions
    )
    return ScoreResult(
        score.id, cell["total"], cell["grade"], dims, cell["reason"], cell["explanation"]
    )


def _action_item(
    item: dict[str, Any], pack: CompiledPack, facts: dict[str, Any], plan: RulePlan | None
) -> ActionItem:
    return ActionItem(
        action=item["action"],
        rule=item["rule"],
        severity=Severity[item["severity"].upper()],
        status=pack.status_map[item["action"]],
        metric=item["metric"],
        value=facts.get(plan.value_fact) if plan is not None else item["value"],
        threshold=item["threshold"],
        explanation=item["explanation"],
        enforced=item["enforced"],
        exemption=item["exemption"],
    )


def write_decisions(
    chunks: Iterable[pa.RecordBatch], out: str | Path, *, compression: str = "snappy"
) -> int:
    """Stream decision batches to one Parquet file; returns the number of decisions.

    A writer thread encodes batch ``k`` while the caller's iterator computes
    batch ``k + 1`` (the Parquet encoder releases the GIL); at most two
    batches wait in between, so memory stays bounded. Column statistics are
    kept for ``seller_id`` and ``status`` only. ValueError when ``out`` is not
    a ``.parquet`` path (other formats go through ``engine/sinks.py`` with
    :func:`decisions_from_batch`) or when there is no batch; on any error the
    partial file is removed.
    """
    path = Path(out)
    if path.suffix.lower() != ".parquet":
        raise ValueError(f"{path}: the columnar decision writer writes .parquet files only")
    iterator = iter(chunks)
    first = next(iterator, None)
    if first is None:
        raise ValueError(f"{path}: no decision batches to write (empty input)")
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = first.schema
    pending: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=2)
    failures: list[BaseException] = []

    def drain() -> None:
        try:
            with pq.ParquetWriter(
                path, schema, compression=compression, write_statistics=["seller_id", "status"]
            ) as writer:
                while (batch := pending.get()) is not None:
                    writer.write_batch(batch)
        except BaseException as exc:  # handed to the caller's thread below
            failures.append(exc)
            while pending.get() is not None:
                pass

    thread = threading.Thread(target=drain, name="decision-writer", daemon=True)
    thread.start()
    rows = 0
    try:
        for chunk in itertools.chain([first], iterator):
            if failures:
                break
            batch = chunk
            if batch.schema != schema:
                batch = pa.Table.from_batches([batch]).cast(schema).to_batches()[0]
            pending.put(batch)
            rows += batch.num_rows
    except BaseException:
        pending.put(None)
        thread.join()
        path.unlink(missing_ok=True)
        raise
    pending.put(None)
    thread.join()
    if failures:
        path.unlink(missing_ok=True)
        raise failures[0]
    return rows
