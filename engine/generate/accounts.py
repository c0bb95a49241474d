"""The optional inputs of the synthetic marketplace: tracking uploads, returns, sellers.

Owns :func:`draw_optional`: the ``tracking_uploaded_at`` column of ``orders``
(most tracking is uploaded with the shipment confirmation, some hours or days
later, more so by poor-tracking sellers), the ``returns`` table (delivered
orders returned weeks later, for a reason) and the ``sellers`` table (one
account per seller: long-standing sellers opened months or years before the
period, new ones days before their first order). They are drawn from their own
random stream, so the other tables of a seed are what they were before these
inputs existed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sellerpolicy.engine.generate.files import NULL_TS, US_DAY
from sellerpolicy.engine.generate.world import ARCHETYPES, World, arch_param, choice, uniform_us

__all__ = ["draw_optional"]


def _tracking_uploaded(
    rng: np.random.Generator, w: World, o: Mapping[str, np.ndarray]
) -> np.ndarray:
    n = len(o["order_id"])
    shipped = o["shipped_at"] != NULL_TS
    tracked = shipped & (o["tracking_valid"] >= 0)
    slow = rng.random(n) < 2 * arch_param(w, o["seller_id"], "untracked")
    delay = np.where(rng.random(n) < 0.7, 0, uniform_us(rng, n, 0.5, 30))
    delay = np.where(slow, uniform_us(rng, n, 24, 96), delay)
    uploaded = np.where(tracked, o["shipped_at"] + delay, NULL_TS)
    return np.where(uploaded < w.end, uploaded, NULL_TS)


def _returns(
    rng: np.random.Generator, w: World, o: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    delivered = o["delivered_at"] != NULL_TS
    p = 0.02 + arch_param(w, o["seller_id"], "refund")
    idx = np.flatnonzero((rng.random(len(delivered)) < p) & delivered)
    when = o["delivered_at"][idx] + uniform_us(rng, len(idx), 1, 30 * 24)
    idx, when = idx[when < w.end], when[when < w.end]
    reason = choice(rng, len(idx), (0.25, 0.15, 0.1, 0.05, 0.35, 0.1))
    order = np.argsort(when, kind="stable")
    idx, when, reason = idx[order], when[order], reason[order]
    return {
        "return_id": np.arange(len(idx), dtype=np.int64),
        "order_id": idx,
        "seller_id": o["seller_id"][idx],
        "requested_at": when,
        "reason": reason,
    }


def _sellers(
    rng: np.random.Generator, w: World, o: Mapping[str, np.ndarray], start: int
) -> dict[str, np.ndarray]:
    n = len(w.seller_arch)
    first = np.full(n, w.end, dtype=np.int64)
    np.minimum.at(first, o["seller_id"], o["ordered_at"])
    is_new = np.array([a.new for a in ARCHETYPES])[w.seller_arch]
    opened = np.where(
        is_new,
        first - uniform_us(rng, n, 24, 20 * 24),
        start - uniform_us(rng, n, 30 * 24, 6 * 365 * 24),
    )
    return {
        "seller_id": np.arange(n, dtype=np.int64),
        "account_opened_at": np.minimum(opened, w.end - US_DAY),
        "marketplace": w.seller_currency.astype(np.int8),
        "country": w.seller_currency.astype(np.int8),
    }


def draw_optional(
    rng: np.random.Generator, w: World, o: Mapping[str, np.ndarray], start: int
) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    """``orders.tracking_uploaded_at``, and the ``returns`` and ``sellers`` tables.

    ``start`` is the beginning of the simulated period (epoch microseconds).
    """
    uploaded = _tracking_uploaded(rng, w, o)
    return uploaded, {"returns": _returns(rng, w, o), "sellers": _sellers(rng, w, o, start)}
