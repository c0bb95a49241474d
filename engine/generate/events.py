"""The event tables of the synthetic marketplace, drawn from its orders.

Owns :func:`draw_events`: ``feedback`` (left weeks after the order, some
updated or removed), ``claims``, ``chargebacks``, ``messages`` (linked to an
order or not, answered after the seller's archetype's delay), ``disputes`` and
the detailed ``ratings``, each with the probabilities of its seller's
archetype, sorted by time and keeping only the events before ``as_of``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sellerpolicy.engine.generate.files import NULL_TS
from sellerpolicy.engine.generate.world import (
    ARCHETYPES,
    F64,
    I64,
    Mask,
    World,
    arch_param,
    choice,
    ts_or_null,
    uniform_us,
)

__all__ = ["draw_events"]


def _pick(rng: np.random.Generator, n: int, p: F64 | float, keep: Mask | None = None) -> I64:
    chosen = rng.random(n) < p
    if keep is not None:
        chosen &= keep
    return np.flatnonzero(chosen)


def _by_time(cols: dict[str, np.ndarray], key: str) -> dict[str, np.ndarray]:
    order = np.argsort(cols[key], kind="stable")
    return {name: col[order] for name, col in cols.items()}


def _feedback(
    rng: np.random.Generator, w: World, o: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    n = len(o["order_id"])
    idx = _pick(rng, n, 0.12, o["cancelled_by"] < 0)
    left_at = o["ordered_at"][idx] + uniform_us(rng, len(idx), 3 * 24, 40 * 24)
    idx, left_at = idx[left_at < w.end], left_at[left_at < w.end]
    negative = rng.random(len(idx)) < arch_param(w, o["seller_id"][idx], "negative")
    rating = np.where(
        negative, rng.integers(1, 3, len(idx)), 3 + choice(rng, len(idx), (0.1, 0.25, 0.65))
    )
    upd = rng.random(len(idx)) < 0.08
    upd_at = left_at + uniform_us(rng, len(idx), 1, 45 * 24)
    upd &= upd_at < w.end
    rem = rng.random(len(idx)) < 0.03
    rem_at = left_at + uniform_us(rng, len(idx), 1, 30 * 24)
    rem &= rem_at < w.end
    parts = (
        (idx, 0, rating, left_at, -1),
        (idx[upd], 1, np.clip(rating[upd] + rng.integers(-1, 3, upd.sum()), 1, 5), upd_at[upd], -1),
        (
            idx[rem],
            2,
            np.full(rem.sum(), -1),
            rem_at[rem],
            choice(rng, int(rem.sum()), (0.6, 0.4)),
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
    w: World,
    o: Mapping[str, np.ndarray],
    p: F64 | float,
    *,
    delay_h: tuple[float, float],
    at: str,
) -> dict[str, np.ndarray]:
    """Events of chosen orders at ``ordered_at + delay`` (only those before ``as_of``)."""
    idx = _pick(rng, len(o["order_id"]), p)
    when = o["ordered_at"][idx] + uniform_us(rng, len(idx), *delay_h)
    idx, when = idx[when < w.end], when[when < w.end]
    return {"order_id": idx, "seller_id": o["seller_id"][idx], at: when}


def _messages(
    rng: np.random.Generator, w: World, o: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    linked = _simple_events(rng, w, o, 0.08, delay_h=(1, 10 * 24), at="received_at")
    free = rng.integers(0, len(o["order_id"]), len(o["order_id"]) // 30)
    received = np.concatenate(
        [linked["received_at"], o["ordered_at"][free] + uniform_us(rng, len(free), 0, 5 * 24)]
    )
    seller = np.concatenate([linked["seller_id"], o["seller_id"][free]])
    order = np.concatenate([linked["order_id"], np.full(len(free), -1, dtype=np.int64)])
    keep = received < w.end
    received, seller, order = received[keep], seller[keep], order[keep]
    median_h = arch_param(w, seller, "slow_reply")
    delay = (rng.lognormal(np.log(median_h), 0.9) * 3600).astype(np.int64) * 1_000_000
    responded = received + delay
    answered = (rng.random(len(received)) > 0.02) & (responded < w.end)
    cols = {
        "seller_id": seller,
        "order_id": order,
        "received_at": received,
        "responded_at": ts_or_null(responded, answered),
    }
    cols = _by_time(cols, "received_at")
    cols["message_id"] = np.arange(len(received), dtype=np.int64)
    return cols


def _disputes(
    rng: np.random.Generator, w: World, o: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    cols = _simple_events(
        rng,
        w,
        o,
        arch_param(w, o["seller_id"], "dispute"),
        delay_h=(5 * 24, 40 * 24),
        at="opened_at",
    )
    m = len(cols["order_id"])
    cols["kind"] = choice(rng, m, (0.5, 0.35, 0.15))
    escalated = rng.random(m) < 0.25
    closed_at = cols["opened_at"] + uniform_us(rng, m, 24, 20 * 24)
    closed = (rng.random(m) < 0.7) & (closed_at < w.end)
    cols["escalated"] = escalated.astype(np.int8)
    cols["seller_responsible"] = np.where(escalated & closed, rng.random(m) < 0.6, -1).astype(
        np.int8
    )
    cols["closed_at"] = ts_or_null(closed_at, closed)
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
    rng: np.random.Generator, w: World, o: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    delivered = o["delivered_at"] != NULL_TS
    idx = _pick(rng, len(delivered), 0.2, delivered)
    when = o["delivered_at"][idx] + uniform_us(rng, len(idx), 1, 15 * 24)
    idx, when = idx[when < w.end], when[when < w.end]
    seller = o["seller_id"][idx]
    cols: dict[str, np.ndarray] = {"order_id": idx, "seller_id": seller, "rated_at": when}
    shifts = np.array([_DSR_SHIFT.get(a.name, (0.0, 0.0, 0.0)) for a in ARCHETYPES])
    for k, col in enumerate(("item_as_described", "communication", "shipping_speed")):
        mean = 4.5 + shifts[w.seller_arch[seller], k]
        cols[col] = np.clip(np.rint(rng.normal(mean, 0.8)), 1, 5).astype(np.int8)
    return _by_time(cols, "rated_at")


def draw_events(
    rng: np.random.Generator, w: World, o: Mapping[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    claims = _simple_events(
        rng, w, o, arch_param(w, o["seller_id"], "claim"), delay_h=(3 * 24, 60 * 24), at="filed_at"
    )
    claims["status"] = choice(rng, len(claims["order_id"]), (0.15, 0.3, 0.2, 0.2, 0.15))
    claims = _by_time(claims, "filed_at")
    claims["claim_id"] = np.arange(len(claims["order_id"]), dtype=np.int64)
    cbs = _simple_events(
        rng,
        w,
        o,
        arch_param(w, o["seller_id"], "chargeback"),
        delay_h=(10 * 24, 90 * 24),
        at="filed_at",
    )
    cbs["kind"] = choice(rng, len(cbs["order_id"]), (0.6, 0.4))
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
