"""Report values of their documented shape parsed in NumPy: the values of ``clean_runs``.

Each function reads a column of report text (an Arrow string array, one
value per line, an empty value being null), or only some of its values
(``rows``: their indexes, ascending), and gives, per value, whether it has
a shape read here and, when it has, the value that the contract's parser
gives it (``contract_rows.quick_value``, ``sources.validate_rows``). A
value of any other shape, or out of the bounds below, is simply not read
here (its line then takes the general path, which reads it exactly): a
value read here is never read otherwise there.

* :func:`times`: ``2003-07-14T18:53:56+00:00`` (an offset of at most 14:00,
  minutes under 60), ``2003-07-14T18:53:56Z`` or ``2003-07-14``, ASCII digits,
  a real day of the proleptic Gregorian calendar (years 0001-9999), hours
  00-23, minutes and seconds 00-59; as microseconds since 1970-01-01 UTC;
* :func:`decimals`: ``-?d{1,6}(.d{1,9})?``; as its exact value in units of
  1e-9, which is what ``TRY_CAST(<the parsed double> AS DECIMAL(38, 9))``
  gives (the double is within 6e-11 of the decimal, so the product by 1e9 is
  within 0.2 of the units); two-decimal values are read digit by digit, the
  others parsed by Arrow;
* :func:`currencies`: three ASCII letters (the value is their upper case);
* :func:`plain`: whether a value starts and ends with a printable ASCII
  character (so that trimming it changes nothing).

:func:`hashes` gives a 64-bit hash of each value's bytes, to compare texts.

The work is done one Arrow chunk at a time, in arrays of a chunk's size at
most: fresh memory is dear (page faults), and these are reused.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["UNITS", "currencies", "decimals", "hashes", "pieces", "plain", "present", "times"]

UNITS = 10**9
"""Decimal units of :func:`decimals` per 1 (the scale of ``DECIMAL(38, 9)``)."""

_DECIMAL = r"^-?[0-9]{1,6}(\.[0-9]{1,9})?$"
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_FNV_BASIS = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]
Bytes = npt.NDArray[np.uint8]


def pieces(
    values: pa.Array | pa.ChunkedArray, rows: Rows | None = None
) -> Iterator[tuple[pa.Array, Rows | None, slice]]:
    """Each chunk of ``values`` with values to read: the chunk, the indexes in it of
    those of ``rows`` (None: all of its values), and where their results go."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    start = 0
    for chunk in chunks:
        stop = start + len(chunk)
        if rows is None:
            yield chunk, None, slice(start, stop)
        else:
            low, high = (int(i) for i in np.searchsorted(rows, [start, stop]))
            if high > low:
                yield chunk, rows[low:high] - start, slice(low, high)
        start = stop


def _size(values: pa.Array | pa.ChunkedArray, rows: Rows | None) -> int:
    return len(values) if rows is None else len(rows)


def _text(chunk: pa.Array) -> tuple[npt.NDArray[np.int32], Bytes]:
    """The value offsets (``len + 1``) and the data bytes of a text chunk."""
    if chunk.type != pa.string():
        chunk = chunk.cast(pa.string())
    buffers = chunk.buffers()
    offsets = np.frombuffer(
        buffers[1], dtype=np.int32, count=len(chunk) + 1, offset=chunk.offset * 4
    )
    data = buffers[2]
    return offsets, (
        np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    )


def _valid(chunk: pa.Array, local: Rows | None) -> Mask:
    """Whether each value read (``local``: their indexes; None: all) is not null."""
    size = len(chunk) if local is None else len(local)
    if chunk.null_count == 0:
        return np.ones(size, dtype=np.bool_)
    valid = np.asarray(chunk.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    return valid if local is None else valid[local]


def _spans(chunk: pa.Array, local: Rows | None) -> tuple[Ints, Ints, Mask, Bytes]:
    """The start and length in bytes of each value read, whether it is not null, and the
    chunk's bytes."""
    offsets, data = _text(chunk)
    if local is None:
        begin = offsets[:-1].astype(np.int64)
        length = np.diff(offsets).astype(np.int64)
    else:
        begin = offsets[local].astype(np.int64)
        length = offsets[local + 1] - begin
    return begin, length, _valid(chunk, local), data


def _gather(data: Bytes, begin: Ints, width: int) -> Bytes:
    """The ``width`` bytes at each of ``begin``, one row each (copied as records of that
    many bytes: faster than a window over the bytes)."""
    records = np.ndarray(
        shape=(len(data) - width + 1,), dtype=np.dtype((np.void, width)), buffer=data, strides=(1,)
    )
    return records[begin].view(np.uint8).reshape(-1, width)


def _columns(chunk: pa.Array, local: Rows | None, width: int) -> tuple[Rows, Bytes]:
    """Of the values read, those of exactly ``width`` bytes (their positions among
    them), and their bytes: one contiguous row per byte position (``[k]``: the k-th
    byte of each value)."""
    begin, length, valid, data = _spans(chunk, local)
    where = np.flatnonzero((length == width) & valid)
    if local is None and len(where) == len(chunk):
        start = int(begin[0]) if len(begin) else 0
        rows = data[start : start + width * len(chunk)].reshape(-1, width)
        return where, np.ascontiguousarray(rows.T)
    if not len(where):
        return where, np.zeros((width, 0), dtype=np.uint8)
    # Each value's bytes as a row of a window over the data (one copy), then by byte.
    rows = _gather(data, begin[where], width)
    return where, np.ascontiguousarray(rows.T)


def _template(shape: bytes) -> tuple[Bytes, Bytes]:
    """Per byte of a shape written with ``9`` for a digit, ``5`` for a digit 0-5 (and
    ``2``, ``3``, ``1`` alike), ``+`` for a sign and any other byte for itself: the
    lowest byte allowed and how far above it a byte may be."""
    low, span = [], []
    for byte in shape:
        if chr(byte) in "123459":
            low.append(ord("0"))
            span.append(byte - ord("0"))
        elif chr(byte) == "+":
            low.append(ord("+"))
            span.append(ord("-") - ord("+"))  # '+', ',' or '-': ',' is refused apart
        else:
            low.append(byte)
            span.append(0)
    return np.array(low, dtype=np.uint8)[:, None], np.array(span, dtype=np.uint8)[:, None]


_SHAPES = {
    25: _template(b"9999-19-39T29:59:59+19:59"),
    20: _template(b"9999-19-39T29:59:59Z"),
    10: _template(b"9999-19-39"),
}


@cache
def _calendar() -> tuple[Ints, Bytes]:
    """By ``year * 12 + month - 1`` (years 0-9999): the days from 1970-01-01 to the
    first of the month, and the days in the month (proleptic Gregorian)."""
    year = np.repeat(np.arange(10_000, dtype=np.int64), 12)
    month = np.tile(np.arange(1, 13, dtype=np.int64), 10_000)
    y = year - (month <= 2)
    era = y // 400
    of_era = y - era * 400
    of_year = (153 * ((month + 9) % 12) + 2) // 5
    first = era * 146_097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719_468
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _DAYS_IN_MONTH[month] + ((month == 2) & leap)
    return first, days.astype(np.uint8)


def _two(columns: Bytes, at: int) -> Bytes:
    """The two-digit number at byte ``at`` (digits checked apart)."""
    tens, ones = columns[at] - np.uint8(48), columns[at + 1] - np.uint8(48)
    return np.asarray(tens * np.uint8(10) + ones, dtype=np.uint8)


def _chunk_times(chunk: pa.Array, local: Rows | None, micros: Ints, ok: Mask) -> None:
    first_day, month_days = _calendar()
    for width, (low, span) in _SHAPES.items():
        where, columns = _columns(chunk, local, width)
        if not len(where):
            continue
        good = ~np.any((columns - low) > span, axis=0)
        year = _two(columns, 0).astype(np.int32) * 100 + _two(columns, 2)
        month, day = _two(columns, 5), _two(columns, 8)
        good &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1)
        index = np.where(good, year * 12 + month - 1, 0)
        good &= day <= month_days[index]
        seconds = (first_day[index] + day - 1) * 86_400
        if width > 10:
            hour = _two(columns, 11)
            good &= hour <= 23
            seconds += hour.astype(np.int64) * 3600 + _two(columns, 14).astype(np.int64) * 60
            seconds += _two(columns, 17)
        if width == 25:
            hours, minutes = _two(columns, 20), _two(columns, 23)
            good &= (columns[19] != ord(",")) & ((hours < 14) | ((hours == 14) & (minutes == 0)))
            east = hours.astype(np.int64) * 3600 + minutes.astype(np.int64) * 60
            seconds -= np.where(columns[19] == ord("-"), -east, east)
        micros[where] = np.where(good, seconds * 1_000_000, 0)
        ok[where] = good


def times(values: pa.Array | pa.ChunkedArray, rows: Rows | None = None) -> tuple[Ints, Mask]:
    """Microseconds since 1970-01-01 UTC of each timestamp or date of documented shape
    (0 where not read), and whether it was read."""
    micros = np.zeros(_size(values, rows), dtype=np.int64)
    ok = np.zeros(_size(values, rows), dtype=np.bool_)
    for chunk, local, into in pieces(values, rows):
        _chunk_times(chunk, local, micros[into], ok[into])
    return micros, ok


def decimals(values: pa.Array) -> tuple[Ints, Mask]:
    """Each decimal of documented shape in units of 1e-9 (0 where not read), and
    whether it was read.

    The common shape, two decimals (``-?d{1,6}.dd``), is read by the position of its
    bytes; any other value is matched against the documented shape and parsed by
    Arrow.
    """
    units = np.zeros(len(values), dtype=np.int64)
    ok = np.zeros(len(values), dtype=np.bool_)
    begin, length, valid, data = _spans(values, None)
    for width in range(4, 11):  # d.dd to -dddddd.dd
        where = np.flatnonzero(valid & (length == width))
        if len(where):
            units[where], ok[where] = _cents(data, begin[where], width)
    other = np.flatnonzero(valid & ~ok)
    if len(other):
        units[other], ok[other] = _decimal(values.take(pa.array(other)))
    return units, ok


def _cents(data: Bytes, begin: Ints, width: int) -> tuple[Ints, Mask]:
    """The units of the values of ``width`` bytes at ``begin`` written ``-?d{1,6}.dd``,
    and whether each is."""
    text = _gather(data, begin, width)
    columns = np.ascontiguousarray(text.T)  # [k]: the k-th byte of each value
    digits = columns - np.uint8(48)
    negative = columns[0] == ord("-")
    good = (columns[-3] == ord(".")) & (digits[-2] <= 9) & (digits[-1] <= 9)
    good &= (digits[0] <= 9) | (negative & (width > 4))
    good &= (width - 3 - negative) <= 6  # six digits at most before the point
    whole = np.where(negative, 0, digits[0]).astype(np.int64)
    for k in range(1, width - 3):
        good &= digits[k] <= 9
        whole = whole * 10 + digits[k]
    cents = whole * 100 + digits[-2].astype(np.int64) * 10 + digits[-1]
    units = cents * (UNITS // 100)
    return np.where(good, np.where(negative, -units, units), 0), good


def _decimal(values: pa.Array) -> tuple[Ints, Mask]:
    """The units of each value matching the documented shape, and whether it does."""
    ok = np.asarray(
        pc.fill_null(pc.match_substring_regex(values, _DECIMAL), False).to_numpy(
            zero_copy_only=False
        ),
        dtype=np.bool_,
    )
    units = np.zeros(len(values), dtype=np.int64)
    if ok.any():
        shaped = values if ok.all() else values.filter(pa.array(ok))
        number = np.asarray(pc.cast(shaped, pa.float64()).to_numpy(zero_copy_only=False))
        units[ok] = np.rint(number * UNITS)
    return units, ok


def currencies(values: pa.Array | pa.ChunkedArray, rows: Rows | None = None) -> tuple[Mask, bool]:
    """Whether each value is a currency code of documented shape (three ASCII letters):
    its value is then ``pc.ascii_upper`` of it; and whether one read has a lower case
    letter."""
    ok = np.zeros(_size(values, rows), dtype=np.bool_)
    lower = False
    for chunk, local, into in pieces(values, rows):
        where, columns = _columns(chunk, local, 3)
        letters = (columns | np.uint8(0x20)) - np.uint8(ord("a")) <= 25
        read = np.all(letters, axis=0)
        ok[into][where] = read
        if not lower:
            lower = bool(np.any(np.bitwise_or.reduce(columns, axis=0)[read] & np.uint8(0x20)))
    return ok, lower


def plain(values: pa.Array | pa.ChunkedArray, rows: Rows | None = None) -> Mask:
    """Whether each value is null, or starts and ends with a printable ASCII character
    (33-126), so that ``trim`` keeps it whole."""
    out = np.zeros(_size(values, rows), dtype=np.bool_)
    for chunk, local, into in pieces(values, rows):
        begin, length, valid, data = _spans(chunk, local)
        some = valid & (length > 0)
        first = data[np.where(some, begin, 0)] if len(data) else np.zeros(len(begin), np.uint8)
        last = data[np.where(some, begin + length - 1, 0)] if len(data) else first
        printable = (first >= 33) & (first <= 126) & (last >= 33) & (last <= 126)
        out[into] = ~valid | (some & printable)
    return out


def present(values: pa.Array | pa.ChunkedArray, rows: Rows | None = None) -> Mask:
    """Whether each value is not null."""
    out = np.zeros(_size(values, rows), dtype=np.bool_)
    for chunk, local, into in pieces(values, rows):
        out[into] = _valid(chunk, local)
    return out


def hashes(values: pa.Array | pa.ChunkedArray, rows: Rows | None = None) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each value's bytes (FNV-1a over 8-byte words), 0 for null:
    equal texts have equal hashes (and texts of one length up to 8 bytes, distinct
    ones)."""
    out = np.zeros(_size(values, rows), dtype=np.uint64)
    for chunk, local, into in pieces(values, rows):
        begin, length, valid, data = _spans(chunk, local)
        mine = out[into]
        for width in np.flatnonzero(np.bincount(length[valid])).tolist():
            where = np.flatnonzero(valid & (length == width))
            text = np.zeros((len(where), -(-width // 8) * 8), dtype=np.uint8)
            if width:
                text[:, :width] = _gather(data, begin[where], width)
            value = np.full(len(where), _FNV_BASIS ^ np.uint64(width), dtype=np.uint64)
            for word in text.view(np.uint64).T:
                value ^= word
                value *= _FNV_PRIME
            mine[where] = value
    return out
