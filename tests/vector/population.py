"""The differential population: sellers on the edges each shipped pack cares about.

For a pack and a seed, :func:`batch` draws 200 sellers whose facts sit
exactly at each threshold and band bound, one ulp on either side
(``math.nextafter``), at ``min_orders`` and one order either side, zero
denominators with a null rate, nulls, zeros, plus random values;
:func:`history` gives them random escalation history and :func:`exemptions`
a few exemptions (active and expired). The differential test and the
byte-equality test of the record outputs share it.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from sellerpolicy.engine.evaluation.evaluate import Firing, HistoryFromRecords
from sellerpolicy.engine.evaluation.plans import leaves
from sellerpolicy.engine.metrics.compute import fact_columns
from sellerpolicy.engine.metrics.facts import Number, SellerFacts
from sellerpolicy.rules import CompiledPack, Exemption, load_pack, shipped_packs
from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import Field

PACKS = tuple(load_pack(path) for path in shipped_packs())
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
BATCH = 200


def _integer_fact(pack: CompiledPack, name: str) -> bool:
    base = name.removesuffix("__num").removesuffix("__den")
    if base != name or name == "orders":
        return True
    return pack.metric(name).kind is MetricKind.COUNT


def _edges(pack: CompiledPack) -> dict[str, list[Number]]:
    """Per fact, the values at and around every threshold the pack compares it with."""
    edges: dict[str, list[Number]] = {}

    def around(name: str, value: float) -> None:
        bucket = edges.setdefault(name, [])
        if _integer_fact(pack, name):
            bucket += [int(value) - 1, int(value), int(value) + 1]
        else:
            bucket += [value, math.nextafter(value, math.inf), math.nextafter(value, -math.inf)]

    for rule in pack.rules:
        for leaf in leaves(rule.when):
            name = leaf.metric if leaf.field is Field.VALUE else f"{leaf.metric}__num"
            around(name, leaf.threshold)
        if rule.min_orders is not None:
            for leaf in leaves(rule.when):
                use = pack.metric(leaf.metric)
                volume = f"{use.name}__den" if use.kind is not MetricKind.COUNT else "orders"
                around(volume, rule.min_orders)
    for score in pack.scores:
        if score.min_orders is not None:
            around("orders", score.min_orders)
        for dim in score.dimensions:
            for band in dim.bands:
                for bound in (band.lower, band.upper):
                    if bound is not None:
                        around(dim.metric, bound)
    return edges


def _value(rng: random.Random, integer: bool, edges: list[Number]) -> Number | None:
    roll = rng.random()
    if roll < 0.08:
        return None
    if roll < 0.14:
        return 0
    if roll < 0.7 and edges:
        return rng.choice(edges)
    if integer:
        return rng.choice([rng.randint(0, 10), rng.randint(0, 5000)])
    return rng.choice([rng.random(), rng.uniform(0, 0.1), rng.uniform(3.0, 5.0)])


def batch(pack: CompiledPack, seed: int) -> list[SellerFacts]:
    """200 sellers' facts on the pack's edges (seeded)."""
    rng = random.Random(seed)
    names = [c for c in fact_columns(pack.metrics) if c not in ("seller_id", "as_of")]
    edges = _edges(pack)
    sellers = []
    for i in range(BATCH):
        values: dict[str, Number | None] = {}
        for name in names:
            integer = _integer_fact(pack, name)
            value = _value(rng, integer, edges.get(name, []))
            values[name] = None if value is None else int(value) if integer else float(value)
        for use in pack.metrics:
            if use.kind is MetricKind.RATE and values.get(f"{use.name}__den") == 0:
                values[use.name] = None  # a zero denominator means a null rate
        sellers.append(SellerFacts(f"S{seed % 1000:03d}-{i:03d}", AS_OF, values))
    return sellers


def history(pack: CompiledPack, facts: list[SellerFacts], seed: int) -> HistoryFromRecords:
    """Random earlier firings of the pack's laddered rules for these sellers (seeded)."""
    rng = random.Random(seed + 1)
    ladders = [r.id for r in pack.rules if r.escalation is not None]
    records = [
        Firing(f.seller_id, rule, (AS_OF - timedelta(days=days)).date())
        for f in facts
        for rule in ladders
        if rng.random() < 0.3
        for days in rng.sample([1, 30, 60, 179, 180, 181, 400], rng.randint(1, 4))
    ]
    return HistoryFromRecords(records, pack)


def exemptions(pack: CompiledPack, facts: list[SellerFacts]) -> list[Exemption]:
    """A few exemptions of these sellers, active and expired."""
    owners = [r.id for r in pack.rules] + [s.id for s in pack.scores]
    return [
        Exemption(
            id=f"exm-{i}",
            pack=pack.id,
            seller_id=facts[i * 7].seller_id,
            rules=tuple(owners[i % len(owners) :: 2]),
            reason="differential test",
            approver="qa@example.com",
            expires=date(2026, 11, 1) if i % 2 else date(2026, 10, 31),
        )
        for i in range(min(6, len(facts) // 7))
    ]


def table(facts: list[SellerFacts]) -> pa.Table:
    """The facts as the bulk path takes them: ``seller_id`` and one column per fact."""
    return pa.Table.from_pylist([{"seller_id": f.seller_id, **f.values} for f in facts])
