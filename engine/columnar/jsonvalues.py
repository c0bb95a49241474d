"""JSON text of whole Arrow columns: numbers, strings, UUIDs, low-cardinality columns.

Exactly the bytes of ``json.dumps(value, separators=(",", ":"),
allow_nan=False)`` (ASCII only: ``ensure_ascii``), for whole columns at once:

* numbers: integers through Arrow's cast (the same digits as ``int.__repr__``);
  floats through Arrow's shortest round-trip digits, which are ``repr``'s,
  with ``.0`` added where ``repr`` writes it, and ``repr`` itself for the
  few values Python writes with an exponent (``|x| < 1e-4`` or ``>= 1e16``)
  or Arrow does; a NaN or an infinity is a ValueError, as ``allow_nan=False``
  makes it; each distinct value once (:func:`number_codes`);
* strings: quoted as they are unless they hold a quote, a backslash, a
  control character or a non-ASCII character (:data:`ESCAPED`); those few go
  through ``json.dumps`` one by one;
* low-cardinality columns (dictionaries: statuses, outcomes, reasons,
  explanations) are encoded once per dictionary value (:func:`coded`).

:mod:`.jsontext` assembles rows of text from them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ESCAPED",
    "coded",
    "dumps",
    "indices_or_minus_one",
    "is_number",
    "json_dictionary",
    "number_codes",
    "number_texts",
    "uuid_texts",
    "whole",
]

#: A character JSON (ASCII-only) writes escaped: quote, backslash, control, non-ASCII.
ESCAPED = r'["\\\x00-\x1f]|[^\x00-\x7f]'
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_quoted = encode_basestring_ascii  # json.dumps of a str (ensure_ascii), without the call around
_HEX = np.frombuffer(
    b"".join(f"{b:02x}".encode() for b in range(256)), np.uint16
)  # byte -> its two hex digits, as they lie in memory


def dumps(value: object) -> str:
    """``value`` as compact JSON, the encoding every bulk text must equal.

    ``json.dumps(value, separators=(",", ":"), allow_nan=False)`` builds this
    very encoder on each call; one, shared, is the same bytes in about half
    the time (thousands of distinct distances and texts a slice).
    """
    return _ENCODER.encode(value)


def whole(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array, whether a table's (chunked) column or a batch's."""
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def uuid_texts(ids: pa.Array | pa.ChunkedArray) -> pa.StringArray:
    """16-byte UUIDs as ``str(uuid.UUID(bytes=...))``: 36 lowercase hex digits and dashes."""
    ids = whole(ids)
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
    array = whole(array)
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
    encoded = pc.dictionary_encode(whole(array))
    text, dot = number_texts(encoded.dictionary)
    if dot.any():
        text = pc.if_else(pa.array(dot), pc.binary_join_element_wise(text, ".0", ""), text)
    return indices_or_minus_one(encoded.indices), text


def is_number(kind: pa.DataType) -> bool:
    """Whether :func:`number_texts` of a column of this type is digits only (no quotes)."""
    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )


def json_dictionary(values: Sequence[object]) -> list[str]:
    """The JSON text of each value of a dictionary (``null`` for ``None``).

    A string is quoted by the encoder ``json.dumps`` itself calls for it (a
    tenth of the time of a ``dumps`` call each: explanations are thousands of
    distinct texts a slice).
    """
    return [_quoted(v) if type(v) is str else dumps(v) for v in values]


def indices_or_minus_one(indices: pa.Array) -> npt.NDArray[np.int64]:
    """An integer column's values as int64, -1 where null (read off its buffers)."""
    kind = indices.type
    if not pa.types.is_integer(kind) or len(indices) == 0:
        return np.asarray(indices.cast(pa.int64()).fill_null(-1), np.int64)
    dtype = np.dtype(kind.to_pandas_dtype())
    values = np.frombuffer(
        indices.buffers()[1], dtype, count=len(indices), offset=indices.offset * dtype.itemsize
    ).astype(np.int64)
    if indices.null_count:
        bits = np.frombuffer(indices.buffers()[0], np.uint8)
        valid = np.unpackbits(bits, count=indices.offset + len(indices), bitorder="little")
        values[valid[indices.offset :] == 0] = -1
    return values


def coded(array: pa.Array | pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], list[str]]:
    """A low-cardinality column as (per-row code, JSON text of each code); nulls ``null``.

    A dictionary column keeps its dictionary; any other is dictionary-encoded
    first. The last text is ``null``, the code of null rows.
    """
    array = whole(array)
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    dictionary = array.dictionary.to_pylist()
    indices = indices_or_minus_one(array.indices)
    codes = np.where(indices < 0, len(dictionary), indices)
    return codes, [*json_dictionary(dictionary), "null"]
