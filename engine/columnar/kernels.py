"""Array kernels of the vectorized back end: fact columns and condition masks.

A leaf reads its fact (``<name>`` for ``value`` leaves, ``<name>__num`` for
``count`` leaves) as a float64 column plus a validity mask; ``all`` /
``any`` / ``not`` are element-wise ``&`` / ``|`` / ``~``. See
:mod:`sellerpolicy.engine.columnar.backend` for the null semantics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sellerpolicy.engine.evaluation.backends.python import fact_name
from sellerpolicy.engine.evaluation.decision import Outcome
from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.rules.model import (
    AllOf,
    AnyOf,
    Compare,
    CompiledPack,
    Condition,
    Op,
)

Dates = tuple[date, date]
_OUTCOMES = tuple(o.value for o in Outcome)

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

_OPS: dict[Op, Callable[[Floats, float], Mask]] = {
    Op.GT: np.greater,
    Op.GTE: np.greater_equal,
    Op.LT: np.less,
    Op.LTE: np.less_equal,
    Op.EQ: np.equal,
}


class Columns:
    """Numeric fact columns of one batch, read once each: values and validity.

    Built from an Arrow table / record batch (:meth:`from_arrow`) or from
    :class:`SellerFacts` (:meth:`from_facts`). An absent column is all null.
    Values are never modified. What a value holds where its validity is false is
    unspecified (a nullable int64 / float64 column is read zero-copy, with whatever
    its buffer holds under a null): every reader masks by validity first.
    """

    def __init__(
        self, length: int, reader: Callable[[str], tuple[np.ndarray, Mask] | None]
    ) -> None:
        self.length = length
        self._reader = reader
        self._cache: dict[str, tuple[np.ndarray, Mask]] = {}
        self._floats: dict[str, Floats] = {}
        self._complete: dict[str, bool] = {}

    @classmethod
    def from_arrow(cls, data: pa.RecordBatch | pa.Table) -> Columns:
        """Columns over an Arrow table or record batch (zero-copy where Arrow allows)."""
        names = set(data.schema.names)

        def read(name: str) -> tuple[np.ndarray, Mask] | None:
            if name not in names:
                return None
            column = data.column(name)
            array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
            return arrow_numbers(array, name)

        return cls(data.num_rows, read)

    @classmethod
    def from_facts(cls, facts: Sequence[SellerFacts]) -> Columns:
        """Columns over per-seller facts (one pass over the sellers per fact read)."""

        def read(name: str) -> tuple[np.ndarray, Mask] | None:
            raw = [f.values.get(name) for f in facts]
            present = np.fromiter((v is not None for v in raw), dtype=np.bool_, count=len(raw))
            values = np.fromiter(
                (0.0 if v is None else float(v) for v in raw), dtype=np.float64, count=len(raw)
            )
            return values, present

        return cls(len(facts), read)

    def raw(self, name: str) -> tuple[np.ndarray, Mask]:
        """The column in its own dtype (int64 or float64) and its validity mask."""
        found = self._cache.get(name)
        if found is None:
            read = self._reader(name)
            if read is None:
                read = (np.zeros(self.length, dtype=np.float64), np.zeros(self.length, np.bool_))
            found = self._cache[name] = read
        return found

    def floats(self, name: str) -> tuple[Floats, Mask]:
        """The column as float64 (what comparisons use) and its validity mask."""
        values, present = self.raw(name)
        found = self._floats.get(name)
        if found is None:
            found = self._floats[name] = values.astype(np.float64, copy=False)
        return found, present

    def complete(self, name: str) -> bool:
        """Whether the fact is non-null on every row."""
        found = self._complete.get(name)
        if found is None:
            found = self._complete[name] = bool(self.raw(name)[1].all())
        return found

    def present(self, name: str) -> Mask:
        """Where the fact is not null."""
        return self.raw(name)[1]


def arrow_numbers(array: pa.Array, name: str) -> tuple[np.ndarray, Mask]:
    """An Arrow numeric column as (int64 or float64 values, validity); ValueError otherwise."""
    kind = array.type
    if pa.types.is_null(kind):
        return np.zeros(len(array), np.float64), np.zeros(len(array), np.bool_)
    if pa.types.is_integer(kind):
        dtype: type = np.int64
    elif pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        dtype = np.float64
    else:
        raise ValueError(f"fact {name!r} is of type {kind}, not a number")
    if array.null_count == 0:
        present = np.ones(len(array), np.bool_)
    elif array.type in (pa.int64(), pa.float64()):  # the common case, straight off the buffers
        bits = np.frombuffer(array.buffers()[0], np.uint8)
        count = array.offset + len(array)
        present = np.unpackbits(bits, count=count, bitorder="little")[array.offset :].view(np.bool_)
        data: np.ndarray = np.frombuffer(
            array.buffers()[1], dtype, count=len(array), offset=array.offset * 8
        )
        return data, present  # zero-copy: what lies under a null is never read
    else:
        present = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    filled = array.fill_null(0) if array.null_count else array
    values = np.asarray(filled.cast(pa.from_numpy_dtype(dtype)).to_numpy(zero_copy_only=False))
    return values, present


def condition_mask(cond: Condition, columns: Columns) -> Mask:
    """Where a condition holds; a leaf on a null fact is false, ``not`` negates."""
    if isinstance(cond, Compare):
        values, present = columns.floats(fact_name(cond))
        return present & _OPS[cond.op](values, cond.threshold)
    if isinstance(cond, AllOf):
        result = np.ones(columns.length, np.bool_)
        for child in cond.children:
            result &= condition_mask(child, columns)
        return result
    if isinstance(cond, AnyOf):
        result = np.zeros(columns.length, np.bool_)
        for child in cond.children:
            result |= condition_mask(child, columns)
        return result
    return ~condition_mask(cond.child, columns)


def reads_present(cond: Condition, columns: Columns) -> Mask:
    """Where every fact the condition reads is non-null."""
    result = np.ones(columns.length, np.bool_)
    for name in _reads(cond):
        result &= columns.present(name)
    return result


def rule_masks(pack: CompiledPack, columns: Columns) -> npt.NDArray[np.bool_]:
    """A (sellers x rules) matrix: the rule's condition holds on non-null facts."""
    out = np.zeros((columns.length, len(pack.rules)), np.bool_)
    for j, rule in enumerate(pack.rules):
        out[:, j] = condition_mask(rule.when, columns) & reads_present(rule.when, columns)
    return out


def _reads(cond: Condition) -> tuple[str, ...]:
    if isinstance(cond, Compare):
        return (fact_name(cond),)
    if isinstance(cond, AllOf | AnyOf):
        return tuple(dict.fromkeys(n for c in cond.children for n in _reads(c)))
    return _reads(cond.child)


def masked(values: npt.NDArray[Any], valid: Mask, kind: pa.DataType) -> pa.Array:
    """A fixed-width Arrow array from NumPy values and a validity mask, without copies per value.

    (``pa.array(values, mask=...)`` converts element by element: ~100x slower.)
    """
    data = np.ascontiguousarray(values, dtype=kind.to_pandas_dtype())
    bits = np.packbits(valid, bitorder="little")
    nulls = int(valid.size - np.count_nonzero(valid))
    return pa.Array.from_buffers(
        kind, data.size, [pa.py_buffer(bits), pa.py_buffer(data)], null_count=nulls
    )
