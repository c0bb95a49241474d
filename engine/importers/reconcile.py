"""Reconciliation: the metrics sellerpolicy computes against those a marketplace reported.

:func:`reconcile` computes a pack's metrics from a source (``load_source``, then
``compute_metrics``) and compares them, per account and metric use, with a
facts file of reported metrics (``import amazon-account-health`` or
``import ebay-seller-standards`` writes one; any facts file will do):

* ``equal``: the same value (and the same counts where both have them), or no
  value on either side (not measured: an empty denominator);
* ``within_tolerance``: values apart by at most the tolerance (absolute for a
  rate or an average, relative for a count, an amount or a growth);
* ``different``: further apart; the row keeps both values and both counts;
* ``not_reported`` / ``not_computed``: one side has no value (null or absent);
* ``not_carried``: the source was imported from reports that do not carry the
  metric (its ``import.json`` says so), so no comparison means anything.

Beside the rows, :class:`DefinitionNote` values say where the definitions of
the two sides differ: the window (the reported window, from the
``<stem>.windows.jsonl`` beside the reported facts, against the pack's window
and lag) and what counts (the report's definition from its mapping against the
pack's knobs).
"""

# SQL here is built from quoted file paths only: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

import duckdb

from sellerpolicy.engine.errors import FactsError
from sellerpolicy.engine.importers.amazon_reports import MANIFEST
from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.metrics.facts import as_of_instant, as_of_label
from sellerpolicy.engine.sources.reader import SourceReport, load_source
from sellerpolicy.engine.sources.validate_rows import quote_literal
from sellerpolicy.rules.catalog import CATALOG, MetricKind, counts_in_facts
from sellerpolicy.rules.model import CompiledPack, MetricUse

__all__ = ["DefinitionNote", "ReconcileResult", "ReconcileRow", "Status", "reconcile"]

_READERS = {
    ".jsonl": "read_json_auto({path})",
    # Seller ids stay text ('00123' is not 123); as_of is compared as written.
    ".csv": "read_csv_auto({path}, types={{'seller_id': 'VARCHAR', 'as_of': 'VARCHAR'}})",
    ".parquet": "read_parquet({path})",
}


class Status(StrEnum):
    """How a computed metric compares with the reported one."""

    EQUAL = "equal"
    WITHIN_TOLERANCE = "within_tolerance"
    DIFFERENT = "different"
    NOT_REPORTED = "not_reported"
    NOT_COMPUTED = "not_computed"
    NOT_CARRIED = "not_carried"


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a comparison: a value and its counts."""

    value: float | None
    num: float | None = None
    den: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        """The side as JSON-ready data."""
        return {"value": self.value, "num": self.num, "den": self.den}


@dataclass(frozen=True, slots=True)
class ReconcileRow:
    """One account and metric use, compared."""

    seller_id: str
    metric: str
    status: Status
    computed: Side
    reported: Side
    difference: float | None

    def to_json(self) -> str:
        """One JSON object per row."""
        return json.dumps(
            {
                "seller_id": self.seller_id,
                "metric": self.metric,
                "status": self.status.value,
                "computed": self.computed.to_dict(),
                "reported": self.reported.to_dict(),
                "difference": self.difference,
            }
        )


@dataclass(frozen=True, slots=True)
class DefinitionNote:
    """Where a metric use's definition differs between the pack and the report."""

    metric: str
    aspect: str  # window | counts | source
    pack: str
    reported: str
    sellers: int  # accounts the reported side applies to


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """Every row, the counts per metric use and status, the definition notes."""

    rows: tuple[ReconcileRow, ...]
    counts: Mapping[str, Mapping[Status, int]]
    definitions: tuple[DefinitionNote, ...]
    source: SourceReport
    sellers_computed: int
    sellers_reported: int

    @property
    def different(self) -> tuple[ReconcileRow, ...]:
        """The rows whose values differ beyond the tolerance."""
        return tuple(r for r in self.rows if r.status is Status.DIFFERENT)


def reconcile(
    source: Path,
    reported: Path,
    pack: CompiledPack,
    as_of: datetime,
    *,
    tolerance: float = 0.0005,
) -> ReconcileResult:
    """Compare the pack's metrics computed from ``source`` with ``reported``.

    Raises :class:`~sellerpolicy.errors.SourceError` for a source that cannot be
    read and :class:`FactsError` for a reported facts file that cannot be read or
    is of another ``as_of``.
    """
    uses = list(pack.metrics)
    with duckdb.connect() as con:
        report = load_source(source, con)
        computed = compute_metrics(con, pack.metrics, as_of).table.to_pylist()
        theirs = _read_reported(con, reported, as_of)
    mine = {str(r["seller_id"]): r for r in computed}
    carried = _carried(source, uses)
    rows: list[ReconcileRow] = []
    for seller in sorted(set(mine) | set(theirs)):
        ours, other = mine.get(seller, {}), theirs.get(seller, {})
        for use in uses:
            reason = carried.get(use.name)
            rows.append(_compare(seller, use, ours, other, tolerance, reason is None))
    counts: dict[str, dict[Status, int]] = {u.name: dict.fromkeys(Status, 0) for u in uses}
    for row in rows:
        counts[row.metric][row.status] += 1
    notes = _definitions(reported, uses, as_of, carried)
    return ReconcileResult(
        rows=tuple(rows),
        counts=MappingProxyType({k: MappingProxyType(v) for k, v in counts.items()}),
        definitions=tuple(notes),
        source=report,
        sellers_computed=len(mine),
        sellers_reported=len(theirs),
    )


def _read_reported(
    con: duckdb.DuckDBPyConnection, path: Path, as_of: datetime
) -> dict[str, dict[str, object]]:
    """The reported facts by account; FactsError naming the file for anything unusable."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise FactsError(f"{path}: unknown facts format; use .jsonl, .csv or .parquet")
    if not path.is_file():
        raise FactsError(f"{path}: no such file")
    try:
        relation = reader.format(path=quote_literal(str(path)))
        rows = con.sql(f"SELECT * FROM {relation}").to_arrow_table()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise FactsError(f"{path}: cannot be read: {first}") from None
    for column in ("seller_id", "as_of"):
        if column not in rows.column_names:
            raise FactsError(f"{path}: no {column} field")
    expected = as_of_label(as_of_instant(as_of))
    out: dict[str, dict[str, object]] = {}
    for n, record in enumerate(rows.to_pylist(), start=1):
        seller = record["seller_id"]
        if seller is None or seller == "":
            raise FactsError(f"{path}: row {n}: seller_id is missing")
        label = record["as_of"]
        label = label if isinstance(label, str) else as_of_label(as_of_instant(label))
        if label != expected:
            raise FactsError(f"{path}: row {n}: facts are as of {label}, not {expected}")
        if str(seller) in out:
            raise FactsError(f"{path}: seller {seller!r} has two rows")
        out[str(seller)] = record
    return out


def _carried(source: Path, uses: Sequence[MetricUse]) -> dict[str, str]:
    """Use name -> why the source's reports do not carry it (empty: not imported)."""
    path = source / MANIFEST
    if not source.is_dir() or not path.is_file():
        return {}
    manifest = json.loads(path.read_text(encoding="utf-8"))
    carries = {c["metric"]: c for c in manifest.get("carries", [])}
    left = {n["metric"]: n["because"] for n in manifest.get("not_assessable", [])}
    out = {}
    for use in uses:
        entry = carries.get(use.metric)
        if entry is None:
            out[use.name] = left.get(use.metric, "the imported reports do not carry it")
            continue
        for knob, limit in entry.get("knob_max", {}).items():
            if getattr(use.knobs, knob) > limit:
                out[use.name] = f"the reports carry {use.metric} with {knob} up to {limit} only"
    return out


def _side(row: Mapping[str, object], use: MetricUse) -> Side:
    def number(name: str) -> float | None:
        value = row.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None

    if counts_in_facts(use.kind):
        return Side(number(use.name), number(f"{use.name}__num"), number(f"{use.name}__den"))
    return Side(number(use.name))


def _compare(  # noqa: PLR0917 - one account and use
    seller: str,
    use: MetricUse,
    ours: Mapping[str, object],
    theirs: Mapping[str, object],
    tolerance: float,
    comparable: bool,
) -> ReconcileRow:
    computed, reported = _side(ours, use), _side(theirs, use)
    if not comparable:
        return ReconcileRow(seller, use.name, Status.NOT_CARRIED, computed, reported, None)
    if reported.value is None and computed.value is None:  # not measured on either side
        counts = (computed.num, computed.den) == (reported.num, reported.den)
        status = Status.EQUAL if counts or reported.num is None else Status.DIFFERENT
        return ReconcileRow(seller, use.name, status, computed, reported, None)
    if reported.value is None:
        return ReconcileRow(seller, use.name, Status.NOT_REPORTED, computed, reported, None)
    if computed.value is None:
        return ReconcileRow(seller, use.name, Status.NOT_COMPUTED, computed, reported, None)
    difference = computed.value - reported.value
    counts_agree = reported.num is None or (computed.num, computed.den) == (
        reported.num,
        reported.den,
    )
    if math.isclose(computed.value, reported.value, rel_tol=1e-9, abs_tol=1e-12) and counts_agree:
        status = Status.EQUAL
    else:
        absolute = use.kind in (MetricKind.RATE, MetricKind.AVERAGE)
        scale = 1.0 if absolute else max(abs(reported.value), abs(computed.value), 1e-12)
        status = (
            Status.WITHIN_TOLERANCE if abs(difference) / scale <= tolerance else Status.DIFFERENT
        )
    return ReconcileRow(seller, use.name, status, computed, reported, difference)


def _definitions(
    reported: Path, uses: Sequence[MetricUse], as_of: datetime, carried: Mapping[str, str]
) -> list[DefinitionNote]:
    """Window and counting differences, from the windows file beside the reported facts."""
    notes = [
        DefinitionNote(name, "source", "computed from the source", because, 0)
        for name, because in carried.items()
    ]
    path = reported.with_name(f"{reported.stem}.windows.jsonl")
    if not path.is_file():
        notes += [
            DefinitionNote(u.name, "window", _pack_window(u), f"unknown (no {path.name})", 0)
            for u in uses
        ]
        return notes
    by_use: dict[str, list[dict[str, object]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            by_use.setdefault(str(record["metric"]), []).append(record)
    instant = as_of_instant(as_of)
    for use in uses:
        records = by_use.get(use.name, [])
        windows: dict[str, int] = {}
        for record in records:
            span = _reported_window(record, instant)
            if span is not None and span != (use.window, use.lag):
                text = _window_text(*span)
                windows[text] = windows.get(text, 0) + 1
        for text, sellers in sorted(windows.items()):
            notes.append(DefinitionNote(use.name, "window", _pack_window(use), text, sellers))
        definitions: dict[str, int] = {}
        for record in records:
            text = str(record.get("definition") or "")
            definitions[text] = definitions.get(text, 0) + 1
        for text, sellers in sorted(definitions.items()):
            if text:
                notes.append(DefinitionNote(use.name, "counts", _pack_counts(use), text, sellers))
    return notes


def _pack_window(use: MetricUse) -> str:
    return _window_text(use.window, use.lag)


def _window_text(length: timedelta, lag: timedelta) -> str:
    lagged = f", lagged {_days(lag)}" if lag else ""
    return f"{_days(length)} ending at as_of{lagged}"


def _days(span: timedelta) -> str:
    days = span.total_seconds() / 86_400
    return f"{days:g} d"


def _reported_window(
    record: Mapping[str, object], as_of: datetime
) -> tuple[timedelta, timedelta] | None:
    """A reported window's length and lag (how long before ``as_of`` it ends)."""
    start, end = record.get("window_start"), record.get("window_end")
    if not isinstance(start, str) or not isinstance(end, str):
        return None
    begin = datetime.fromisoformat(start).astimezone(UTC)
    stop = datetime.fromisoformat(end).astimezone(UTC)
    return stop - begin, as_of - stop


def _pack_counts(use: MetricUse) -> str:
    spec = CATALOG.get(use.metric)
    if spec is None or use.daily is not None:  # a score's mean of its daily totals
        return f"the mean of score {use.daily.score.id if use.daily else use.name}'s daily totals"
    knobs = []
    for knob in sorted(spec.knobs):
        value = getattr(use.knobs, knob.value)
        shown = ", ".join(sorted(map(str, value))) if isinstance(value, frozenset) else str(value)
        knobs.append(f"{knob.value}: {shown}")
    return f"{spec.doc}" + (f" ({'; '.join(knobs)})" if knobs else "")
