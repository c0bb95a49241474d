"""Metrics as a marketplace reports them, checked and turned into a pack's facts.

A report reader (``amazon_health``, ``ebay``) gives :class:`Reported` values:
one catalog metric of one account, its value as written (a rate keeps its
digits), its counts, its window and where in the report it was found.
:func:`to_facts` turns them into one metric facts row per account for a pack:

* a rate and its counts must agree: the rate written must be ``num / den``
  rounded to the digits it is written with (a percentage divided by 100). Then
  the value is ``num / den`` exactly, as ``sellerpolicy metrics`` gives it; a
  rate that disagrees with its counts is kept alone and the disagreement is a
  warning (the facts then carry no counts, which a rule's ``min_orders`` needs);
* each metric goes to the pack's use of the same catalog metric (and, for a
  rate with kinds, the same kinds): when the pack has several, the one whose
  window is nearest the reported window. A metric the pack does not use is
  written under its own name, so nothing the report says is lost;
* every pack use the report does not carry is null: its rules are not
  assessed, never passed.

The reported windows are returned beside the facts (:class:`WindowRow`), since
a marketplace's window need not be the pack's; ``reconcile`` reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pyarrow as pa

from sellerpolicy.engine.formats.json_reports import RateScale
from sellerpolicy.engine.importers.json_input import ReportError
from sellerpolicy.engine.metrics.compute import fact_columns
from sellerpolicy.engine.metrics.facts import as_of_label
from sellerpolicy.rules.catalog import CATALOG, MetricKind, counts_in_facts
from sellerpolicy.rules.model import CompiledPack, MetricUse

__all__ = ["FactsResult", "Reported", "WindowRow", "derived_as_of", "to_facts"]


@dataclass(frozen=True, slots=True)
class Reported:
    """One metric of one account as a report states it."""

    file: str
    seller_id: str
    metric: str  # catalog metric
    source: str  # JSON path of the metric in the report
    definition: str  # the report's definition, from its mapping
    mapping: str  # the mapping id
    value: Decimal | None = None  # as written: a rate in ``scale``, a count, an amount
    num: int | None = None
    den: int | None = None
    scale: RateScale = RateScale.FRACTION
    window: tuple[datetime, datetime] | None = None  # [start, end)
    marketplace: str | None = None
    name: str | None = None  # the facts name when the pack has no use of the metric
    knobs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WindowRow:
    """Where a facts value came from: the report's path, window and definition."""

    seller_id: str
    name: str
    metric: str
    mapping: str
    source: str
    window_start: str | None
    window_end: str | None
    days: float | None
    marketplace: str | None
    definition: str

    def to_dict(self) -> dict[str, object]:
        """The row as JSON-ready data."""
        return {
            "seller_id": self.seller_id,
            "metric": self.name,
            "catalog_metric": self.metric,
            "mapping": self.mapping,
            "source": self.source,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "days": self.days,
            "marketplace": self.marketplace,
            "definition": self.definition,
        }


@dataclass(frozen=True, slots=True)
class FactsResult:
    """Facts for a pack (one row per account), the windows behind them, warnings."""

    table: pa.Table
    windows: tuple[WindowRow, ...]
    warnings: tuple[str, ...]


def derived_as_of(reported: Sequence[Reported]) -> date | None:
    """The day the reports are as of: the first midnight at or after the latest end
    of a reported window (None when no window is reported)."""
    ends = [r.window[1] for r in reported if r.window is not None]
    if not ends:
        return None
    latest = max(ends)
    day = latest.date()
    return day if latest.time() == time.min else day + timedelta(days=1)


def to_facts(reported: Sequence[Reported], pack: CompiledPack, as_of: datetime) -> FactsResult:
    """One facts row per account with every use of ``pack`` (null when not reported)
    and every reported metric the pack does not use. ReportError for a rate outside
    0..1 or a count that is not a whole number (named by its file and path)."""
    warnings: list[str] = []
    rows: dict[str, dict[str, object]] = {}
    windows: list[WindowRow] = []
    names: dict[str, str] = {}  # extra facts name -> catalog metric
    for item in reported:
        name = _use_name(item, pack.metrics, names)
        row = rows.setdefault(item.seller_id, {})
        if name in row:
            warnings.append(
                f"{item.file}: {item.source}: {item.seller_id}: {name} is given twice; "
                "the first is kept"
            )
            continue
        value, num, den, note = _checked(item)
        if note:
            warnings.append(f"{item.file}: {item.source}: {note}")
        row[name] = value
        if counts_in_facts(CATALOG[item.metric].kind):
            row[f"{name}__num"], row[f"{name}__den"] = num, den
        windows.append(_window_row(item, name))
    columns = fact_columns(pack.metrics)
    for name, metric in names.items():
        if name not in columns:
            columns.append(name)
            if counts_in_facts(CATALOG[metric].kind):
                columns += [f"{name}__num", f"{name}__den"]
    label = as_of_label(as_of)
    data: dict[str, list[object]] = {c: [] for c in columns}
    for seller in sorted(rows):
        row = rows[seller]
        for column in columns:
            if column == "seller_id":
                data[column].append(seller)
            elif column == "as_of":
                data[column].append(label)
            elif column == "orders":
                data[column].append(row.get("orders", _orders_of(row, pack)))
            else:
                data[column].append(row.get(column))
    table = pa.table({c: pa.array(v, _arrow_type(c)) for c, v in data.items()})
    return FactsResult(table, tuple(windows), tuple(warnings))


def _arrow_type(column: str) -> pa.DataType:
    if column in ("seller_id", "as_of"):
        return pa.string()
    if column == "orders" or column.endswith(("__num", "__den")):
        return pa.int64()
    return pa.float64()


def _orders_of(row: Mapping[str, object], pack: CompiledPack) -> object:
    """``orders`` when the pack has no use named so: the first reported use of the
    ``orders`` metric (the facts' ``orders`` is a volume, for min_orders)."""
    for use in pack.metrics:
        if use.metric == "orders" and row.get(use.name) is not None:
            return row[use.name]
    return None


def _use_name(item: Reported, uses: Sequence[MetricUse], extra: dict[str, str]) -> str:
    """The facts name of a reported metric: the nearest-window pack use, or its own."""
    candidates = [u for u in uses if u.metric == item.metric and _same_kinds(u, item)]
    if not candidates:
        name = item.name or item.metric
        if any(u.name == name for u in uses):
            name = f"reported_{name}"
        extra[name] = item.metric
        return name
    if item.window is None or len(candidates) == 1:
        return candidates[0].name
    days = (item.window[1] - item.window[0]).total_seconds() / 86_400
    return min(candidates, key=lambda u: abs(u.window.total_seconds() / 86_400 - days)).name


def _same_kinds(use: MetricUse, item: Reported) -> bool:
    kinds = item.knobs.get("dispute_kinds")
    return kinds is None or use.knobs.dispute_kinds == frozenset(kinds)


def _checked(item: Reported) -> tuple[float | int | None, int | None, int | None, str | None]:
    """The value written to the facts, its counts, and a warning when they disagree."""
    kind = CATALOG[item.metric].kind
    if kind is not MetricKind.RATE:
        if item.value is None:
            return None, None, None, None
        whole = item.value == item.value.to_integral_value()
        if kind is MetricKind.COUNT and not (whole and item.value >= 0):
            raise ReportError(item.file, item.source, f"is {item.value}, not a whole number")
        return (int(item.value) if whole else float(item.value)), None, None, None
    rate = _fraction(item)
    if rate is not None and not 0 <= rate <= 1:
        raise ReportError(item.file, item.source, f"is {item.value}: not a share (0..1)")
    num, den = item.num, item.den
    if num is None or den is None:
        return (None if rate is None else float(rate)), None, None, None
    if num > den:
        shown = f"{num} of {den}"
        if rate is None:
            raise ReportError(item.file, item.source, f"counts {shown}: more than all")
        return (
            float(rate),
            None,
            None,
            (
                f"{item.seller_id}: {item.metric} counts {shown} are more than all; the rate "
                f"{item.value} is kept without them"
            ),
        )
    exact = num / den if den else None
    if rate is None or _agrees(item, rate, num, den):
        return exact, num, den, None
    found = "none" if exact is None else f"{exact:.6g}"
    return (
        float(rate),
        None,
        None,
        (
            f"{item.seller_id}: {item.metric} {item.value} is not {num} of {den} ({found}) "
            "to its digits; the rate is kept without its counts"
        ),
    )


def _fraction(item: Reported) -> Decimal | None:
    if item.value is None:
        return None
    return item.value / 100 if item.scale is RateScale.PERCENT else item.value


def _agrees(item: Reported, rate: Decimal, num: int, den: int) -> bool:
    """Whether ``rate`` is ``num / den`` rounded to the digits the report wrote."""
    assert item.value is not None
    if den == 0:
        return rate == 0
    exponent = item.value.as_tuple().exponent
    digits = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    half = Decimal(5) / Decimal(10) ** (digits + 1)
    if item.scale is RateScale.PERCENT:
        half /= 100
    return abs(Decimal(num) / Decimal(den) - rate) <= half


def _window_row(item: Reported, name: str) -> WindowRow:
    start = end = None
    days = None
    if item.window is not None:
        start, end = (t.astimezone(UTC).isoformat().replace("+00:00", "Z") for t in item.window)
        days = round((item.window[1] - item.window[0]).total_seconds() / 86_400, 4)
    return WindowRow(
        seller_id=item.seller_id,
        name=name,
        metric=item.metric,
        mapping=item.mapping,
        source=item.source,
        window_start=start,
        window_end=end,
        days=days,
        marketplace=item.marketplace,
        definition=item.definition,
    )
