"""JSON text of whole Arrow columns, and rows assembled from it in one gather.

The bulk record writers (:mod:`.records`) render a batch of decisions as
JSON without a Python object per row, with exactly the bytes of
``json.dumps(value, separators=(",", ":"), allow_nan=False)`` (ASCII only:
``ensure_ascii``):

* numbers: integers through Arrow's cast (the same digits as ``int.__repr__``);
  floats through Arrow's shortest round-trip digits, which are ``repr``'s,
  with ``.0`` added where ``repr`` writes it, and ``repr`` itself for the
  few values Python writes with an exponent (``|x| < 1e-4`` or ``>= 1e16``)
  or Arrow does; a NaN or an infinity is a ValueError, as ``allow_nan=False``
  makes it;
* strings: quoted as they are unless they hold a quote, a backslash, a
  control character or a non-ASCII character; those few go through
  ``json.dumps`` one by one;
* low-cardinality columns (dictionaries: statuses, outcomes, reasons,
  explanations) are encoded once per dictionary value.

:class:`Rows` concatenates, row by row, constant texts and such columns: the
pieces of every row are gathered with one Arrow ``take`` from a pool of all
distinct pieces (about 20 ns a piece), and adjacent constants, and constants
next to low-cardinality choices, are merged first, so a record of a hundred
fields costs a few dozen pieces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

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

#: A character JSON (ASCII-only) writes escaped: quote, backslash, control, non-ASCII.
_ESCAPED = r'["\\\x00-\x1f]|[^\x00-\x7f]'
_HEX = np.frombuffer(
    b"".join(f"{b:02x}".encode() for b in range(256)), np.uint16
)  # byte -> its two hex digits, as they lie in memory
_MERGED_CHOICES = 64  # a constant is folded into a choice of at most this many texts
_CHUNK_ROWS = 4096  # rows per gather: the pieces of a chunk stay in cache


def dumps(value: object) -> str:
    """``value`` as compact JSON, the encoding every bulk text must equal."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _whole(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def uuid_texts(ids: pa.Array | pa.ChunkedArray) -> pa.StringArray:
    """16-byte UUIDs as ``str(uuid.UUID(bytes=...))``: 36 lowercase hex digits and dashes."""
    ids = _whole(ids)
    n = len(ids)
    raw = np.frombuffer(ids.buffers()[1], np.uint8, count=16 * n, offset=16 * ids.offset)
    digits = _HEX[raw].view(np.uint8).reshape(n, 32)
    text = np.full((n, 36), ord("-"), np.uint8)
    for start, stop, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, at : at + stop - start] = digits[:, start:stop]
    offsets = np.arange(0, 36 * n + 1, 36, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text.tobytes())]
    )


def number_texts(array: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, npt.NDArray[np.bool_]]:
    """The JSON digits of a numeric (or boolean) column, and where ``.0`` must follow.

    Nulls stay null (the caller writes ``null``). ValueError for a NaN or an
    infinity (not JSON), or for a column that is not numeric.
    """
    array = _whole(array)
    n = len(array)
    kind = array.type
    no_dot = np.zeros(n, np.bool_)
    if pa.types.is_null(kind):
        return pa.nulls(n, pa.string()), no_dot
    if pa.types.is_boolean(kind):
        return pc.if_else(array, "true", "false"), no_dot
    if pa.types.is_integer(kind):
        return pc.cast(array, pa.string()), no_dot
    if not pa.types.is_floating(kind):
        texts = [None if v is None else dumps(v) for v in array.to_pylist()]
        return pa.array(texts, pa.string()), no_dot
    doubles = array.cast(pa.float64())
    values = np.asarray(doubles.fill_null(0.0).to_numpy(zero_copy_only=False))
    if not np.isfinite(values).all():
        bad = float(values[~np.isfinite(values)][0])
        raise ValueError(f"Out of range float values are not JSON compliant: {bad!r}")
    text = pc.cast(doubles, pa.string())
    size = np.abs(values)
    exponent = (size != 0) & ((size < 1e-4) | (size >= 1e16))
    exponent |= np.asarray(pc.match_substring(text, "e").fill_null(False), np.bool_)
    valid = np.asarray(doubles.is_valid(), np.bool_)
    exponent &= valid
    if exponent.any():
        rows = np.flatnonzero(exponent)
        fixed = [repr(v) for v in values[rows].tolist()]
        text = pc.replace_with_mask(text, pa.array(exponent), pa.array(fixed, pa.string()))
    dotted = np.asarray(pc.match_substring(text, ".").fill_null(True), np.bool_)
    return text, valid & ~dotted & ~exponent


def number_codes(
    array: pa.Array | pa.ChunkedArray,
) -> tuple[npt.NDArray[np.int64], pa.Array]:
    """A numeric column as (per-row code, -1 for null; the JSON of each distinct value).

    Values repeat (counts, rates of small counts): hashing them and writing each
    distinct value once is several times faster than writing every value.
    """
    encoded = pc.dictionary_encode(_whole(array))
    text, dot = number_texts(encoded.dictionary)
    if dot.any():
        text = pc.if_else(pa.array(dot), pc.binary_join_element_wise(text, ".0", ""), text)
    codes = np.asarray(encoded.indices.cast(pa.int64()).fill_null(-1), np.int64)
    return codes, text


def is_number(kind: pa.DataType) -> bool:
    """Whether :func:`number_texts` of a column of this type is digits only (no quotes)."""
    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )


def json_dictionary(values: Sequence[object]) -> list[str]:
    """The JSON text of each value of a dictionary (``null`` for ``None``)."""
    return [dumps(v) for v in values]


def coded(array: pa.Array | pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], list[str]]:
    """A low-cardinality column as (per-row code, JSON text of each code); nulls ``null``.

    A dictionary column keeps its dictionary; any other is dictionary-encoded
    first. The last text is ``null``, the code of null rows.
    """
    array = _whole(array)
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    dictionary = array.dictionary.to_pylist()
    indices = np.asarray(array.indices.cast(pa.int64()).fill_null(-1), np.int64)
    codes = np.where(indices < 0, len(dictionary), indices)
    return codes, [*json_dictionary(dictionary), "null"]


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
        else:
            self._parts.append(value)

    def pick(self, codes: npt.NDArray[np.integer[Any]], choices: Sequence[str]) -> None:
        """``choices[codes[i]]`` in row ``i``."""
        texts = [self._escaped(c) for c in choices]
        wide: npt.NDArray[np.int64] = np.asarray(codes, np.int64)
        last = self._parts[-1] if self._parts else None
        if isinstance(last, str) and len(texts) <= _MERGED_CHOICES:
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
        strings = _whole(strings)
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
        array = _whole(array)
        if pa.types.is_dictionary(array.type) or pa.types.is_null(array.type):
            self.pick(*coded(array))
            return
        strings = array.cast(pa.string()) if array.type != pa.string() else array
        risky = np.asarray(pc.match_substring_regex(strings, _ESCAPED).fill_null(False), np.bool_)
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
        texts = _whole(texts)
        if self.csv and not plain and pc.any(pc.match_substring(texts, '"')).as_py():
            texts = pc.replace_substring(texts, '"', '""')
        self._parts.append(_Column(texts.cast(pa.string()), self._escaped("null"), codes))

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
