"""Rejected input rows: the value, where they are written, and how.

A reject is one source row that breaks the data contract
(the table schemas in ``schemas/``). It is never silently dropped:
``engine.sources`` collects one :class:`Reject` per rejected row (the first
problem found in that row) and the command that ran writes them beside its
output as ``<output name without extension>.rejects.jsonl``.

``reason`` always starts with a stable snake_case code, then a colon and a
sentence naming the value, e.g.
``unknown_value: cancelled_by 'robot' is not one of seller, buyer, marketplace``.
:attr:`Reject.code` gives the code alone. The codes:

=========================  ==================================================
missing_value              a required value is empty (also ``cancelled_by``
                           with ``cancelled_at``, ``rating`` for ``left`` and
                           ``updated``, ``removed_by`` for ``removed``)
unknown_value              a value outside its enum
bad_timestamp, bad_bool,   text that does not parse as its type
bad_number, bad_integer,
bad_currency
out_of_range               a rating outside 1-5
before_order               a timestamp earlier than its order's ``ordered_at``
responded_before_received  a message answered before it arrived
closed_before_opened       a dispute closed before it was opened
duplicate_id               an id already used by an earlier row (first kept)
unknown_order              an event naming an order not in ``orders``
rejected_order             an event of an order whose row was rejected
seller_mismatch            an event whose ``seller_id`` differs from its order's
duplicate_rating           a second detailed rating of one order
duplicate_left             another ``left`` after the original (the earliest)
update_without_left        an ``updated`` with no accepted ``left``
update_before_left         an ``updated`` earlier than the ``left``
update_too_late            an ``updated`` more than 60 days after the ``left``
second_update              an ``updated`` after the first accepted one
contradictory_fact         a metric facts row (table ``facts``) whose numbers
                           contradict each other (``engine.metrics.checks``)
field_count                a CSV row with more or fewer fields than the header
                           (empty fields after the last column are allowed)
bad_encoding               a CSV row or JSON line that is not UTF-8 (names the
                           column when it can)
bad_quote                  a CSV quote never closed, text after a closing
                           quote, a line break outside quotes
line_too_long              a CSV row longer than 2,000,000 bytes
bad_line                   a CSV row that is not CSV otherwise
bad_json                   a JSON line that is not valid JSON, not an object,
                           names a key twice or holds a lone surrogate
=========================  ==================================================

The last six are lines that are not rows at all (``sources.lines``): their
reason describes the line and never repeats its content.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, order=True)
class Reject:
    """One rejected row: its table, 1-based data row, offending column and reason."""

    table: str
    row: int
    column: str | None
    reason: str

    @property
    def code(self) -> str:
        """The stable code at the start of ``reason`` (``duplicate_id``, ...)."""
        return self.reason.split(":", 1)[0]

    def to_json(self) -> str:
        """One JSON object with ``table``, ``row``, ``column`` and ``reason``."""
        return json.dumps(
            {"table": self.table, "row": self.row, "column": self.column, "reason": self.reason},
            ensure_ascii=False,
        )


def rejects_path_for(out: Path) -> Path:
    """``facts.jsonl`` -> ``facts.rejects.jsonl``, in the same folder."""
    return out.with_name(f"{out.stem}.rejects.jsonl")


def write_rejects(rejects: Iterable[Reject], path: Path) -> int:
    """Write one JSON object per reject (one per line); return how many were written.

    The file is written under a temporary name beside ``path`` and renamed
    when complete, like every output: never a partial rejects file.
    """
    count = 0
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as fh:
            for reject in rejects:
                fh.write(reject.to_json())
                fh.write("\n")
                count += 1
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return count
