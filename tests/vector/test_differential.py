"""Differential test: the bulk vectorized path decides exactly as ``evaluate`` with durable-rules.

For every shipped pack, hypothesis draws batches of 200 sellers whose facts
sit on the edges the pack cares about: exactly at each threshold and band
bound, one ulp on either side (``math.nextafter``), at ``min_orders`` and
one order either side, zero denominators with a null rate, nulls, zeros,
plus random values. Each batch also gets random escalation history and a
few exemptions (active and expired). Every decision field but
``decision_id`` must be identical.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sellerpolicy.engine.columnar.decisions import decisions_from_batch, evaluate_table
from sellerpolicy.engine.evaluation.backends.durable import DurableBackend
from sellerpolicy.engine.evaluation.evaluate import Firing, HistoryFromRecords, evaluate
from sellerpolicy.engine.evaluation.plans import leaves
from sellerpolicy.engine.metrics.compute import fact_columns
from sellerpolicy.engine.metrics.facts import Number, SellerFacts
from sellerpolicy.rules import CompiledPack, Exemption, load_pack, shipped_packs
from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import Field

PACKS = tuple(load_pack(path) for path in shipped_packs())
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
BATCH = 200
EXAMPLES = 55
COUNTED: list[int] = []
OUTCOMES: Counter[str] = Counter()


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


def _batch(pack: CompiledPack, seed: int) -> list[SellerFacts]:
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


def _history(pack: CompiledPack, facts: list[SellerFacts], seed: int) -> HistoryFromRecords:
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


def _exemptions(pack: CompiledPack, facts: list[SellerFacts]) -> list[Exemption]:
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


def _json(decisions: Any) -> list[dict[str, Any]]:
    out = []
    for decision in decisions:
        record = decision.to_json()
        del record["decision_id"]
        out.append(record)
    return out


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(pack_index=st.integers(0, len(PACKS) - 1), seed=st.integers(0, 2**31))
def bulk_path_agrees_with_durable(pack_index: int, seed: int) -> None:
    """Decisions from the bulk path equal those of evaluate() with durable-rules, field by field."""
    pack = PACKS[pack_index]
    facts = _batch(pack, seed)
    history = _history(pack, facts, seed)
    exemptions = _exemptions(pack, facts)
    expected = evaluate(
        pack, facts, backend=DurableBackend(), history=history, exemptions=exemptions
    )
    table = pa.Table.from_pylist([{"seller_id": f.seller_id, **f.values} for f in facts])
    got = decisions_from_batch(
        evaluate_table(pack, table, AS_OF, history=history, exemptions=exemptions), pack
    )
    assert _json(got) == _json(expected)
    OUTCOMES.update(r["outcome"] for d in _json(got) for r in d["rules"])
    OUTCOMES.update(d["status"] for d in _json(got))
    COUNTED.append(len(facts))


def test_bulk_path_agrees_with_durable_on_ten_thousand_sellers() -> None:
    """The bulk path and evaluate() with durable-rules agree on >= 10,000 generated sellers.

    Hypothesis draws the batches (``bulk_path_agrees_with_durable``); every
    drawn batch of 200 sellers is counted once it agreed.
    """
    COUNTED.clear()
    bulk_path_agrees_with_durable()
    total = sum(COUNTED)
    print(f"differential: {total} generated sellers compared over {len(PACKS)} packs")
    print(f"differential: outcomes and statuses seen {dict(OUTCOMES)}")
    assert total >= 10_000
    assert min(OUTCOMES[k] for k in ("matched", "not_matched", "not_assessed", "at_risk")) > 100
