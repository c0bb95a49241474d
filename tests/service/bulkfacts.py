"""Consistent metric facts for every shipped pack, on the edges its rules and scores compare.

:func:`sellers` draws request sellers whose facts pass the service's checks
(counts whole, each rate exactly ``__num / __den``, null with a zero
denominator) and sit at, and one count either side of, each threshold,
``min_orders`` and band bound the pack has, plus nulls, zeros and random
values: the population the bulk answer is compared on.
"""

from __future__ import annotations

import random

from sellerpolicy.engine.evaluation.plans import leaves
from sellerpolicy.engine.metrics.compute import fact_columns
from sellerpolicy.rules import CompiledPack, load_pack, shipped_packs
from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import Field

PACKS = tuple(load_pack(path) for path in shipped_packs())


def _edges(pack: CompiledPack) -> tuple[dict[str, list[float]], list[int]]:
    """Per metric, the values its rules and bands compare with; and the order volumes."""
    edges: dict[str, list[float]] = {}
    volumes: list[int] = []
    for rule in pack.rules:
        for leaf in leaves(rule.when):
            if leaf.field is Field.VALUE:
                edges.setdefault(leaf.metric, []).append(leaf.threshold)
            else:
                volumes.append(int(leaf.threshold))
        if rule.min_orders is not None:
            volumes.append(int(rule.min_orders))
    for score in pack.scores:
        if score.average is not None:  # graded on the mean: the grades' edges
            for grade in score.grades:
                for bound in (grade.min, grade.max):
                    if bound is not None:
                        edges.setdefault(score.average, []).append(bound)
        if score.min_orders is not None:
            volumes.append(int(score.min_orders))
        for dim in score.dimensions:
            for band in dim.bands:
                for bound in (band.lower, band.upper):
                    if bound is not None:
                        edges.setdefault(dim.metric, []).append(bound)
    return edges, volumes


def _count(rng: random.Random, volumes: list[int]) -> int | None:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.1:
        return 0
    if roll < 0.6 and volumes:
        return max(0, rng.choice(volumes) + rng.choice((-1, 0, 1)))
    return rng.randint(1, 5000)


def seller_facts(pack: CompiledPack, rng: random.Random) -> dict[str, int | float | None]:
    """One seller's facts for ``pack``, every fact column present, in the metrics' order."""
    edges, volumes = _edges(pack)
    names = [c for c in fact_columns(pack.metrics) if c not in ("seller_id", "as_of")]
    facts: dict[str, int | float | None] = dict.fromkeys(names)
    for use in pack.metrics:
        kind = use.kind
        name = use.name
        if kind is MetricKind.COUNT:
            facts[name] = _count(rng, volumes)
        elif kind is MetricKind.RATE:
            den = _count(rng, volumes)
            if den is None:
                facts[name] = None
                for suffix in ("__num", "__den"):
                    if name + suffix in facts:
                        facts[name + suffix] = None
                continue
            targets = edges.get(name, []) or [rng.random()]
            share = rng.choice([*targets, rng.random(), 0.0, 1.0])
            num = min(den, max(0, round(share * den) + rng.choice((-1, 0, 1))))
            facts[name] = None if den == 0 else num / den
            if name + "__num" in facts:
                facts[name + "__num"], facts[name + "__den"] = num, den
        elif kind is MetricKind.AVERAGE:
            targets = edges.get(name, []) or [3.0]
            value = rng.choice([*targets, rng.uniform(1.0, 5.0)])
            facts[name] = None if rng.random() < 0.05 else min(5.0, max(1.0, value))
        elif kind is MetricKind.SCORE:  # a mean of daily scores: the days, and their sum
            days = rng.choice([0, 1, 5, 30, 31])
            mean = rng.choice([*edges.get(name, []), rng.uniform(0, 100)])
            num = max(0.0, round(mean * days, 2) + rng.choice((-0.25, 0.0, 0.25))) if days else 0.0
            facts[name] = num / days if days else None
            facts[name + "__num"], facts[name + "__den"] = num, days
        else:
            facts[name] = None if rng.random() < 0.05 else round(rng.uniform(0, 1e6), 2)
    return facts


def sellers(pack: CompiledPack, count: int, seed: int, prefix: str) -> list[dict[str, object]]:
    """``count`` request sellers for ``pack`` (seeded), ids ``<prefix>-<n>``."""
    rng = random.Random(seed)
    return [
        {"seller_id": f"{prefix}-{i:04d}", "facts": seller_facts(pack, rng)} for i in range(count)
    ]
