"""Large evaluation requests are decided on the columnar leg and rendered in bulk
(engine/service/bulk.py): the answer and what is stored are those of the per-decision path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bulkfacts import PACKS, sellers
from servicekit import Service
from sqlalchemy import select

from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.service import bulk
from sellerpolicy.engine.service import evaluate as evaluate_route
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.migrations.schema import decision_rules_table, decisions_table
from sellerpolicy.rules import CompiledPack

DATES = ("2026-10-01", "2026-11-01")  # escalation ladders see the earlier firings
PER_DECISION = 10**9  # BULK_SELLERS: no batch is that large


def _body(pack: CompiledPack, prefix: str) -> list[dict[str, Any]]:
    """200 sellers on the pack's edges, plus what splits a batch or leaves it.

    Whole shares written as JSON integers by some sellers (``0``, ``1``: as a
    JavaScript client writes ``0.0``), counts written as floats (``1200.0``) by
    others, escaped and non-ASCII seller ids, and
    a few sellers whose facts come in another order or lack one.
    """
    out = sellers(pack, 200, seed=len(prefix) + len(pack.id), prefix=prefix)
    for index, seller in enumerate(out):
        facts = seller["facts"]
        assert isinstance(facts, dict)
        if index % 3 == 0:
            for name, value in facts.items():
                if isinstance(value, float) and value.is_integer() and not name.endswith("__den"):
                    facts[name] = int(value)
        elif index % 3 == 1:
            for name, value in facts.items():
                if isinstance(value, int):
                    facts[name] = float(value)
        if index % 50 == 7:
            seller["facts"] = dict(reversed(facts.items()))
        if index % 50 == 9:
            seller["facts"] = {k: v for k, v in facts.items() if k != "orders"} or facts
    out[1]["seller_id"] = f'{prefix}-Zoë "quoted" \\ 😀'
    out[2]["seller_id"] = f"{prefix}-del\x7fete"
    return out


def _normalized(content: bytes) -> bytes:
    """The answer with its run id and decision ids replaced (they are new each time)."""
    body = json.loads(content)
    content = content.replace(body["run_id"].encode(), b"RUN")
    for decision in body["decisions"]:
        content = content.replace(decision["decision_id"].encode(), b"DECISION")
    return content


def _stored(service: Service, body: dict[str, Any]) -> list[Any]:
    """Per decision of an answer, in order: the stored row and its fired-rule rows."""
    ids = [d["decision_id"] for d in body["decisions"]]
    with service.state.store.engine.connect() as connection:
        rows = {
            r.decision_id: r
            for r in connection.execute(
                select(decisions_table).where(decisions_table.c.decision_id.in_(ids))
            )
        }
        fired: dict[str, list[Any]] = {}
        for r in connection.execute(
            select(decision_rules_table).where(decision_rules_table.c.decision_id.in_(ids))
        ):
            fired.setdefault(r.decision_id, []).append((r.rule_id, r.outcome, r.fired, r.actions))
    return [
        (
            rows[i].seller_id,
            rows[i].as_of,
            rows[i].status,
            rows[i].decision,
            rows[i].rules,
            sorted(fired.get(i, [])),
            rows[i].run_id == body["run_id"],
        )
        for i in ids
    ]


def _without_ids(stored: list[Any]) -> list[Any]:
    out = []
    for seller_id, as_of, status, decision, rules, fired, same_run in stored:
        document = json.loads(decision) if isinstance(decision, str) else dict(decision)
        document.pop("decision_id")
        out.append((seller_id, as_of, status, document, rules, fired, same_run))
    return out


#: Every pack with the full explanation, and with one of the other levels in turn (every
#: level meets several packs; the whole product would double the test's time).
_OTHER_LEVELS = [level for level in ExplainLevel if level is not ExplainLevel.FULL]
CASES = [
    pytest.param(pack, level, id=f"{pack.id}-{level.value}")
    for index, pack in enumerate(PACKS)
    for level in (ExplainLevel.FULL, _OTHER_LEVELS[index % len(_OTHER_LEVELS)])
]


@pytest.mark.parametrize(("pack", "level"), CASES)
def test_the_bulk_answer_is_the_per_decision_answer(
    service: Service,
    seller: str,
    pack: CompiledPack,
    level: ExplainLevel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over every shipped pack and explain level, two dates in a row (escalation history):
    the bulk path's answer is the per-decision path's, byte for byte but for the ids, and
    the store holds the same rows (documents, rule outcomes, fired rules and actions)."""
    taken: list[int] = []
    real = bulk.bulk_records

    def counted(*args: Any, **kwargs: Any) -> Any:
        records = real(*args, **kwargs)
        taken.append(len(records))
        return records

    monkeypatch.setattr(bulk, "bulk_records", counted)
    request = {"pack": pack.id, "sellers": _body(pack, seller)}
    streaks = 0
    for as_of in DATES:
        answers, stored = {}, {}
        for name, minimum in (("per_decision", PER_DECISION), ("bulk", 1)):
            monkeypatch.setattr(evaluate_route, "BULK_SELLERS", minimum)
            response = service.client.post(
                f"/v1/evaluations?explain={level.value}",
                json={**request, "as_of": as_of},
                headers=service.auth(Role.EVALUATOR),
            )
            assert response.status_code == 200, response.text
            answers[name] = response.content
            stored[name] = _stored(service, response.json())  # before the next run replaces it
        assert _normalized(answers["bulk"]) == _normalized(answers["per_decision"])
        assert _without_ids(stored["bulk"]) == _without_ids(stored["per_decision"])
        assert all(row[-1] for rows in stored.values() for row in rows)
        bulk_body = json.loads(answers["bulk"])
        assert [d["seller_id"] for d in bulk_body["decisions"]] == [
            s["seller_id"] for s in request["sellers"]
        ]
        assert [
            json.loads(row[3]) if isinstance(row[3], str) else row[3] for row in stored["bulk"]
        ] == bulk_body["decisions"]
        streaks += sum(r["streak"] for d in bulk_body["decisions"] for r in d["rules"])
    # the int/float split and the odd orders leave a few batches; most sellers go in bulk
    assert sum(taken) >= len(DATES) * 150, taken
    if any(rule.escalation for rule in pack.rules):
        assert streaks > 0


def test_a_mixed_request_keeps_request_order(
    service: Service, seller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sellers of two ``as_of`` dates, some in bulk batches and some left to the per-decision
    path (too few alike): the answer lists them in request order, each as that path makes it."""
    pack = next(p for p in PACKS if p.id == "walmart-seller-performance")
    first = sellers(pack, 160, seed=3, prefix=seller + "-a")  # over BULK_SELLERS
    second = sellers(pack, 30, seed=4, prefix=seller + "-b")  # too few
    for entry in second:
        entry["as_of"] = "2026-10-15"
    mixed = [x for pair in zip(first, second, strict=False) for x in pair] + first[30:]
    taken: list[int] = []
    real = bulk.bulk_records
    monkeypatch.setattr(bulk, "bulk_records", lambda *a, **k: taken.append(1) or real(*a, **k))
    response = service.client.post(
        "/v1/evaluations",
        json={"pack": pack.id, "as_of": "2026-11-01", "sellers": mixed},
        headers=service.auth(Role.EVALUATOR),
    )
    assert response.status_code == 200, response.text
    decisions = response.json()["decisions"]
    assert [d["seller_id"] for d in decisions] == [s["seller_id"] for s in mixed]
    assert {d["as_of"] for d in decisions[1:60:2]} == {"2026-10-15"}
    assert {d["as_of"] for d in decisions[0:60:2]} == {"2026-11-01"}
    assert taken == [1]
