"""The typed record layout: every field of a decision record as a typed Arrow column.

A decision batch (:mod:`.decisions`) stores codes; a *record batch* of this
layout holds what :meth:`~sellerpolicy.engine.evaluation.decision.Decision.to_json`
holds, typed, so that DuckDB, Polars and pandas read it without JSON
functions (:func:`record_schema`):

* ``decision_id`` (the UUID as text), ``seller_id``; ``as_of`` (``date32``,
  the UTC date) and ``as_of_instant`` (``timestamp[us, UTC]``: the instant,
  for an evaluation not at midnight); ``pack``, ``pack_version``,
  ``pack_digest`` and ``status`` (dictionary-encoded strings);
* ``actions``: a list of structs (action, rule, severity, metric, value,
  threshold, explanation, enforced, exemption), enforced first, as in the
  record;
* ``facts``: a struct of the fact columns as they came (typed);
* ``rules``: a struct with one field per rule id (no column for a pack
  without rules, nor ``scores`` for one without scores: Parquet has no
  empty structs), each a struct of
  ``outcome``, ``reason`` (worded), ``explanation``, ``distance`` (a struct
  of ``headroom``, ``excess``, ``good_needed``, ``clears_on``) and
  ``streak``;
* ``scores``: a struct with one field per score id (``total``, ``grade``,
  ``reason``, ``explanation``, ``points``: a struct by dimension).

What follows from the pack alone (a rule's mode, metric, operator,
threshold, window) is not repeated per row; a rule's value and counts are
its facts. :func:`record_batch` builds a record batch from a decision batch,
column by column (texts for the rows that carry one only);
:mod:`.records` renders record batches as JSON lines and CSV.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.evaluation.decision import Outcome
from sellerpolicy.engine.evaluation.explain import format_count
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.evaluation.plans import RulePlan, pack_plans
from sellerpolicy.engine.metrics.facts import as_of_instant
from sellerpolicy.rules.model import CompiledPack

from .columns import coded_text, reason_labels, sparse_text
from .distances import rule_distances
from .jsontext import uuid_texts
from .kernels import Columns, masked
from .read import (
    EXPLAIN_KEY,
    check_digest,
    explain_level,
    label_codes,
    rule_texts,
    with_facts,
)

__all__ = ["RECORDS_KEY", "record_batch", "record_schema", "single_batch"]

#: The schema metadata key marking the typed record layout (its value: the layout version).
RECORDS_KEY = b"sellerpolicy.records"
_TEXT = pa.dictionary(pa.int32(), pa.string())
_CODE = pa.dictionary(pa.int8(), pa.string())
_OUTCOMES = [o.value for o in Outcome]
DISTANCE = pa.struct(
    [
        ("headroom", pa.int64()),
        ("excess", pa.int64()),
        ("good_needed", pa.int64()),
        ("clears_on", pa.date32()),
    ]
)
ACTION = pa.struct(
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


def _rule_type(plan: RulePlan) -> pa.StructType:
    return pa.struct(
        [
            pa.field("outcome", _CODE, nullable=False),
            ("reason", _TEXT),
            ("explanation", _TEXT),
            ("distance", DISTANCE),
            pa.field("streak", pa.int32(), nullable=False),
        ]
    )


def _score_type(dimensions: list[str]) -> pa.StructType:
    return pa.struct(
        [
            ("total", pa.float64()),
            ("grade", _TEXT),
            ("reason", _TEXT),
            ("explanation", _TEXT),
            ("points", pa.struct([(d, pa.float64()) for d in dimensions])),
        ]
    )


def record_schema(
    pack: CompiledPack, facts: pa.StructType, explain: ExplainLevel = ExplainLevel.SUMMARY
) -> pa.Schema:
    """The typed record layout of ``pack``'s decisions over facts of type ``facts``."""
    rules = pa.struct([pa.field(p.rule.id, _rule_type(p)) for p in pack_plans(pack)])
    scores = pa.struct(
        [pa.field(s.id, _score_type([d.id for d in s.dimensions])) for s in pack.scores]
    )
    fields = [
        pa.field("decision_id", pa.string(), nullable=False),
        pa.field("seller_id", pa.string()),
        pa.field("as_of", pa.date32(), nullable=False),
        pa.field("as_of_instant", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("pack", _CODE, nullable=False),
        pa.field("pack_version", _CODE, nullable=False),
        pa.field("pack_digest", _CODE, nullable=False),
        pa.field("status", _CODE, nullable=False),
        pa.field("actions", pa.list_(ACTION), nullable=False),
        pa.field("facts", facts, nullable=False),
    ]
    # Parquet has no empty structs: a pack without scores (or rules) has no such column.
    fields += [pa.field("rules", rules, nullable=False)] if pack.rules else []
    fields += [pa.field("scores", scores, nullable=False)] if pack.scores else []
    metadata = {RECORDS_KEY: b"1", EXPLAIN_KEY: explain.value.encode()}
    return pa.schema(fields, metadata=metadata)


def single_batch(data: pa.RecordBatch | pa.Table) -> pa.RecordBatch:
    """A table's rows as one record batch (a batch as it is)."""
    if isinstance(data, pa.RecordBatch):
        return data
    combined = data.combine_chunks()
    batches = combined.to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=data.schema)


def _constant(array: pa.Array) -> pa.DictionaryArray:
    """A low-cardinality string column as ``dictionary<int8, string>``."""
    if pa.types.is_dictionary(array.type):
        return array.cast(_CODE)
    return pc.dictionary_encode(array.cast(pa.string())).cast(_CODE)


def record_batch(
    batch: pa.RecordBatch | pa.Table,
    pack: CompiledPack,
    facts: pa.RecordBatch | pa.Table | None = None,
) -> pa.RecordBatch:
    """The typed records of a decision batch of ``pack`` (facts beside it, if written without).

    A batch that is already typed records is returned as it is. ValueError
    as :func:`~sellerpolicy.engine.columnar.read.decisions_from_batch` raises
    it: another pack's batch, facts that do not line up.
    """
    check_digest(batch, pack)
    if RECORDS_KEY in (batch.schema.metadata or {}):
        return single_batch(batch)  # already records
    data = single_batch(with_facts(batch, facts))
    level = explain_level(batch.schema)
    n = data.num_rows
    facts_struct = data.column("facts")
    schema = record_schema(pack, facts_struct.type, level)
    if n == 0:
        return pa.RecordBatch.from_pylist([], schema=schema)
    labels = pc.unique(data.column("as_of").cast(pa.string())).to_pylist()
    if len(labels) != 1:
        raise ValueError(f"a decision batch has one as_of, this one {len(labels)}")
    instant = as_of_instant(datetime.fromisoformat(labels[0].replace("Z", "+00:00")))
    columns = Columns.from_arrow(pa.RecordBatch.from_struct_array(facts_struct))
    plans = pack_plans(pack)
    texts = rule_texts(data, plans, level, instant)
    rules = [_rule(plan, data, columns, texts[k], level) for k, plan in enumerate(plans)]
    scores = [_score(data, s.id, [d.id for d in s.dimensions]) for s in pack.scores]
    owner_texts = [sparse_text(n, t) for t in texts] + [
        _first_lines(score.field("explanation")) for score in scores
    ]
    owner_values = [columns.raw(p.value_fact) for p in plans] + [
        _floats(score.field("total")) for score in scores
    ]
    owners = [p.rule.id for p in plans] + [s.id for s in pack.scores]
    actions = _actions(data.column("actions"), owners, owner_values, owner_texts)
    arrays = [
        uuid_texts(data.column("decision_id")),
        data.column("seller_id").cast(pa.string()),
        pa.array(np.full(n, instant.date(), "datetime64[D]"), pa.date32()),
        pa.array(np.full(n, instant.replace(tzinfo=None), "datetime64[us]")).cast(
            pa.timestamp("us", tz="UTC")
        ),
        *(_constant(data.column(name)) for name in ("pack", "pack_version", "pack_digest")),
        _constant(data.column("status")),
        actions,
        facts_struct,
    ]
    if rules:
        arrays.append(pa.StructArray.from_arrays(rules, fields=list(schema.field("rules").type)))
    if scores:
        arrays.append(pa.StructArray.from_arrays(scores, fields=list(schema.field("scores").type)))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _rule(
    plan: RulePlan,
    data: pa.RecordBatch,
    columns: Columns,
    texts: dict[int, str],
    level: ExplainLevel,
) -> pa.StructArray:
    """One rule's struct: outcome, worded reason, explanation, distance, streak."""
    n, prefix = data.num_rows, f"rule:{plan.rule.id}."
    outcome = label_codes(data.column(prefix + "outcome"), _OUTCOMES, prefix + "outcome")
    assessed = outcome != _OUTCOMES.index(Outcome.NOT_ASSESSED.value)
    fired = outcome == _OUTCOMES.index(Outcome.MATCHED.value)
    reason = _reasons(plan, data.column(prefix + "reason"), columns)
    if level is ExplainLevel.NONE:
        distance = pa.nulls(n, DISTANCE)
    else:
        found = rule_distances(plan, columns, assessed, fired)
        distance = pa.StructArray.from_arrays(
            [
                masked(found.headroom, found.has_headroom, pa.int64()),
                masked(found.excess, found.has_excess, pa.int64()),
                masked(found.good_needed, found.has_good_needed, pa.int64()),
                pa.nulls(n, pa.date32()),
            ],
            fields=list(DISTANCE),
            mask=pa.array(~found.present),
        )
    names = data.schema.names
    streak = (
        data.column(prefix + "streak").cast(pa.int32())
        if prefix + "streak" in names
        else pa.array(np.zeros(n, np.int32))
    )
    return pa.StructArray.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array(outcome.astype(np.int8)), _OUTCOMES),
            reason,
            sparse_text(n, texts),
            distance,
            streak,
        ],
        fields=list(_rule_type(plan)),
    )


def _reasons(plan: RulePlan, column: pa.Array, columns: Columns) -> pa.DictionaryArray:
    """The worded not-assessed reason of each row (null when assessed).

    The stored code names the failed check; a volume under ``min_orders``
    is worded with the seller's volume, as ``not_assessed_reason`` words it.
    """
    labels = reason_labels(plan)
    codes = label_codes(column, labels, f"rule {plan.rule.id} reason")
    texts = list(labels)
    minimum = plan.rule.min_orders
    if minimum is not None:
        first = len(plan.reads)
        for k, (name, unit) in enumerate(plan.volumes):
            under = np.flatnonzero(codes == first + 2 * k + 1)
            if not under.size:
                continue
            values, _ = columns.raw(name)
            distinct, inverse = np.unique(values[under], return_inverse=True)
            codes[under] = len(texts) + inverse
            texts += [
                f"only {format_count(v)} {unit}, rule needs {minimum:,}" for v in distinct.tolist()
            ]
    return coded_text(codes.astype(np.int32), texts)


def _score(data: pa.RecordBatch, score: str, dimensions: list[str]) -> pa.StructArray:
    prefix = f"score:{score}."
    points = [data.column(f"{prefix}points.{d}").cast(pa.float64()) for d in dimensions]
    return pa.StructArray.from_arrays(
        [
            data.column(prefix + "total").cast(pa.float64()),
            data.column(prefix + "grade").cast(_TEXT),
            data.column(prefix + "reason").cast(_TEXT),
            data.column(prefix + "explanation").cast(_TEXT),
            pa.StructArray.from_arrays(points, names=dimensions),
        ],
        fields=list(_score_type(dimensions)),
    )


def _first_lines(texts: pa.Array) -> pa.DictionaryArray:
    """A dictionary text column with each text cut to its first line (as action items show)."""
    texts = texts.cast(_TEXT)
    lines = [t.splitlines()[0] if t else None for t in texts.dictionary.to_pylist()]
    return pa.DictionaryArray.from_arrays(texts.indices, pa.array(lines, pa.string()))


def _floats(array: pa.Array) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    valid = np.asarray(array.is_valid(), np.bool_)
    return np.asarray(array.fill_null(0.0).to_numpy(zero_copy_only=False), np.float64), valid


def _actions(
    actions: pa.Array,
    owners: list[str],
    values: list[tuple[npt.NDArray[np.generic], npt.NDArray[np.bool_]]],
    texts: list[pa.DictionaryArray],
) -> pa.ListArray:
    """The action lists with each item's value and explanation, taken from its owner."""
    items = pc.list_flatten(actions)
    rows = np.asarray(pc.list_parent_indices(actions), np.int64)
    rule = items.field("rule").cast(pa.string())
    owner = label_codes(rule, owners, "action owner")
    stacked = np.stack([v.astype(np.float64) for v, _ in values]) if values else None
    valid = np.stack([ok for _, ok in values]) if values else None
    value = (
        masked(stacked[owner, rows], valid[owner, rows], pa.float64())  # type: ignore[index]
        if rows.size
        else pa.array([], pa.float64())
    )
    dictionaries: list[str | None] = []
    indices = []
    for text in texts:
        codes = np.asarray(text.indices.cast(pa.int64()).fill_null(-1), np.int64)
        indices.append(np.where(codes < 0, -1, codes + len(dictionaries)))
        dictionaries += text.dictionary.to_pylist()
    picked = np.stack(indices)[owner, rows] if rows.size else np.zeros(0, np.int64)
    explanation = coded_text(picked.astype(np.int32), dictionaries).cast(pa.string())  # type: ignore[arg-type]
    struct = pa.StructArray.from_arrays(
        [
            items.field("action").cast(pa.string()),
            rule,
            items.field("severity").cast(pa.string()),
            items.field("metric").cast(pa.string()),
            value,
            items.field("threshold").cast(pa.float64()),
            explanation,
            items.field("enforced"),
            items.field("exemption").cast(pa.string()),
        ],
        fields=list(ACTION),
    )
    offsets = actions.offsets
    if actions.offset or offsets[0].as_py():
        offsets = pc.subtract(offsets, offsets[0])
    return pa.ListArray.from_arrays(offsets, struct, type=pa.list_(ACTION))
