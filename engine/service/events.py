"""One seller's order events (inline tables) -> that seller's metric facts.

The rows go through the same path as a source on disk: each table is written
as a JSON lines file in a private temporary folder, :func:`load_source`
validates every row with the data-contract rules, and
:func:`compute_metrics` computes the pack's facts. Any rejected row, or a
row of another seller, is a 422 problem naming the row and the field; a table
that cannot be read at all (unknown or missing columns) is a 422 naming the
table, never the temporary folder.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.metrics.compute import compute_metrics, iter_facts
from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.rules.model import CompiledPack

from .problems import FieldError, ProblemError

__all__ = ["facts_from_events"]


def facts_from_events(
    pack: CompiledPack,
    seller_id: str,
    tables: Mapping[str, Sequence[Mapping[str, Any]]],
    as_of: datetime,
) -> SellerFacts:
    """The metric facts of ``seller_id`` from its rows, validated like a source."""
    foreign = [
        FieldError(
            f"events.tables.{table}[{index}].seller_id",
            f"row of seller {row.get('seller_id')!r}, not of {seller_id!r}",
            json_path=f"$.events.tables.{table}[{index}].seller_id",
        )
        for table, rows in tables.items()
        for index, row in enumerate(rows)
        if row.get("seller_id") != seller_id
    ]
    if foreign:
        raise ProblemError(422, "invalid_events", "rows of other sellers", foreign[:100])
    with tempfile.TemporaryDirectory(prefix="sellerpolicy-events-") as folder:
        for table, rows in tables.items():
            lines = "".join(json.dumps(row) + "\n" for row in rows)
            (Path(folder) / f"{table}.jsonl").write_text(lines, encoding="utf-8")
        with duckdb.connect() as con:
            try:
                report = load_source(folder, con)
            except SourceError as exc:
                raise _table_problem(exc, Path(folder)) from None
            if report.rejects:
                errors = [
                    FieldError(
                        f"events.tables.{r.table}[{r.row - 1}]"
                        + (f".{r.column}" if r.column else ""),
                        r.reason,
                        json_path=f"$.events.tables.{r.table}[{r.row - 1}]"
                        + (f".{r.column}" if r.column else ""),
                        code=r.code,
                    )
                    for r in report.rejects[:100]
                ]
                detail = f"{report.reject_count} row(s) break the data contract: see errors"
                raise ProblemError(422, "invalid_events", detail, errors)
            table = compute_metrics(con, pack.metrics, as_of).table
    found = next((f for f in iter_facts(table, as_of) if f.seller_id == seller_id), None)
    if found is None:
        detail = f"seller {seller_id!r} has no orders or messages in the events"
        raise ProblemError(422, "invalid_events", detail, [FieldError("events.tables", detail)])
    return found


def _table_problem(exc: SourceError, folder: Path) -> ProblemError:
    """The 422 of a table the source reader refused, naming the table (as the request
    does), not the temporary file it was written to."""
    path = Path(exc.path)
    field = f"events.tables.{path.stem}" if path.parent == folder else "events.tables"
    message = f"{field}: {exc.problem}"
    return ProblemError(
        422, "invalid_events", message, [FieldError(field, exc.problem, json_path=f"$.{field}")]
    )
