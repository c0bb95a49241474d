"""The answers of ``POST /v1/evaluations`` by media type: JSON, or one decision per line.

:func:`negotiate` reads the request's ``Accept`` header (media ranges with
``q`` weights, RFC 9110): the answer is ``application/json`` (the
:class:`~.models.EvaluationResponse` document; also without an ``Accept``
header, for ``*/*``, and on a tie) or ``application/x-ndjson``; an ``Accept``
that allows neither is a 406 problem.

An NDJSON answer (:func:`decision_lines`) holds each decision on a line of
its own, in request order: the bytes ``sellerpolicy evaluate --out x.jsonl``
writes for those decisions (``json.dumps`` of ``Decision.to_json()``,
compact, ASCII with ``\\u`` escapes; :func:`~sellerpolicy.engine.batch.sinks.dumps`),
each followed by ``\\n``. The run id and the reason the pack version was
chosen travel in the :data:`RUN_ID_HEADER` and :data:`SELECTION_HEADER`
headers. The lines are sent a few hundred decisions at a time as they are
encoded, after the decisions were stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from sellerpolicy.engine.batch.sinks import dumps

from .problems import ProblemError

__all__ = [
    "JSON",
    "LINES_STEP",
    "NDJSON",
    "RUN_ID_HEADER",
    "SELECTION_HEADER",
    "decision_lines",
    "kept_lines",
    "negotiate",
]

JSON = "application/json"
NDJSON = "application/x-ndjson"
#: The answer's run id, in an NDJSON answer (a JSON answer has ``run_id``).
RUN_ID_HEADER = "X-Run-Id"
#: Why this pack version was used, in an NDJSON answer (a JSON answer has ``pack_selection``).
SELECTION_HEADER = "X-Pack-Selection"
#: Decisions per piece of an NDJSON answer.
LINES_STEP = 256

_OFFERED = (JSON, NDJSON)  # in order of preference, for a tie
_PLAIN = frozenset({"", "*/*", JSON})


def negotiate(accept: str | None) -> str:
    """The media type to answer in for this ``Accept`` header; a 406 problem when none fits.

    Each offered type gets the weight of the most specific range that
    matches it (``type/subtype``, then ``type/*``, then ``*/*``); the highest
    weight above 0 wins, JSON on a tie. Parameters other than ``q`` are
    ignored; an unreadable ``q`` counts as 1.
    """
    if accept is None or accept.strip() in _PLAIN:
        return JSON
    ranges = [_media_range(part) for part in accept.split(",") if part.strip()]
    best, weight = None, 0.0
    for offered in _OFFERED:
        found = _weight(ranges, offered)
        if found > weight:
            best, weight = offered, found
    if best is None:
        raise ProblemError(
            406,
            "not_acceptable",
            f"the answer is {JSON} or {NDJSON} (one decision per line); "
            f"the Accept header ({accept[:100]!r}) allows neither",
        )
    return best


def _media_range(text: str) -> tuple[str, str, float]:
    kind, *params = text.split(";")
    main, _, sub = kind.strip().lower().partition("/")
    weight = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                weight = min(1.0, max(0.0, float(value.strip())))
            except ValueError:
                weight = 1.0
    return main, sub or "*", weight


def _weight(ranges: Sequence[tuple[str, str, float]], offered: str) -> float:
    main, sub = offered.split("/")
    best_rank, weight = -1, 0.0
    for range_main, range_sub, q in ranges:
        if (range_main, range_sub) == (main, sub):
            rank = 2
        elif (range_main, range_sub) == (main, "*"):
            rank = 1
        elif (range_main, range_sub) == ("*", "*"):
            rank = 0
        else:
            continue
        if rank > best_rank:
            best_rank, weight = rank, q
    return weight


def line(text: str) -> bytes:
    """One decision's line from its stored JSON text (compact, non-ASCII kept as it is).

    The store's text is the JSON lines' text whenever it is ASCII without a
    DEL character (which ``json.dumps`` escapes); otherwise it is encoded again.
    """
    if text.isascii() and "\x7f" not in text:
        return text.encode() + b"\n"
    return dumps(json.loads(text)).encode() + b"\n"


def decision_lines(texts: Iterator[str]) -> Iterator[bytes]:
    """The NDJSON answer of these decisions' stored texts, :data:`LINES_STEP` lines a piece."""
    piece: list[bytes] = []
    for text in texts:
        piece.append(line(text))
        if len(piece) == LINES_STEP:
            yield b"".join(piece)
            piece.clear()
    if piece:
        yield b"".join(piece)


def kept_lines(kept: str) -> tuple[str, str | None, Iterator[bytes]]:
    """A kept JSON answer (idempotency) as an NDJSON one: run id, selection reason, lines."""
    document = json.loads(kept)
    selection = document.get("pack_selection") or {}
    decisions = document["decisions"]
    pieces = (
        b"".join(dumps(d).encode() + b"\n" for d in decisions[start : start + LINES_STEP])
        for start in range(0, len(decisions), LINES_STEP)
    )
    return document["run_id"], selection.get("reason"), pieces
