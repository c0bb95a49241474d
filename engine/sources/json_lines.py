"""JSON Lines files with malformed lines: the mended copy DuckDB reads instead.

See :mod:`sellerpolicy.engine.sources.lines` for the idea: a line that is not a
JSON object becomes a placeholder row carrying its reason, so it is a reject
with the number of its row and every other row keeps its number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.sources.line_reader import physical_lines
from sellerpolicy.engine.sources.lines import BOM, LINE_COLUMN, LINE_PROBLEM

__all__ = ["MAX_JSON_LINE_BYTES", "mend_jsonl"]

MAX_JSON_LINE_BYTES = 1 << 26


def mend_jsonl(path: Path, shown: str, out: Path) -> None:
    """Copy the JSON Lines file at ``path`` to ``out``, its malformed lines replaced.

    A JSON object (or ``null``, which DuckDB reads as a row of nulls) is copied as
    it is; any other line is an object with only the :data:`LINE_COLUMNS`; a
    blank line is left out. A file in which no line is an object raises
    :class:`SourceError`: it is no JSON Lines file.
    """
    good = bad = 0
    try:
        with path.open("rb") as raw, out.open("wb") as sink:
            first = True
            for line in physical_lines(raw, MAX_JSON_LINE_BYTES):
                body = line.strip(b" \t\r\n") if line is not None else None
                if first and body is not None:
                    body = body.removeprefix(BOM)
                first = False
                if body == b"":
                    continue
                reason = _json_problem(body)
                if reason is None and body is not None:
                    sink.write(body + b"\n")
                    good += 1
                else:
                    sink.write(json.dumps({LINE_COLUMN: None, LINE_PROBLEM: reason}).encode())
                    sink.write(b"\n")
                    bad += 1
    except OSError as exc:
        raise SourceError(shown, f"cannot be read: {exc.strerror or type(exc).__name__}") from None
    if bad and not good:
        raise SourceError(shown, "is not a JSON Lines file: none of its lines is a JSON object")


def _json_problem(body: bytes | None) -> str | None:
    """Why one non-blank JSON line is no row (None: DuckDB reads it as a row)."""
    if body is None:
        return f"bad_json: the line is longer than {MAX_JSON_LINE_BYTES:,} bytes"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "bad_encoding: the line is not valid UTF-8"
    try:
        value, end = _JSON.raw_decode(text)
    except (ValueError, RecursionError):
        return "bad_json: the line is not valid JSON"
    if end != len(text):
        return "bad_json: the line is not valid JSON"
    if value is None:
        return None
    if not isinstance(value, tuple):  # objects are decoded as tuples of their pairs
        kind = {list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")
        return f"bad_json: the line is {kind}, not a JSON object"
    if len(dict(value)) != len(value):
        keys = [k for k, _ in value]
        twice = next(k for i, k in enumerate(keys) if k in keys[:i])
        shown = twice[:40] + ("..." if len(twice) > 40 else "")
        return f"bad_json: the line names the key {shown!r} twice"
    if b"\\u" in body:  # only an escape can make a lone surrogate
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return "bad_json: the line has a \\u escape that is not a character (a lone surrogate)"
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON (DuckDB refuses them)


_JSON = json.JSONDecoder(object_pairs_hook=tuple, parse_constant=_no_constant)
