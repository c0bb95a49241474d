"""Rows of text assembled from constants and whole columns in one gather per chunk.

The bulk record writers (:mod:`.records`, :mod:`.records_csv`) render a
batch of decisions as JSON without a Python object per row, from the JSON
text of whole columns (:mod:`.jsonvalues`). :class:`Rows` concatenates, row
by row, constant texts and such columns: the pieces of every row are
gathered from a pool of all distinct pieces (as string views: a few ns a
piece, :class:`_Gather`), and adjacent constants, and constants next to
low-cardinality choices, are merged first (a constant next to a column of
coded values is joined to each distinct value: a rate or a count takes a
few thousand values in a slice of 65,536 rows), so a record of a hundred
fields costs a few dozen pieces.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .jsonvalues import (
    ESCAPED,
    coded,
    dumps,
    is_number,
    json_dictionary,
    number_codes,
    number_texts,
    uuid_texts,
    whole,
)

__all__ = [
    "Gathering",
    "Rows",
    "coded",
    "dumps",
    "is_number",
    "json_dictionary",
    "number_codes",
    "number_texts",
    "uuid_texts",
]
_MERGED_CHOICES = 64  # a constant is folded into a choice of at most this many texts
_CHUNK_ROWS = 4096  # rows per gather: the pieces of a chunk stay in cache


@dataclass(slots=True)
class _Pick:
    codes: npt.NDArray[np.int64]
    choices: list[str]


@dataclass(slots=True)
class _Column:
    strings: pa.Array  # row i's text: strings[i], or strings[codes[i]] with codes
    null: str
    codes: npt.NDArray[np.int64] | None = None  # -1: null


class Rows:
    """Rows of text built from constant texts and columns, concatenated in one gather.

    Add pieces in order (:meth:`text`, :meth:`pick`, :meth:`column`,
    :meth:`string`, :meth:`number`, :meth:`value`), then :meth:`build`.
    With ``csv``, every text added is written as inside a quoted CSV field
    (each ``"`` doubled) but for :meth:`raw` texts (the fields' own quotes,
    commas and line ends).
    """

    def __init__(self, length: int, *, csv: bool = False) -> None:
        self.length = length
        self.csv = csv
        self._parts: list[str | _Pick | _Column] = []

    def _escaped(self, value: str) -> str:
        return value.replace('"', '""') if self.csv else value

    def text(self, value: str) -> None:
        """The same text in every row."""
        self.raw(self._escaped(value))

    def raw(self, value: str) -> None:
        """The same text in every row, as it is (never CSV-escaped)."""
        if not value:
            return
        last = self._parts[-1] if self._parts else None
        if isinstance(last, str):
            self._parts[-1] = last + value
        elif isinstance(last, _Pick):
            last.choices = [c + value for c in last.choices]
        elif last is not None and self._foldable(last):
            # onto each distinct text of a coded column: one piece less in every row
            last.strings = pc.binary_join_element_wise(last.strings, value, "")
            last.null += value
        else:
            self._parts.append(value)

    def _foldable(self, column: _Column) -> bool:
        """Whether a constant is cheaper joined to each of ``column``'s texts than gathered."""
        return column.codes is not None and 4 * len(column.strings) <= max(self.length, 64)

    def pick(self, codes: npt.NDArray[np.integer[Any]], choices: Sequence[str]) -> None:
        """``choices[codes[i]]`` in row ``i``."""
        texts = [self._escaped(c) for c in choices]
        wide: npt.NDArray[np.int64] = np.asarray(codes, np.int64)
        last = self._parts[-1] if self._parts else None
        if isinstance(last, str) and len(texts) <= max(_MERGED_CHOICES, self.length // 4):
            self._parts[-1] = _Pick(wide, [last + c for c in texts])
        elif isinstance(last, _Pick) and len(last.choices) * len(texts) <= _MERGED_CHOICES:
            last.codes = last.codes * len(texts) + wide
            last.choices = [a + b for a in last.choices for b in texts]
        else:
            self._parts.append(_Pick(wide, texts))

    def column(
        self, strings: pa.Array | pa.ChunkedArray, *, null: str = "null", plain: bool = False
    ) -> None:
        """Each row's string of ``strings`` (``null`` where it is null).

        ``plain``: the strings hold no ``"`` (digits): nothing to escape for CSV.
        """
        strings = whole(strings)
        if strings.type != pa.string():
            strings = strings.cast(pa.string())
        if strings.null_count == len(strings):
            self.pick(np.zeros(self.length, np.int64), [null])
            return
        if self.csv and not plain and pc.any(pc.match_substring(strings, '"')).as_py():
            strings = pc.replace_substring(strings, '"', '""')
        self._parts.append(_Column(strings, self._escaped(null)))

    def string(self, array: pa.Array | pa.ChunkedArray) -> None:
        """A string column as JSON strings (``null`` for nulls)."""
        array = whole(array)
        if pa.types.is_dictionary(array.type) or pa.types.is_null(array.type):
            self.pick(*coded(array))
            return
        strings = array.cast(pa.string()) if array.type != pa.string() else array
        risky = np.asarray(pc.match_substring_regex(strings, ESCAPED).fill_null(False), np.bool_)
        if risky.any():
            rows = np.flatnonzero(risky)
            escaped = [dumps(v)[1:-1] for v in strings.take(pa.array(rows)).to_pylist()]
            strings = pc.replace_with_mask(strings, pa.array(risky), pa.array(escaped, pa.string()))
        if strings.null_count == 0:
            self.text('"')
            self.column(strings)
            self.text('"')
        else:
            self.column(pc.binary_join_element_wise('"', strings, '"', ""))

    def number(self, array: pa.Array | pa.ChunkedArray) -> None:
        """A numeric column as JSON numbers (``null`` for nulls); see :func:`number_texts`."""
        self.coded(*number_codes(array), plain=is_number(array.type))

    def coded(self, codes: npt.NDArray[np.int64], texts: pa.Array, *, plain: bool) -> None:
        """``texts[codes[i]]`` in row ``i`` (``null`` where the code is -1), from Arrow.

        ``plain``: the texts hold no ``"`` (nothing to escape for CSV).
        """
        texts = whole(texts)
        if self.csv and not plain and pc.any(pc.match_substring(texts, '"')).as_py():
            texts = pc.replace_substring(texts, '"', '""')
        part = _Column(texts.cast(pa.string()), self._escaped("null"), codes)
        last = self._parts[-1] if self._parts else None
        if isinstance(last, str) and self._foldable(part):
            # the constant before, joined to each distinct text: one piece less in every row
            part.strings = pc.binary_join_element_wise(last, part.strings, "")
            part.null = last + part.null
            self._parts.pop()
        self._parts.append(part)

    def digits(self, text: pa.Array, dot: npt.NDArray[np.bool_], *, plain: bool = True) -> None:
        """What :func:`number_texts` gave: the digits, and ``.0`` where it must follow.

        ``plain``: the column was numeric (else its values' JSON may hold quotes).
        """
        self.column(text, plain=plain)
        if dot.any():
            self.pick(dot.view(np.int8), ["", ".0"])

    def value(self, value: object) -> None:
        """One JSON value, the same in every row."""
        self.text(dumps(value))

    def json(self, array: pa.Array | pa.ChunkedArray) -> None:
        """Any column as JSON values: numbers, strings, else ``dumps`` of each value."""
        kind = array.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            self.string(array)
        elif pa.types.is_dictionary(kind):
            self.pick(*coded(array))
        else:
            self.number(array)

    def build(self, *, end: str = "") -> pa.ChunkedArray:
        """The rows (each followed by ``end``), as one string chunk per few thousand rows."""
        return pa.chunked_array(list(self.chunks(end=end)), pa.string())

    def chunks(self, *, end: str = "") -> Iterator[pa.StringArray]:
        """The rows (each followed by ``end``), a few thousand at a time, gathered lazily.

        (Written as they come, the texts of a batch never all stand in memory:
        fresh pages cost more than the gather itself.)
        """
        return iter(self.prepare(end=end))

    def prepare(self, *, end: str = "") -> Gathering:
        """Everything :meth:`chunks` needs, worked out now; the rows gathered as iterated.

        (One thread can prepare the rows of a slice while another gathers and
        writes those of the slice before.)
        """
        self.text(end)
        n = self.length
        constants: list[str] = []
        columns: list[pa.Array] = []
        # per piece: its codes into the pool (None: a constant, at ``start``), and for a
        # column the position of its texts among the columns
        pieces: list[tuple[int, npt.NDArray[np.int64] | None, int]] = []
        nulls: list[tuple[int, int, npt.NDArray[np.bool_]]] = []  # (piece, null text, rows)
        for part in self._parts:
            if isinstance(part, str):
                pieces.append((len(constants), None, -1))
                constants.append(part)
            elif isinstance(part, _Pick):
                pieces.append((len(constants), part.codes, -1))
                constants.extend(part.choices)
            else:
                where = (
                    ~np.asarray(part.strings.is_valid(), np.bool_)
                    if part.codes is None
                    else part.codes < 0
                )
                if where.any():
                    nulls.append((len(pieces), len(constants), where))
                    constants.append(part.null)
                codes = np.arange(n, dtype=np.int64) if part.codes is None else part.codes
                pieces.append((0, codes, len(columns)))
                columns.append(part.strings)
        bases = np.cumsum([len(constants), *(len(c) for c in columns)])
        dtype = np.int32 if bases[-1] < 2**31 else np.int64
        fixed: npt.NDArray[np.integer[Any]] = np.array(
            [start if codes is None else 0 for start, codes, _ in pieces], dtype
        )
        varying = [
            (k, int(bases[column]) if column >= 0 else start, codes)
            for k, (start, codes, column) in enumerate(pieces)
            if codes is not None
        ]
        # Null values are never gathered (their rows point at a null text): the pool has no
        # validity bitmap.
        pool = pa.concat_arrays([pa.array(constants, pa.string()), *columns])
        pool = pa.Array.from_buffers(
            pa.string(), len(pool), [None, *pool.buffers()[1:]], offset=pool.offset
        )
        return Gathering(n, _Gather(pool), fixed, varying, nulls)


@dataclass(slots=True)
class Gathering:
    """Prepared rows (:meth:`Rows.prepare`), gathered a chunk at a time as they are iterated."""

    length: int
    gather: _Gather
    fixed: npt.NDArray[np.integer[Any]]  # each piece's pool index where it is constant
    varying: list[tuple[int, int, npt.NDArray[np.int64]]]  # (piece, base, codes)
    nulls: list[tuple[int, int, npt.NDArray[np.bool_]]]  # (piece, null text, rows)

    def __iter__(self) -> Iterator[pa.StringArray]:
        # The index of each chunk is built in a small matrix the allocator reuses (fresh
        # pages for a whole batch's index cost more than filling it).
        n, width, dtype = self.length, self.fixed.size, self.fixed.dtype
        for lo in range(0, n, _CHUNK_ROWS):
            hi = min(n, lo + _CHUNK_ROWS)
            matrix = np.empty((hi - lo, width), dtype)
            matrix[:] = self.fixed
            for k, base, codes in self.varying:
                matrix[:, k] = codes[lo:hi] + base
            for k, text, where in self.nulls:
                matrix[where[lo:hi], k] = text
            yield self.gather(matrix)


class _Gather:
    """Row ``i`` of a chunk: the concatenation of ``pool[matrix[i, :]]``.

    The pool is cast once to ``string_view``, whose 16-byte views NumPy
    gathers (``take`` on fixed-width items: a few ns each), and the views
    are cast back to a string array, its bytes copied once: about three
    times faster than Arrow's ``take`` on strings. (Where this pyarrow
    cannot cast views, ``take`` it is.)
    """

    def __init__(self, pool: pa.Array) -> None:
        self.pool = pool
        self.views: npt.NDArray[np.complex128] | None = None
        self.buffers: list[pa.Buffer] = []
        try:
            view = pool.cast(pa.string_view())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # pragma: no cover - old pyarrow
            return
        buffers = view.buffers()
        self.views = np.frombuffer(
            buffers[1], np.complex128, count=len(view), offset=16 * view.offset
        )
        self.buffers = buffers[2:]

    def __call__(self, matrix: npt.NDArray[np.integer[Any]]) -> pa.StringArray:
        """The rows of ``matrix`` (C-ordered)."""
        rows, width = matrix.shape
        size = rows * width
        flat = matrix.reshape(-1)
        if self.views is None:  # pragma: no cover - old pyarrow
            taken = self.pool.take(pa.array(flat))
        else:
            picked = self.views.take(flat)
            views = pa.Array.from_buffers(
                pa.string_view(), size, [None, pa.py_buffer(picked), *self.buffers]
            )
            taken = views.cast(pa.string())
        offsets = np.frombuffer(
            taken.buffers()[1], np.int32, count=size + 1, offset=4 * taken.offset
        )
        bounds = np.ascontiguousarray(offsets[::width])
        return pa.Array.from_buffers(
            pa.string(), rows, [None, pa.py_buffer(bounds), taken.buffers()[2]]
        )
