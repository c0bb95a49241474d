"""Decision records rendered in bulk: JSON lines from typed record batches.

:func:`json_lines` gives, for every row of a record batch (:mod:`.typed`),
exactly the bytes ``json.dumps(decision.to_json(), separators=(",", ":"),
allow_nan=False)`` gives for the same decision (the JSON lines sink's
encoding; a byte-equality test over every shipped pack guards it), built
column by column (:class:`~.jsontext.Rows`): what the pack says once per
rule (mode, metric, operator, threshold, window) is a constant, values and
counts are the fact columns' JSON, outcomes, reasons, explanations and
distances are encoded once per distinct value. :func:`nested_fields`
serves the CSV records of :mod:`.records_csv` as well.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.evaluation.explain import window_dates
from sellerpolicy.engine.evaluation.plans import RulePlan, pack_plans
from sellerpolicy.engine.metrics.facts import as_of_label
from sellerpolicy.rules.model import CompiledPack

from .jsontext import Gathering, Rows, coded, dumps, is_number, number_codes, number_texts
from .read import check_digest
from .typed import RECORDS_KEY, single_batch

__all__ = ["json_line_chunks", "json_lines", "nested_fields", "record_instants", "text_bytes"]
_SMALL = 1 << 18  # distances with counts under this are packed into one int64 key each
_FIELD = 20  # bits per packed count: 19 for the count plus _SMALL, one for "not null"


def _key(name: str) -> str:
    return dumps(name) + ":"


def record_instants(records: pa.RecordBatch) -> tuple[npt.NDArray[np.int64], list[datetime]]:
    """Per row, the code of its ``as_of`` instant, and the distinct instants."""
    encoded = pc.dictionary_encode(records.column("as_of_instant"))
    codes = np.asarray(encoded.indices.cast(pa.int64()), np.int64)
    return codes, encoded.dictionary.to_pylist()


def checked(records: pa.RecordBatch | pa.Table, pack: CompiledPack) -> pa.RecordBatch:
    if RECORDS_KEY not in (records.schema.metadata or {}):
        raise ValueError("not a typed record batch (engine.columnar.typed.record_batch)")
    check_digest(records, pack)
    return single_batch(records)


def json_lines(records: pa.RecordBatch | pa.Table, pack: CompiledPack) -> pa.ChunkedArray:
    """Each record as one JSON text followed by a newline (``Decision.to_json``'s bytes)."""
    return pa.chunked_array(list(json_line_chunks(records, pack)), pa.string())


def json_line_chunks(
    records: pa.RecordBatch | pa.Table, pack: CompiledPack, *, end: str = "\n"
) -> Gathering:
    """:func:`json_lines`, a few thousand lines at a time: prepared now, gathered as iterated.

    ``end`` follows each record (``""``: the JSON texts alone).
    """
    records = checked(records, pack)
    rows = Rows(records.num_rows)
    rows.text('{"decision_id":"')
    rows.column(records.column("decision_id"))  # UUIDs: nothing to escape, never null
    rows.text('","seller_id":')
    rows.string(records.column("seller_id"))
    codes, instants = record_instants(records)
    rows.text(',"as_of":')
    rows.pick(codes, [dumps(as_of_label(i)) for i in instants])
    for name in ("pack", "pack_version", "pack_digest", "status"):
        rows.text(f",{_key(name)}")
        rows.pick(*coded(records.column(name)))
    for name, render in nested_fields(records, pack, codes, instants):
        rows.text(f",{_key(name)}")
        render(rows)
    return rows.prepare(end="}" + end)


def text_bytes(chunk: pa.StringArray) -> memoryview:
    """The bytes of a string array's values, end to end (no copy)."""
    offsets = np.frombuffer(chunk.buffers()[1], np.int32, count=2, offset=4 * chunk.offset)
    start = int(offsets[0])
    stop = int(
        np.frombuffer(
            chunk.buffers()[1], np.int32, count=1, offset=4 * (chunk.offset + len(chunk))
        )[0]
    )
    return memoryview(chunk.buffers()[2])[start:stop]


Render = Callable[[Rows], None]


def nested_fields(
    records: pa.RecordBatch,
    pack: CompiledPack,
    codes: npt.NDArray[np.int64],
    instants: list[datetime],
) -> list[tuple[str, Render]]:
    """The nested fields of a record, in order, each as pieces added to a :class:`Rows`."""
    facts = records.column("facts")
    numbers: dict[str, tuple[npt.NDArray[np.int64], pa.Array]] = {}  # a fact's JSON, once

    def fact(name: str | None, rows: Rows) -> None:
        if name is None or facts.type.get_field_index(name) < 0:
            rows.text("null")
            return
        column = facts.field(name)
        kind = column.type
        if (
            pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_dictionary(kind)
        ):
            rows.json(column)
            return
        if name not in numbers:
            numbers[name] = number_codes(column)
        rows.coded(*numbers[name], plain=is_number(kind))

    def actions(rows: Rows) -> None:
        rows.text("[")
        rows.column(_actions(records, pack))
        rows.text("]")

    def facts_object(rows: Rows) -> None:
        rows.text("{")
        for k, field in enumerate(facts.type):
            rows.text(("," if k else "") + _key(field.name))
            fact(field.name, rows)
        rows.text("}")

    def rules(rows: Rows) -> None:
        rows.text("[")
        for k, plan in enumerate(pack_plans(pack)):
            rows.text("," if k else "")
            _rule(rows, plan, records.column("rules").field(plan.rule.id), fact, codes, instants)
        rows.text("]")

    def scores(rows: Rows) -> None:
        rows.text("[")
        for k, score in enumerate(pack.scores):
            cell = records.column("scores").field(score.id)
            rows.text(("," if k else "") + "{" + _key("score") + dumps(score.id))
            rows.text(f",{_key('total')}")
            rows.number(cell.field("total"))
            rows.text(f",{_key('grade')}")
            rows.string(cell.field("grade"))
            rows.text(f",{_key('dimensions')}[")
            for j, dim in enumerate(score.dimensions):
                head = {"dimension": dim.id, "metric": dim.metric, "weight": dim.weight}
                rows.text(("," if j else "") + dumps(head)[:-1] + f",{_key('value')}")
                fact(dim.metric, rows)
                rows.text(f",{_key('points')}")
                rows.number(cell.field("points").field(dim.id))
                rows.text("}")
            rows.text(f"],{_key('reason')}")
            rows.string(cell.field("reason"))
            rows.text(f",{_key('explanation')}")
            rows.string(cell.field("explanation"))
            rows.text("}")
        rows.text("]")

    return [("actions", actions), ("facts", facts_object), ("rules", rules), ("scores", scores)]


def _rule(  # noqa: PLR0917 - one private call site
    rows: Rows,
    plan: RulePlan,
    cell: pa.StructArray,
    fact: Callable[[str | None, Rows], None],
    codes: npt.NDArray[np.int64],
    instants: list[datetime],
) -> None:
    """One rule result: ``RuleResult.to_json`` over every row."""
    leaf, counts = plan.leaf, plan.count_facts or (None, None)
    rows.text("{" + _key("rule") + dumps(plan.rule.id) + f",{_key('outcome')}")
    rows.pick(*coded(cell.field("outcome")))
    rows.text(f",{_key('mode')}{dumps(plan.mode.value)},{_key('reason')}")
    rows.pick(*coded(cell.field("reason")))
    rows.text(f",{_key('metric')}{dumps(leaf.metric)},{_key('op')}{dumps(leaf.op.value)}")
    rows.text(f",{_key('value')}")
    fact(plan.value_fact, rows)
    rows.text(f",{_key('threshold')}{dumps(leaf.threshold)},{_key('num')}")
    fact(counts[0], rows)
    rows.text(f",{_key('den')}")
    fact(counts[1], rows)
    windows = [window_dates(plan.use, i) for i in instants]
    rows.text(",")
    rows.pick(
        codes,
        [
            f"{_key('window_start')}{dumps(a.isoformat())},{_key('window_end')}"
            f"{dumps(b.isoformat())}"
            for a, b in windows
        ],
    )
    rows.text(f",{_key('explanation')}")
    rows.string(cell.field("explanation"))
    rows.text(f",{_key('distance')}")
    _distance(rows, cell.field("distance"))
    rows.text(f",{_key('streak')}")
    streak = np.asarray(cell.field("streak").to_numpy(zero_copy_only=False), np.int64)
    distinct, inverse = _distinct(streak)
    if distinct.size <= 64:
        rows.pick(inverse, [str(v) for v in distinct.tolist()])
    else:
        rows.number(cell.field("streak"))
    rows.text("}")


def _distinct(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct values (in order of appearance) and each row's index among them.

    (Arrow's hash encoding: linear, where ``np.unique`` sorts.)
    """
    encoded = pc.dictionary_encode(pa.array(values, pa.int64()))
    return (
        np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), np.int64),
        np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int64),
    )


def _distance(rows: Rows, distance: pa.StructArray) -> None:
    """``Distance.to_json`` (or ``null``) per row, encoded once per distinct distance."""
    present = np.asarray(distance.is_valid(), np.bool_)
    parts = []
    for name in ("headroom", "excess", "good_needed"):
        field = distance.field(name)
        ok = np.asarray(field.is_valid(), np.bool_) & present
        values = np.asarray(field.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
        parts.append((np.where(ok, values, 0), ok))
    dates = distance.field("clears_on")
    small = all(np.abs(v).max(initial=0) < _SMALL for v, _ in parts)
    if not small or dates.null_count != len(dates):
        _distance_rows(rows, distance)
        return
    key = present.astype(np.int64)
    for values, ok in parts:
        key = (key << _FIELD) | ((values + _SMALL) << 1) | ok
    distinct, inverse = _distinct(key)
    choices = []
    for key_value in distinct.tolist():
        packed, fields = key_value, []
        for _ in range(3):
            ok, value = packed & 1, ((packed >> 1) & (2 * _SMALL - 1)) - _SMALL
            fields.append(value if ok else None)
            packed >>= _FIELD
        good, excess, headroom = fields
        record = {"headroom": headroom, "excess": excess, "good_needed": good, "clears_on": None}
        choices.append(dumps(record) if packed & 1 else "null")
    rows.pick(inverse, choices)


def _distance_rows(rows: Rows, distance: pa.StructArray) -> None:
    """The general case (large counts, dates): each distance's JSON, one row at a time."""
    texts = [
        dumps(
            {
                **d,
                "clears_on": d["clears_on"].isoformat() if d["clears_on"] else None,
            }
        )
        if d is not None
        else None
        for d in distance.to_pylist()
    ]
    rows.column(pa.array(texts, pa.string()))


def _actions(records: pa.RecordBatch, pack: CompiledPack) -> pa.Array:
    """Per row, its action items' JSON joined by commas (empty for no action)."""
    actions = records.column("actions")
    items = pc.list_flatten(actions)
    parents = np.asarray(pc.list_parent_indices(actions), np.int64)
    m = len(items)
    if m == 0:
        return pa.array([""] * len(actions), pa.string())
    rows = Rows(m)
    for k, name in enumerate(("action", "rule", "severity", "metric")):
        rows.text(("{" if k == 0 else ",") + _key(name))
        rows.pick(*coded(items.field(name)))
    rows.text(f",{_key('value')}")
    texts, dot = _item_values(records, pack, items.field("rule"), parents)
    rows.digits(texts, dot, plain=False)
    rows.text(f",{_key('threshold')}")
    rows.number(items.field("threshold"))
    rows.text(f",{_key('explanation')}")
    rows.string(items.field("explanation"))
    rows.text(f",{_key('enforced')}")
    enforced = np.asarray(items.field("enforced").to_numpy(zero_copy_only=False), np.bool_)
    rows.pick(enforced.view(np.int8), ["false", "true"])
    rows.text(f",{_key('exemption')}")
    rows.string(items.field("exemption"))
    rows.text("}")
    listed = pa.ListArray.from_arrays(_offsets(actions), rows.build().combine_chunks())
    return pc.binary_join(listed, ",")


def _offsets(actions: pa.ListArray) -> pa.Array:
    offsets = actions.offsets
    first = offsets[0].as_py()
    return pc.subtract(offsets, pa.scalar(first, offsets.type)) if first else offsets


def _item_values(
    records: pa.RecordBatch, pack: CompiledPack, owners: pa.Array, parents: npt.NDArray[np.int64]
) -> tuple[pa.Array, npt.NDArray[np.bool_]]:
    """Each item's value as its owner has it: the rule's fact, or the score's total."""
    facts = records.column("facts")
    names = {f.name for f in facts.type}
    sources: dict[str, pa.Array | None] = {
        p.rule.id: facts.field(p.value_fact) if p.value_fact in names else None
        for p in pack_plans(pack)
    }
    for score in pack.scores:
        sources[score.id] = records.column("scores").field(score.id).field("total")
    owner = owners.cast(pa.string()).to_numpy(zero_copy_only=False)
    order, texts, dots = [], [], []
    for name, source in sources.items():
        where = np.flatnonzero(owner == name)
        if not where.size:
            continue
        picked = (
            source.take(pa.array(parents[where]))
            if source is not None
            else pa.nulls(where.size, pa.float64())
        )
        text, dot = number_texts(picked)
        order.append(where)
        texts.append(text.cast(pa.string()))
        dots.append(dot)
    back = np.argsort(np.concatenate(order), kind="stable")
    joined = pa.concat_arrays(texts).take(pa.array(back))
    return joined, np.concatenate(dots)[back]
