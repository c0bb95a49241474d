"""The synthetic marketplace written as Amazon's reports, one folder per account.

:func:`generate_amazon_reports` draws the same sellers, orders and events as
:func:`~sellerpolicy.engine.generate.marketplace.generate` with the same seed,
and writes each account's All Orders report (``<seller>/orders.txt``, one line
per order item), Flat File Feedback Report (``<seller>/feedback.txt``) and
Flat File Returns Report (``<seller>/returns.txt``) in the shapes of their
mappings (``engine.formats``): their documented columns, status vocabulary,
reason codes and file names. Orders have one to three item lines whose prices
sum to the order's amount; the feedback report lists each order's feedback as
it stands at ``as_of`` (revised once, gone once a removal is 48 hours old) when
it has one to three stars, as Amazon's report does; the returns report lists
the returns ``generate`` draws (one or two item lines each, the day of the
request, a reason code the mapping maps to the return's reason).

So ``sellerpolicy import amazon-reports --accounts`` of these folders gives,
on every metric the reports carry, the metrics of the contract tables
``generate`` writes with the same seed (``tests/importers`` checks it).

With ``broken_share`` above 0, deliberately broken lines are appended to some
accounts' files; :attr:`ReportsSummary.injected` lists each with the reject
code the importer must give it.
"""

# SQL here is built from this module's own expressions and the mapping's column
# names, never from generated values: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sellerpolicy.engine.formats.flat import FlatFileMapping, StatusRole
from sellerpolicy.engine.formats.registry import flat_mapping
from sellerpolicy.engine.generate.accounts import draw_optional
from sellerpolicy.engine.generate.events import draw_events
from sellerpolicy.engine.generate.files import CURRENCIES, NULL_TS, US_DAY, US_HOUR
from sellerpolicy.engine.generate.world import draw_orders
from sellerpolicy.rules.catalog import RETURN_REASONS

__all__ = ["InjectedLine", "ReportsSummary", "generate_amazon_reports", "seller_name"]

_STATUS = {"cancelled": "Canceled", "shipped": "Shipped", "open": "Unshipped"}
_REMOVAL_DELAY = 48 * US_HOUR
_BREAKS = (
    ("orders", "bad_timestamp"),
    ("orders", "unknown_value"),
    ("orders", "field_count"),
    ("feedback", "unknown_order"),
    ("returns", "unknown_order"),
)


@dataclass(frozen=True, slots=True)
class InjectedLine:
    """A deliberately broken report line: its file, 1-based line and expected code."""

    file: Path
    line: int
    code: str


@dataclass(frozen=True, slots=True)
class ReportsSummary:
    """What :func:`generate_amazon_reports` wrote."""

    out: Path
    seed: int
    accounts: int
    lines: Mapping[str, int]  # report lines written per report (headers excluded)
    injected: tuple[InjectedLine, ...]
    seconds: float


def seller_name(number: int) -> str:
    """The seller id of seller ``number``, as ``generate`` writes it (``S000042``)."""
    return f"S{number:06d}"


def generate_amazon_reports(
    *,
    sellers: int,
    days: int,
    seed: int,
    as_of: date,
    out: Path,
    orders_per_seller_day: float = 1.0,
    broken_share: float = 0.0,
    on_report: Callable[[str, int], None] | None = None,
) -> ReportsSummary:
    """Simulate the marketplace (as ``generate`` does) and write its accounts' reports.

    ``on_report(report, lines)`` is called after each report kind is written.
    Raises ``ValueError`` for impossible arguments.
    """
    if sellers < 1 or not 1 <= days <= 30_000 or orders_per_seller_day <= 0:
        raise ValueError("need sellers >= 1, 1 <= days <= 30000, orders_per_seller_day > 0")
    if not 0 <= broken_share < 0.5:
        raise ValueError("need 0 <= broken_share < 0.5")
    started = time.perf_counter()
    orders_map = flat_mapping("amazon-all-orders")
    feedback_map = flat_mapping("amazon-seller-feedback")
    returns_map = flat_mapping("amazon-returns")
    _check_vocabulary(orders_map)
    codes = _reason_codes(returns_map)
    rng = np.random.default_rng(seed)
    end = int(datetime.combine(as_of, datetime.min.time(), UTC).timestamp()) * 1_000_000
    world, orders = draw_orders(rng, sellers, days, orders_per_seller_day, end)
    events = draw_events(rng, world, orders)
    # The returns ``generate`` draws, from the same stream of their own.
    _, optional = draw_optional(
        np.random.default_rng([seed, 17]), world, orders, end - days * US_DAY
    )
    # Draws for the report shapes only come after every draw of ``generate``.
    shapes = np.random.default_rng([seed, 1])
    out.mkdir(parents=True, exist_ok=True)
    offsets = world.seller_offset[orders["seller_id"]].astype(np.int64)
    order_lines = _order_lines(shapes, orders, offsets, orders_map)
    lines = {"orders": _write_reports(out, order_lines, orders_map, every=sellers)}
    if on_report is not None:
        on_report("orders", lines["orders"])
    feedback_lines = _feedback_lines(events["feedback"], end, feedback_map)
    lines["feedback"] = _write_reports(out, feedback_lines, feedback_map, every=sellers)
    if on_report is not None:
        on_report("feedback", lines["feedback"])
    return_lines = _return_lines(
        np.random.default_rng([seed, 2]), optional["returns"], orders, codes, returns_map
    )
    lines["returns"] = _write_reports(out, return_lines, returns_map, every=sellers)
    if on_report is not None:
        on_report("returns", lines["returns"])
    maps = {"orders": orders_map, "feedback": feedback_map, "returns": returns_map}
    injected = _inject(shapes, out, sellers, broken_share, lines, maps)
    return ReportsSummary(
        out=out,
        seed=seed,
        accounts=sellers,
        lines=MappingProxyType(lines),
        injected=injected,
        seconds=time.perf_counter() - started,
    )


def _check_vocabulary(mapping: FlatFileMapping) -> None:
    """The statuses written are in the mapping, with the roles the generator means."""
    assert mapping.status is not None
    roles = mapping.status.values
    wanted = {
        "Canceled": StatusRole.CANCELLED,
        "Shipped": StatusRole.SALE,
        "Unshipped": StatusRole.SALE,
    }
    for value, role in wanted.items():
        if roles.get(value) is not role:
            raise ValueError(f"mapping {mapping.info.id}: status {value!r} is not a {role}")


def _reason_codes(mapping: FlatFileMapping) -> tuple[str, ...]:
    """For each contract reason (in ``RETURN_REASONS`` order), the first code of the
    mapping that maps to it."""
    field = mapping.field("reason")
    codes = field.codes if field is not None else {}
    found: dict[str, str] = {}
    for code, reason in codes.items():
        found.setdefault(reason, code)
    missing = [r for r in RETURN_REASONS if r not in found]
    if missing:
        raise ValueError(f"mapping {mapping.info.id}: no reason code for {', '.join(missing)}")
    return tuple(found[r] for r in RETURN_REASONS)


def _return_lines(
    rng: np.random.Generator,
    returns: Mapping[str, np.ndarray],
    orders: Mapping[str, np.ndarray],
    codes: tuple[str, ...],
    mapping: FlatFileMapping,
) -> pa.Table:
    """One or two item lines per return: its Amazon RMA ID, its order, the UTC days of
    the order and of the request, and a code of its reason."""
    n = len(returns["return_id"])
    items = 1 + (rng.random(n) < 0.2).astype(np.int64)
    at = np.repeat(np.arange(n), items)
    order = returns["order_id"][at]
    table = pa.table(
        {
            "__seller": pa.array(returns["seller_id"][at]),
            "__order": pa.array(at),
            "Order ID": pa.array([f"O{i:06d}" for i in order]),
            "Order date": pa.array(
                (orders["ordered_at"][order] // US_DAY).astype("datetime64[D]").astype(str)
            ),
            "Return request date": pa.array(
                (returns["requested_at"][at] // US_DAY).astype("datetime64[D]").astype(str)
            ),
            "Amazon RMA ID": pa.array([f"R{i:06d}" for i in returns["return_id"][at]]),
            "Return Reason": pa.array(np.array(codes)[returns["reason"][at]]),
            "Return quantity": pa.array(np.full(len(at), "1")),
            "Item Name": pa.array(np.full(len(at), "Generated item")),
        }
    )
    return _render(table, mapping)


def _order_lines(
    rng: np.random.Generator,
    orders: Mapping[str, np.ndarray],
    offsets: npt.NDArray[np.int64],
    mapping: FlatFileMapping,
) -> pa.Table:
    """One row per item line: ``__seller``, ``__order`` (for the order), then the
    report's columns as text."""
    n = len(orders["order_id"])
    items = 1 + (rng.random(n) < 0.25).astype(np.int64) + (rng.random(n) < 0.08)
    order = np.repeat(np.arange(n), items)
    first = np.concatenate([[0], np.cumsum(items)[:-1]])
    item = np.arange(len(order)) - first[order]
    cents = np.round(orders["amount"] * 100)
    known = ~np.isnan(cents)
    whole = np.where(known, cents, 0).astype(np.int64)
    share = rng.random(len(order))
    # Each order's cents split over its items: the last item takes the remainder.
    part = np.floor(whole[order] * share / items[order]).astype(np.int64)
    last = item == items[order] - 1
    spent = np.bincount(order, weights=np.where(last, 0, part), minlength=n).astype(np.int64)
    part = np.where(last, whole[order] - spent[order], part)
    cancelled = orders["cancelled_at"][order] != NULL_TS
    shipped = orders["shipped_at"][order] != NULL_TS
    status = np.where(
        cancelled, _STATUS["cancelled"], np.where(shipped, _STATUS["shipped"], _STATUS["open"])
    )
    currency = orders["currency"][order]
    local = orders["ordered_at"][order] + offsets[order] * 60_000_000
    values: dict[str, pa.Array] = {
        "__seller": pa.array(orders["seller_id"][order]),
        "__order": pa.array(order),
        "amazon-order-id": pa.array([f"O{i:06d}" for i in orders["order_id"][order]]),
        "__local": pa.array(local, pa.timestamp("us")),
        "__offset": pa.array(offsets[order]),
        "order-status": pa.array(status),
        "currency": pa.array(np.array(CURRENCIES)[np.maximum(currency, 0)], mask=currency < 0),
        "item-price": pa.array(part / 100.0, mask=~known[order]),
        "sku": pa.array([f"SKU-{k}" for k in rng.integers(1, 5000, len(order))]),
    }
    return _render(pa.table(values), mapping)


def _render(table: pa.Table, mapping: FlatFileMapping) -> pa.Table:
    """``__seller`` and one ``__line`` of text per row (in ``__seller``, ``__order``
    order), the report's columns in the mapping's order."""
    con = duckdb.connect()
    try:
        con.register("__rows", table)
        given = set(table.column_names)
        exprs = []
        for column in mapping.columns:
            if column in {"purchase-date", "last-updated-date"}:
                exprs.append(
                    "strftime(__local, '%Y-%m-%dT%H:%M:%S') || CASE WHEN __offset = 0 THEN "
                    "'+00:00' ELSE (CASE WHEN __offset > 0 THEN '+' ELSE '-' END) || "
                    "lpad(CAST(abs(__offset) // 60 AS VARCHAR), 2, '0') || ':' || "
                    "lpad(CAST(abs(__offset) % 60 AS VARCHAR), 2, '0') END"
                )
            elif column == "item-price":
                exprs.append("printf('%.2f', \"item-price\")")
            elif column in given:
                exprs.append(f'CAST("{column}" AS VARCHAR)')
            else:
                exprs.append(_FILLER.get(column, "''"))
        line = " || chr(9) || ".join(f"coalesce({e}, '')" for e in exprs)
        select = f"SELECT __seller, {line} AS __line FROM __rows ORDER BY __seller, __order"
        return con.sql(select).to_arrow_table()
    finally:
        con.close()


_FILLER: Mapping[str, str] = MappingProxyType(
    {
        "fulfillment-channel": "'MFN'",
        "sales-channel": "'Amazon.com'",
        "ship-service-level": "'Standard'",
        "product-name": "'Generated item ' || sku",
        "item-status": '"order-status"',
        "quantity": "'1'",
        "item-tax": "'0.00'",
        "shipping-price": "'0.00'",
        "shipping-tax": "'0.00'",
        "ship-country": "'US'",
        "is-business-order": "'false'",
    }
)


def _feedback_lines(
    feedback: Mapping[str, np.ndarray], end: int, mapping: FlatFileMapping
) -> pa.Table:
    """Each order's feedback as it stands at ``end``, when it has one to three stars."""
    event, order = feedback["event"], feedback["order_id"]
    left = event == 0
    rating = np.full(order.max() + 1 if len(order) else 0, -1, dtype=np.int64)
    rating[order[left]] = feedback["rating"][left]
    left_at = np.zeros(len(rating), dtype=np.int64)
    left_at[order[left]] = feedback["at"][left]
    updated = event == 1  # generated revisions are single and within 60 days
    rating[order[updated]] = feedback["rating"][updated]
    removed = (event == 2) & (end - feedback["at"] >= _REMOVAL_DELAY)
    rating[order[removed]] = -1
    seller = np.full(len(rating), -1, dtype=np.int64)
    seller[order] = feedback["seller_id"]
    shown = np.flatnonzero((rating >= 1) & (rating <= 3))
    days = left_at[shown] // US_DAY
    table = pa.table(
        {
            "__seller": pa.array(seller[shown]),
            "__order": pa.array(shown),
            "Date": pa.array(days.astype("datetime64[D]").astype(str)),
            "Rating": pa.array(rating[shown].astype(str)),
            "Comments": pa.array(np.full(len(shown), "Generated comment")),
            "Order ID": pa.array([f"O{i:06d}" for i in shown]),
        }
    )
    return _render(table, mapping)


def _write_reports(
    out: Path, lines: pa.Table, mapping: FlatFileMapping, *, every: int | None = None
) -> int:
    """Write each account's lines under its folder; ``every``: also accounts without
    lines (an empty report). Returns the lines written."""
    header = "\t".join(mapping.columns) + "\n"
    sellers = lines.column("__seller").to_numpy()
    text = lines.column("__line").to_pylist()
    bounds = np.flatnonzero(np.diff(sellers)) + 1
    starts = np.concatenate([[0], bounds]) if len(sellers) else np.array([], dtype=np.int64)
    stops = np.concatenate([bounds, [len(sellers)]]) if len(sellers) else starts
    written = set()
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        seller = int(sellers[a])
        _report_path(out, seller, mapping).write_text(
            header + "\n".join(text[a:b]) + "\n", encoding="utf-8"
        )
        written.add(seller)
    for seller in range(every or 0):
        if seller not in written:
            _report_path(out, seller, mapping).write_text(header, encoding="utf-8")
    return len(text)


def _report_path(out: Path, seller: int, mapping: FlatFileMapping) -> Path:
    folder = out / seller_name(seller)
    folder.mkdir(exist_ok=True)
    return folder / mapping.file_names[0]


def _inject(  # noqa: PLR0917 - the draws, the files and what they hold
    rng: np.random.Generator,
    out: Path,
    sellers: int,
    share: float,
    lines: Mapping[str, int],
    maps: Mapping[str, FlatFileMapping],
) -> tuple[InjectedLine, ...]:
    """Append deliberately broken lines to some accounts' reports."""
    if share <= 0:
        return ()
    per_kind = max(1, round(share * lines["orders"] / len(_BREAKS)))
    width = len(maps["orders"].columns)
    injected = []
    for k, (report, code) in enumerate(_BREAKS):
        mapping = maps[report]
        for n, seller in enumerate(rng.integers(0, sellers, per_kind).tolist()):
            path = _report_path(out, seller, mapping)
            fields = [""] * len(mapping.columns)
            ident = f"B{k}{n:06d}"
            if report == "orders":
                fields[mapping.columns.index("amazon-order-id")] = ident
                fields[mapping.columns.index("purchase-date")] = "2026-01-01T00:00:00+00:00"
                fields[mapping.columns.index("order-status")] = "Shipped"
                if code == "bad_timestamp":
                    fields[mapping.columns.index("purchase-date")] = "not-a-date"
                elif code == "unknown_value":
                    fields[mapping.columns.index("order-status")] = "Lost"
                else:
                    fields = fields[: width // 2]
            elif report == "feedback":
                fields[mapping.columns.index("Date")] = "2026-01-01"
                fields[mapping.columns.index("Rating")] = "1"
                fields[mapping.columns.index("Order ID")] = ident
            else:
                fields[mapping.columns.index("Amazon RMA ID")] = f"RB{k}{n:06d}"
                fields[mapping.columns.index("Return request date")] = "2026-01-01"
                fields[mapping.columns.index("Return Reason")] = "DEFECTIVE"
                fields[mapping.columns.index("Order ID")] = ident
            with path.open("a", encoding="utf-8") as fh:
                fh.write("\t".join(fields) + "\n")
            with path.open("rb") as fh:
                line = sum(1 for _ in fh)
            injected.append(InjectedLine(path, line, code))
    return tuple(injected)
