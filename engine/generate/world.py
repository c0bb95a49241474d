"""The sellers of the synthetic marketplace and their orders.

Owns the seller archetypes (:class:`Archetype`, :data:`ARCHETYPES`: the
probabilities each kind of seller's orders are drawn with), the drawn sellers
(:class:`World`: archetype, currency and UTC offset of each, and ``as_of``),
the ``orders`` table (:func:`draw_orders`: heavy-tailed volumes, weekly
seasonality, a rising trend, new sellers starting late) and the drawing
helpers the event tables use too (:func:`choice`, :func:`uniform_us`,
:func:`ts_or_null`, :func:`arch_param`). Columns are NumPy arrays in the
encoding of ``engine.generate.files``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from sellerpolicy.engine.generate.files import NULL_TS, US_DAY

__all__ = [
    "ARCHETYPES",
    "F64",
    "I64",
    "Archetype",
    "Mask",
    "World",
    "arch_param",
    "choice",
    "draw_orders",
    "ts_or_null",
    "uniform_us",
]

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


def choice(rng: np.random.Generator, n: int, probs: tuple[float, ...]) -> npt.NDArray[np.int8]:
    """``n`` codes ``0 .. len(probs) - 1`` drawn with weights ``probs``."""
    cdf = np.cumsum(probs) / sum(probs)
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int8)


def ts_or_null(ts: I64, keep: Mask) -> I64:
    """``ts`` where ``keep``, else :data:`NULL_TS`."""
    return np.where(keep, ts, NULL_TS)


def uniform_us(rng: np.random.Generator, n: int, lo_h: float, hi_h: float) -> I64:
    """Uniform delays in whole seconds (text formats write seconds)."""
    return rng.integers(int(lo_h * 3600), int(hi_h * 3600), n) * 1_000_000


@dataclass(frozen=True, slots=True)
class World:
    """The drawn sellers (indexed by seller number) and the end of the period."""

    end: int  # as_of in epoch microseconds
    seller_arch: npt.NDArray[np.int8]
    seller_currency: npt.NDArray[np.int8]
    seller_offset: npt.NDArray[np.int16]


def arch_param(world: World, sellers: I64, field: str) -> F64:
    """The archetype parameter ``field`` of each of ``sellers``."""
    values = np.array([getattr(a, field) for a in ARCHETYPES], dtype=np.float64)
    return values[world.seller_arch[sellers]]


def draw_orders(
    rng: np.random.Generator, n_sellers: int, days: int, rate: float, end: int
) -> tuple[World, dict[str, np.ndarray]]:
    """Draw the sellers and their orders over ``days`` days before ``end``."""
    arch = choice(rng, n_sellers, tuple(a.weight for a in ARCHETYPES))
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
    ordered = start_us + day * US_DAY + uniform_us(rng, n, 0, 24)
    world = World(
        end=end,
        seller_arch=arch,
        seller_currency=choice(rng, n_sellers, (0.8, 0.12, 0.08)),
        seller_offset=np.array(OFFSETS_MIN, dtype=np.int16)[
            rng.integers(0, len(OFFSETS_MIN), n_sellers)
        ],
    )
    p = {f: arch_param(world, seller, f) for f in ("late", "cancel", "untracked", "refund")}
    u = rng.random(n)
    cancel_by = np.full(n, -1, dtype=np.int8)
    cancel_by[u < p["cancel"]] = 0
    cancel_by[(u >= p["cancel"]) & (u < p["cancel"] + 0.01)] = 1
    cancel_by[(u >= p["cancel"] + 0.01) & (u < p["cancel"] + 0.013)] = 2
    cancelled_at = ordered + uniform_us(rng, n, 0.2, 40)
    cancelled = (cancel_by >= 0) & (cancelled_at < end)
    cancel_by[~cancelled] = -1
    ship_date_only = rng.random(n) < 0.3
    ship_by = ordered + 2 * US_DAY
    ship_by = np.where(ship_date_only, (ship_by // US_DAY + 1) * US_DAY - 1, ship_by)
    late = rng.random(n) < p["late"]
    delay = np.where(late, uniform_us(rng, n, 49, 130), uniform_us(rng, n, 1, 44))
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
    refunded_at = ordered + uniform_us(rng, n, 6, 20 * 24)
    refunded = (rng.random(n) < p["refund"] + 0.5 * cancelled) & (refunded_at < end)
    amount = np.round(rng.lognormal(3.3, 0.9, n), 2)
    amount[rng.random(n) < 0.01] = np.nan
    cols: dict[str, np.ndarray] = {
        "order_id": np.arange(n, dtype=np.int64),
        "seller_id": seller,
        "ordered_at": ordered,
        "ship_by": ship_by,
        "__date_only_ship_by": ship_date_only,
        "shipped_at": ts_or_null(shipped_at, shipped),
        "tracking_valid": tracking,
        "deliver_by": deliver_by,
        "__date_only_deliver_by": np.ones(n, dtype=np.bool_),
        "delivered_at": ts_or_null(delivered_at, delivered),
        "cancelled_at": ts_or_null(cancelled_at, cancelled),
        "cancelled_by": cancel_by,
        "refunded_at": ts_or_null(refunded_at, refunded),
        "amount": amount,
        "currency": np.where(np.isnan(amount), -1, world.seller_currency[seller]).astype(np.int8),
    }
    return world, cols
