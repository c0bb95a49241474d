"""POST /v1/evaluations and reading decisions back: facts and events, pack versions,
explain levels, pagination and filters."""

from __future__ import annotations

from typing import Any

from servicekit import Service, healthy_facts

from sellerpolicy.engine.store.keys import Role

PACK = "walmart-seller-performance"


def _evaluate(service: Service, body: dict[str, Any], query: str = "") -> Any:
    return service.client.post(
        f"/v1/evaluations{query}", json=body, headers=service.auth(Role.EVALUATOR)
    )


def _orders(seller: str, count: int, **extra: object) -> list[dict[str, object]]:
    return [
        {
            "order_id": f"{seller}-o{i}",
            "seller_id": seller,
            "ordered_at": "2026-10-20T10:00:00Z",
            "ship_by": "2026-10-22",
            "shipped_at": "2026-10-21T09:00:00Z",
            "tracking_valid": True,
            **extra,
        }
        for i in range(count)
    ]


def test_facts_evaluation_returns_and_stores_the_decisions(service: Service, seller: str) -> None:
    """A batch of sellers gets one decision each, in order, naming the active pack version,
    and every decision is stored exactly as returned."""
    other = seller + "-b"
    breach = {**healthy_facts(), "cancellation_rate": 0.05, "cancellation_rate__num": 60}
    response = _evaluate(
        service,
        {
            "pack": PACK,
            "as_of": "2026-11-01",
            "sellers": [
                {"seller_id": seller, "facts": healthy_facts()},
                {"seller_id": other, "facts": breach},
            ],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pack"]["id"] == PACK
    decisions = body["decisions"]
    assert [d["seller_id"] for d in decisions] == [seller, other]
    assert decisions[0]["status"] == "healthy"
    assert decisions[1]["status"] != "healthy"
    assert {d["pack_version"] for d in decisions} == {body["pack"]["version"]}
    stored = service.client.get(
        f"/v1/decisions/{decisions[1]['decision_id']}", headers=service.auth(Role.READER)
    ).json()
    assert stored["decision"] == decisions[1]
    assert stored["run_id"] == body["run_id"]
    assert stored["pack_digest"] == body["pack"]["digest"]
    metrics = service.client.get("/metrics", headers=service.auth(Role.READER)).text
    assert f'sellerpolicy_decisions_total{{pack="{PACK}",status="healthy"}}' in metrics


def test_explain_full_explains_rules_that_did_not_fire(service: Service, seller: str) -> None:
    """?explain=full adds an explanation to passing rules; ?explain=none leaves them out."""
    body = {
        "pack": PACK,
        "as_of": "2026-11-01",
        "sellers": [{"seller_id": seller, "facts": healthy_facts()}],
    }
    full = _evaluate(service, body, "?explain=full").json()["decisions"][0]
    none = _evaluate(service, body, "?explain=none").json()["decisions"][0]
    rule = next(r for r in full["rules"] if r["rule"].startswith("cancel"))
    assert rule["outcome"] == "not_matched"
    assert rule["explanation"]
    assert all(r["explanation"] is None for r in none["rules"])
    bad = _evaluate(service, body, "?explain=everything")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.explain"


def test_escalation_reads_the_stored_history(service: Service, seller: str) -> None:
    """A breach evaluated on consecutive dates climbs the pack's ladder from stored history."""
    breach = {**healthy_facts(), "cancellation_rate": 0.05, "cancellation_rate__num": 60}
    actions = []
    for day in ("2026-09-01", "2026-10-01", "2026-11-01"):
        body = {"pack": PACK, "as_of": day, "sellers": [{"seller_id": seller, "facts": breach}]}
        decision = _evaluate(service, body).json()["decisions"][0]
        actions.append({a["action"] for a in decision["actions"] if a["enforced"]})
    assert actions[0] != actions[2]
    rule = next(r for r in decision["rules"] if r["rule"].startswith("cancel"))
    assert rule["streak"] == 2


def test_events_evaluation_computes_facts_from_rows(service: Service, seller: str) -> None:
    """One seller's inline order rows are validated and turned into metric facts."""
    tables = {"orders": _orders(seller, 30)}
    response = _evaluate(
        service,
        {"pack": PACK, "events": {"seller_id": seller, "as_of": "2026-11-01", "tables": tables}},
    )
    assert response.status_code == 200, response.text
    decision = response.json()["decisions"][0]
    assert decision["seller_id"] == seller
    assert decision["facts"]["orders"] == 30


def test_events_with_a_bad_row_name_the_row_and_field(service: Service, seller: str) -> None:
    """A row that breaks the data contract is a 422 naming table, row and column."""
    rows = _orders(seller, 3)
    rows[2] = {**rows[2], "cancelled_at": "2026-10-21T00:00:00Z", "cancelled_by": "robot"}
    response = _evaluate(
        service,
        {
            "pack": PACK,
            "as_of": "2026-11-01",
            "events": {"seller_id": seller, "tables": {"orders": rows}},
        },
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "events.tables.orders[2].cancelled_by"
    assert "robot" in error["message"]
    foreign = _evaluate(
        service,
        {
            "pack": PACK,
            "as_of": "2026-11-01",
            "events": {"seller_id": "someone-else", "tables": {"orders": rows[:1]}},
        },
    )
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["field"] == "events.tables.orders[0].seller_id"


def test_unknown_facts_and_missing_as_of_are_named(service: Service, seller: str) -> None:
    """A misspelt fact is a 422 naming the field with a suggestion; so is a missing as_of."""
    misspelt = _evaluate(
        service,
        {
            "pack": PACK,
            "as_of": "2026-11-01",
            "sellers": [{"seller_id": seller, "facts": {"ordrs": 5}}],
        },
    )
    assert misspelt.status_code == 422
    error = misspelt.json()["errors"][0]
    assert error["json_path"] == "$.sellers[0].facts.ordrs"
    assert "orders" in error["message"]
    no_date = _evaluate(service, {"pack": PACK, "sellers": [{"seller_id": seller, "facts": {}}]})
    assert no_date.status_code == 422
    assert no_date.json()["errors"][0]["field"] == "sellers[0].as_of"


def test_unknown_pack_is_404_and_a_version_can_be_named(service: Service, seller: str) -> None:
    """An unknown pack id or version is a 404; id@version evaluates that version."""
    sellers = [{"seller_id": seller, "facts": healthy_facts()}]
    missing = _evaluate(
        service, {"pack": "no-such-pack", "as_of": "2026-11-01", "sellers": sellers}
    )
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("pack_not_found")
    assert (
        _evaluate(
            service, {"pack": f"{PACK}@0.0.1", "as_of": "2026-11-01", "sellers": sellers}
        ).status_code
        == 404
    )
    named = _evaluate(
        service, {"pack": f"{PACK}@2026.12.1", "as_of": "2026-11-01", "sellers": sellers}
    )
    assert named.json()["decisions"][0]["pack_version"] == "2026.12.1"


def test_seller_decisions_are_paginated_and_filtered(service: Service, seller: str) -> None:
    """Pages follow next_cursor newest first with no repeats; pack and as_of filters apply."""
    days = ["2026-10-01", "2026-10-08", "2026-10-15", "2026-10-22", "2026-10-29"]
    for day in days:
        body = {
            "pack": PACK,
            "as_of": day,
            "sellers": [{"seller_id": seller, "facts": healthy_facts()}],
        }
        assert _evaluate(service, body).status_code == 200
    reader = service.auth(Role.READER)
    seen: list[str] = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = service.client.get(f"/v1/sellers/{seller}/decisions{query}", headers=reader).json()
        seen += [d["decision"]["as_of"] for d in page["decisions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(days, reverse=True)
    window = service.client.get(
        f"/v1/sellers/{seller}/decisions?as_of_from=2026-10-08&as_of_to=2026-10-22&pack={PACK}",
        headers=reader,
    ).json()
    assert [d["decision"]["as_of"] for d in window["decisions"]] == days[3:0:-1]
    other_pack = service.client.get(
        f"/v1/sellers/{seller}/decisions?pack=ebay-seller-standards", headers=reader
    ).json()
    assert other_pack["decisions"] == []
    bad = service.client.get(f"/v1/sellers/{seller}/decisions?cursor=%%%", headers=reader)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.cursor"
    missing = service.client.get("/v1/decisions/no-such-id", headers=reader)
    assert missing.status_code == 404
