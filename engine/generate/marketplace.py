"""A believable synthetic marketplace: every input table of the data contract.

:func:`generate` simulates ``sellers`` accounts over ``days`` days before
``as_of`` and writes ``orders``, ``feedback``, ``claims``, ``chargebacks``,
``messages``, ``disputes`` and ``ratings`` (Parquet, CSV or JSONL) to a folder
that ``engine.sources.load_source`` reads. Everything is vectorized with NumPy
and written by DuckDB, so 10 M orders take seconds, and the same seed gives the
same files.

The model: each seller has an archetype (healthy, late shipper, high defects,
canceller, poor tracking, slow responder, dispute-prone, tiny/new) that sets
its probabilities; order volumes are heavy-tailed (log-normal), with weekly
seasonality and a rising trend; new sellers start late in the period. Events
follow their order (feedback weeks later, some updated or removed; claims,
chargebacks, messages, disputes, detailed ratings) and only those that happened
before ``as_of`` are written. Text formats write some sellers' timestamps with
UTC offsets and some deadlines date-only.

A share of deliberately broken rows (``broken_share``, default 0.1 %) is
inserted at random places; :attr:`GenerateSummary.injected` lists each with the
reject code the loader must give it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from sellerpolicy.engine.generate.files import (
    NULL_TS,
    US_DAY,
    inject_broken,
    write_table,
)
from sellerpolicy.engine.sources.tables import Format

__all__ = ["ARCHETYPES", "Archetype", "GenerateSummary", "InjectedRow", "generate"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

OFFSETS_MIN = (0, 0, 0, 0, 60, 120, -300, 480)
WEEKLY = (1.0, 0.95, 0.95, 1.0, 1.1, 1.3, 1.2)  # Monday .. Sunday


@dataclass(frozen=True, slots=True)
class Archetype:
    """One kind of seller: the probabilities its orders are drawn with."""

    name: str
    weight: float  # share of sellers
    volume: float  # relative order volume
    late: float  # shipment confirmed after the deadline
    cancel: float  # seller-initiated cancel
    untracked: float  # shipment without valid tracking
    negative: float  # feedback rated 1-2
    claim: float
    chargeback: float
    refund: float
    slow_reply: float  # median response delay, hours
    dispute: float
    new: bool = False  # starts selling late in the period


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype("healthy", 0.55, 1.0, 0.01, 0.004, 0.005, 0.05, 0.002, 0.0005, 0.02, 4, 0.005),
    Archetype("late_shipper", 0.08, 1.0, 0.12, 0.01, 0.03, 0.12, 0.004, 0.001, 0.03, 6, 0.01),
    Archetype("high_defects", 0.06, 0.8, 0.03, 0.01, 0.02, 0.35, 0.03, 0.006, 0.08, 8, 0.04),
    Archetype("canceller", 0.06, 0.9, 0.02, 0.06, 0.02, 0.10, 0.004, 0.001, 0.05, 6, 0.01),
    Archetype("poor_tracking", 0.06, 1.0, 0.02, 0.01, 0.15, 0.07, 0.003, 0.001, 0.03, 5, 0.01),
    Archetype("slow_responder", 0.06, 1.0, 0.02, 0.01, 0.02, 0.08, 0.003, 0.001, 0.03, 40, 0.01),
    Archetype("dispute_prone", 0.05, 0.9, 0.03, 0.01, 0.04, 0.12, 0.01, 0.003, 0.06, 10, 0.08),
    Archetype("tiny_new", 0.08, 0.1, 0.03, 0.02, 0.03, 0.08, 0.005, 0.001, 0.03, 12, 0.02, True),
)


@dataclass(frozen=True, slots=True)
class InjectedRow:
    """A deliberately broken row: where it is and the reject code it must get."""

    table: str
    row: int  # 1-based data row in the written file
    code: str


@dataclass(frozen=True, slots=True)
class GenerateSummary:
    """What :func:`generate` wrote."""

    out: Path
    format: Format
    seed: int
    rows: Mapping[str, int]  # rows written per table, broken ones included
    injected: tuple[InjectedRow, ...]
    seconds: float

    @property
    def orders(self) -> int:
        """Order rows written."""
        return self.rows["orders"]


def _choice(rng: np.random.Generator, n: int, probs: tuple[float, ...]) -> npt.NDArray[np.int8]:
    cdf = np.cumsum(probs) / sum(probs)
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int8)


def _ts_or_null(ts: I64, keep: Mask) -> I64:
    return np.where(keep, ts, NULL_TS)


def _uniform_us(rng: np.random.Generator, n: int, lo_h: float, hi_h: float) -> I64:
    """Uniform delays in whole seconds (text formats write seconds)."""
    return rng.integers(int(lo_h * 3600), int(hi_h * 3600), n) * 1_000_000


@dataclass(frozen=True, slots=True)
class _World:
    end: int  # as_of in epoch microseconds
    seller_arch: npt.NDArray[np.int8]
    seller_currency: npt.NDArray[np.int8]
    seller_offset: npt.NDArray[np.int16]


def _arch_param(world: _World, sellers: I64, field: str) -> F64:
    values = np.array([getattr(a, field) for a in ARCHETYPES], dtype=np.float64)
    return values[world.seller_arch[sellers]]


def _orders(
    rng: np.random.Generator, n_sellers: int, days: int, rate: float, end: int
) -> tuple[_World, dict[str, np.ndarray]]:
    arch = _choice(rng, n_sellers, tuple(a.weight for a in ARCHETYPES))
    volume = np.array([a.volume for a in ARCHETYPES])[arch] * rng.lognormal(0.0, 1.1, n_sellers)
    is_new = np.array([a.new for a in ARCHETYPES])[arch]
    start_day = np.where(
        is_new, rng.integers(days // 2, max(days // 2 + 1, days - 3), n_sellers), 0
    )
    active = days - start_day
    counts = rng.poisson(rate * active * volume / volume.mean())
    seller = np.repeat(np.arange(n_sellers, dtype=np.int64), counts)
    n = len(seller)
    start_us = end - days * US_DAY
    first_weekday = datetime.fromtimestamp(start_us / 1e6, UTC).weekday()
    day_weight = (1 + 0.6 * np.arange(days) / days) * np.array(WEEKLY)[
        (first_weekday + np.arange(days)) % 7
    ]
    cdf = np.concatenate([[0.0], np.cumsum(day_weight) / day_weight.sum()])
    lo = cdf[start_day[seller]]
    day = np.clip(
        np.searchsorted(cdf, lo + rng.random(n) * (1 - lo), side="right") - 1, 0, days - 1
    )
    by_day = np.argsort(day.astype(np.int16), kind="stable")  # radix sort: ids follow days
    seller, day = seller[by_day], day[by_day]
    ordered = start_us + day * US_DAY + _uniform_us(rng, n, 0, 24)
    world = _World(
        end=end,
        seller_arch=arch,
        seller_currency=_choice(rng, n_sellers, (0.8, 0.12, 0.08)),
        seller_offset=np.array(OFFSETS_MIN, dtype=np.int16)[
            rng.integers(0, len(OFFSETS_MIN), n_sellers)
        ],
    )
    p = {f: _arch_param(world, seller, f) for f in ("late", "cancel", "untracked", "refund")}
    u = rng.random(n)
    cancel_by = np.full(n, -1, dtype=np.int8)
    cancel_by[u < p["cancel"]] = 0
    cancel_by[(u >= p["cancel"]) & (u < p["cancel"] + 0.01)] = 1
    cancel_by[(u >= p["cancel"] + 0.01) & (u < p["cancel"] + 0.013)] = 2
    cancelled_at = ordered + _uniform_us(rng, n, 0.2, 40)
    cancelled = (cancel_by >= 0) & (cancelled_at < end)
    cancel_by[~cancelled] = -1
    ship_date_only = rng.random(n) < 0.3
    ship_by = ordered + 2 * US_DAY
    ship_by = np.where(ship_date_only, (ship_by // US_DAY + 1) * US_DAY - 1, ship_by)
    late = rng.random(n) < p["late"]
    delay = np.where(late, _uniform_us(rng, n, 49, 130), _uniform_us(rng, n, 1, 44))
    shipped_at = ordered + delay
    shipped = ~cancelled & (shipped_at < end)
    tracking = np.where(rng.random(n) < p["untracked"], 0, 1).astype(np.int8)
    tracking[rng.random(n) < 0.005] = -1
    tracking[~shipped] = -1
    deliver_by = (ordered // US_DAY + rng.integers(5, 10, n) + 1) * US_DAY - 1
    delivered_at = (
        shipped_at + (rng.lognormal(np.log(2.5), 0.35, n) * 86400).astype(np.int64) * 1_000_000
    )
    delivered = shipped & (delivered_at < end)
    refunded_at = ordered + _uniform_us(rng, n, 6, 20 * 24)
    refunded = (rng.random(n) < p["refund"] + 0.5 * cancelled) & (refunded_at < end)
    amount = np.round(rng.lognormal(3.3, 0.9, n), 2)
    amount[rng.random(n) < 0.01] = np.nan
    cols: dict[str, np.ndarray] = {
        "order_id": np.arange(n, dtype=np.int64),
        "seller_id": seller,
        "ordered_at": ordered,
        "ship_by": ship_by,
        "__date_only_ship_by": ship_date_only,
        "shipped_at": _ts_or_null(shipped_at, shipped),
        "tracking_valid": tracking,
        "deliver_by": deliver_by,
        "__date_only_deliver_by": np.ones(n, dtype=np.bool_),
        "delivered_at": _ts_or_null(delivered_at, delivered),
        "cancelled_at": _ts_or_null(cancelled_at, cancelled),
        "cancelled_by": cancel_by,
        "refunded_at": _ts_or_null(refunded_at, refunded),
        "amount": amount,
        "currency": np.where(np.isnan(amount), -1, world.seller_currency[seller]).astype(np.int8),
    }
    return world, cols


def _pick(rng: np.random.Generator, n: int, p: F64 | float, keep: Mask | None = None) -> I64:
    chosen = rng.random(n) < p
    if keep is not None:
        chosen &= keep
    return np.flatnonzero(chosen)


def _by_time(cols: dict[str, np.ndarray], key: str) -> dict[str, np.ndarray]:
    order = np.argsort(cols[key], kind="stable")
    return {name: col[order] for name, col in cols.items()}


def _feedback(
    rng: np.random.Generator, w: _World, o: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    n = len(o["order_id"])
    idx = _pick(rng, n, 0.12, o["cancelled_by"] < 0)
    left_at = o["ordered_at"][idx] + _uniform_us(rng, len(idx), 3 * 24, 40 * 24)
    idx, left_at = idx[left_at < w.end], left_at[left_at < w.end]
    negative = rng.random(len(idx)) < _arch_param(w, o["seller_id"][idx], "negative")
    rating = np.where(
        negative, rng.integers(1, 3, len(idx)), 3 + _choice(rng, len(idx), (0.1, 0.25, 0.65))
    )
    upd = rng.random(len(idx)) < 0.08
    upd_at = left_at + _uniform_us(rng, len(idx), 1, 45 * 24)
    upd &= upd_at < w.end
    rem = rng.random(len(idx)) < 0.03
    rem_at = left_at + _uniform_us(rng, len(idx), 1, 30 * 24)
    rem &= rem_at < w.end
    parts = (
        (idx, 0, rating, left_at, -1),
        (idx[upd], 1, np.clip(rating[upd] + rng.integers(-1, 3, upd.sum()), 1, 5), upd_at[upd], -1),
        (
            idx[rem],
            2,
            np.full(rem.sum(), -1),
            rem_at[rem],
            _choice(rng, int(rem.sum()), (0.6, 0.4)),
        ),
    )
    cols = {
        "order_id": np.concatenate([p[0] for p in parts]),
        "event": np.concatenate([np.full(len(p[0]), p[1], dtype=np.int8) for p in parts]),
        "rating": np.concatenate([np.asarray(p[2], dtype=np.int8) for p in parts]),
        "at": np.concatenate([p[3] for p in parts]),
        "removed_by": np.concatenate(
            [np.broadcast_to(np.asarray(p[4], dtype=np.int8), len(p[0])) for p in parts]
        ),
    }
    cols["seller_id"] = o["seller_id"][cols["order_id"]]
    return _by_time(cols, "at")


def _simple_events(
    rng: np.random.Generator,
    w: _World,
    o: Mapping[str, np.ndarray],
    p: F64 | float,
    *,
    delay_h: tuple[float, float],
    at: str,
) -> dict[str, np.ndarray]:
    """Events of chosen orders at ``ordered_at + delay`` (only those before ``as_of``)."""
    idx = _pick(rng, len(o["order_id"]), p)
    when = o["ordered_at"][idx] + _uniform_us(rng, len(idx), *delay_h)
    idx, when = idx[when < w.end], when[when < w.end]
    return {"order_id": idx, "seller_id": o["seller_id"][idx], at: when}


def _messages(
    rng: np.random.Generator, w: _World, o: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    linked = _simple_events(rng, w, o, 0.08, delay_h=(1, 10 * 24), at="received_at")
    free = rng.integers(0, len(o["order_id"]), len(o["order_id"]) // 30)
    received = np.concatenate(
        [linked["received_at"], o["ordered_at"][free] + _uniform_us(rng, len(free), 0, 5 * 24)]
    )
    seller = np.concatenate([linked["seller_id"], o["seller_id"][free]])
    order = np.concatenate([linked["order_id"], np.full(len(free), -1, dtype=np.int64)])
    keep = received < w.end
    received, seller, order = received[keep], seller[keep], order[keep]
    median_h = _arch_param(w, seller, "slow_reply")
    delay = (rng.lognormal(np.log(median_h), 0.9) * 3600).astype(np.int64) * 1_000_000
    responded = received + delay
    answered = (rng.random(len(received)) > 0.02) & (responded < w.end)
    cols = {
        "seller_id": seller,
        "order_id": order,
        "received_at": received,
        "responded_at": _ts_or_null(responded, answered),
    }
    cols = _by_time(cols, "received_at")
    cols["message_id"] = np.arange(len(received), dtype=np.int64)
    return cols


def _disputes(
    rng: np.random.Generator, w: _World, o: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    cols = _simple_events(
        rng,
        w,
        o,
        _arch_param(w, o["seller_id"], "dispute"),
        delay_h=(5 * 24, 40 * 24),
        at="opened_at",
    )
    m = len(cols["order_id"])
    cols["kind"] = _choice(rng, m, (0.5, 0.35, 0.15))
    escalated = rng.random(m) < 0.25
    closed_at = cols["opened_at"] + _uniform_us(rng, m, 24, 20 * 24)
    closed = (rng.random(m) < 0.7) & (closed_at < w.end)
    cols["escalated"] = escalated.astype(np.int8)
    cols["seller_responsible"] = np.where(escalated & closed, rng.random(m) < 0.6, -1).astype(
        np.int8
    )
    cols["closed_at"] = _ts_or_null(closed_at, closed)
    cols = _by_time(cols, "opened_at")
    cols["dispute_id"] = np.arange(m, dtype=np.int64)
    return cols


_DSR_SHIFT = {  # archetype -> (item, communication, shipping) mean shifts
    "high_defects": (-1.2, -0.3, -0.2),
    "dispute_prone": (-0.8, -0.3, -0.3),
    "slow_responder": (0.0, -1.3, 0.0),
    "late_shipper": (0.0, -0.2, -1.3),
    "poor_tracking": (0.0, 0.0, -0.5),
}


def _ratings(
    rng: np.random.Generator, w: _World, o: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    delivered = o["delivered_at"] != NULL_TS
    idx = _pick(rng, len(delivered), 0.2, delivered)
    when = o["delivered_at"][idx] + _uniform_us(rng, len(idx), 1, 15 * 24)
    idx, when = idx[when < w.end], when[when < w.end]
    seller = o["seller_id"][idx]
    cols: dict[str, np.ndarray] = {"order_id": idx, "seller_id": seller, "rated_at": when}
    shifts = np.array([_DSR_SHIFT.get(a.name, (0.0, 0.0, 0.0)) for a in ARCHETYPES])
    for k, col in enumerate(("item_as_described", "communication", "shipping_speed")):
        mean = 4.5 + shifts[w.seller_arch[seller], k]
        cols[col] = np.clip(np.rint(rng.normal(mean, 0.8)), 1, 5).astype(np.int8)
    return _by_time(cols, "rated_at")


def _events(
    rng: np.random.Generator, w: _World, o: Mapping[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    claims = _simple_events(
        rng, w, o, _arch_param(w, o["seller_id"], "claim"), delay_h=(3 * 24, 60 * 24), at="filed_at"
    )
    claims["status"] = _choice(rng, len(claims["order_id"]), (0.15, 0.3, 0.2, 0.2, 0.15))
    claims = _by_time(claims, "filed_at")
    claims["claim_id"] = np.arange(len(claims["order_id"]), dtype=np.int64)
    cbs = _simple_events(
        rng,
        w,
        o,
        _arch_param(w, o["seller_id"], "chargeback"),
        delay_h=(10 * 24, 90 * 24),
        at="filed_at",
    )
    cbs["kind"] = _choice(rng, len(cbs["order_id"]), (0.6, 0.4))
    cbs = _by_time(cbs, "filed_at")
    cbs["chargeback_id"] = np.arange(len(cbs["order_id"]), dtype=np.int64)
    return {
        "feedback": _feedback(rng, w, o),
        "claims": claims,
        "chargebacks": cbs,
        "messages": _messages(rng, w, o),
        "disputes": _disputes(rng, w, o),
        "ratings": _ratings(rng, w, o),
    }


def generate(
    *,
    sellers: int,
    days: int,
    seed: int,
    as_of: date,
    out: Path,
    fmt: Format = Format.PARQUET,
    orders_per_seller_day: float = 1.0,
    broken_share: float = 0.001,
    on_table: Callable[[str, int], None] | None = None,
) -> GenerateSummary:
    """Simulate the marketplace and write one file per table into ``out``.

    ``on_table(table, rows)`` is called after each table is written (for
    progress). Raises ``ValueError`` for impossible arguments.
    """
    if (
        sellers < 1
        or not 1 <= days <= 30_000
        or orders_per_seller_day <= 0
        or not 0 <= broken_share < 0.5
    ):
        raise ValueError(
            "need sellers >= 1, 1 <= days <= 30000, orders_per_seller_day > 0,"
            " 0 <= broken_share < 0.5"
        )
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    end = int(datetime.combine(as_of, datetime.min.time(), UTC).timestamp()) * 1_000_000
    world, orders = _orders(rng, sellers, days, orders_per_seller_day, end)
    tables = {"orders": orders, **_events(rng, world, orders)}
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    injected: list[InjectedRow] = []
    for table, cols in tables.items():
        merged, broken = inject_broken(rng, table, cols, broken_share, fmt)
        write_table(table, merged, world.seller_offset, fmt, out)
        rows[table] = len(merged["seller_id"])
        injected.extend(InjectedRow(table, r + 1, code) for r, code in broken)
        if on_table is not None:
            on_table(table, rows[table])
    return GenerateSummary(
        out=out,
        format=fmt,
        seed=seed,
        rows=MappingProxyType(rows),
        injected=tuple(injected),
        seconds=time.perf_counter() - started,
    )
