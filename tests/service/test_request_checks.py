"""Requests are checked like rows are: dates at the calendar's ends, impossible offsets
and a seller given twice are a 422 naming the field, never a 500 or two decisions."""

from __future__ import annotations

import pytest
from servicekit import Service, healthy_facts

from sellerpolicy.engine.store.keys import Role

PACK = "walmart-seller-performance"
EXTREMES = ["0001-01-01", "9999-12-31", "1899-12-31", "9999-12-31T23:59:59+00:00"]


@pytest.mark.parametrize("as_of", EXTREMES)
def test_request_as_of_at_the_calendar_ends_is_a_422(
    service: Service, seller: str, as_of: str
) -> None:
    body = {
        "pack": PACK,
        "as_of": as_of,
        "sellers": [{"seller_id": seller, "facts": healthy_facts()}],
    }
    response = service.client.post(
        "/v1/evaluations", json=body, headers=service.auth(Role.EVALUATOR)
    )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["as_of"]
    assert "out of range" in errors[0]["message"]


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31"])
def test_seller_as_of_at_the_calendar_ends_is_a_422(
    service: Service, seller: str, as_of: str
) -> None:
    body = {
        "pack": PACK,
        "as_of": "2026-11-01",
        "sellers": [{"seller_id": seller, "as_of": as_of, "facts": healthy_facts()}],
    }
    response = service.client.post(
        "/v1/evaluations", json=body, headers=service.auth(Role.EVALUATOR)
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "sellers[0].as_of"


@pytest.mark.parametrize("offset", ["+99:99", "+2400", "+24:00"])
def test_impossible_offsets_are_a_422(service: Service, seller: str, offset: str) -> None:
    body = {
        "pack": PACK,
        "as_of": f"2026-11-01T00:00:00{offset}",
        "sellers": [{"seller_id": seller, "facts": healthy_facts()}],
    }
    response = service.client.post(
        "/v1/evaluations", json=body, headers=service.auth(Role.EVALUATOR)
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("parameter", ["as_of_from", "as_of_to"])
def test_decision_query_dates_at_the_calendar_ends_are_a_422(
    service: Service, seller: str, parameter: str
) -> None:
    response = service.client.get(
        f"/v1/sellers/{seller}/decisions?{parameter}=9999-12-31",
        headers=service.auth(Role.READER),
    )
    assert response.status_code == 422, response.text
    assert parameter in response.text


def test_same_seller_twice_in_one_request_is_a_422(service: Service, seller: str) -> None:
    """One seller twice in a request would be two decisions for one as_of."""
    body = {
        "pack": PACK,
        "as_of": "2026-11-01",
        "sellers": [
            {"seller_id": seller, "facts": healthy_facts()},
            {"seller_id": seller + "-b", "facts": healthy_facts()},
            {"seller_id": seller, "facts": healthy_facts()},
        ],
    }
    response = service.client.post(
        "/v1/evaluations", json=body, headers=service.auth(Role.EVALUATOR)
    )
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "sellers"
    assert "sellers[0] and sellers[2]" in error["message"]
    stored = service.client.get(
        f"/v1/sellers/{seller}/decisions", headers=service.auth(Role.READER)
    )
    assert stored.json()["decisions"] == []


def test_contradictory_facts_are_a_422_naming_each_field(service: Service, seller: str) -> None:
    """orders -5, or a rate of 0.0 over 1,000 of 2,000 orders: a 422 naming the fields,
    nothing decided or stored (it used to answer "headroom -990")."""
    facts = {
        **healthy_facts(),
        "orders": -5,
        "cancellation_rate": 0.0,
        "cancellation_rate__num": 1000,
        "cancellation_rate__den": 2000,
    }
    body = {"pack": PACK, "as_of": "2026-11-01", "sellers": [{"seller_id": seller, "facts": facts}]}
    response = service.client.post(
        "/v1/evaluations", json=body, headers=service.auth(Role.EVALUATOR)
    )
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("contradictory_facts")
    fields = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert set(fields) == {"sellers[0].facts.orders", "sellers[0].facts.cancellation_rate"}
    assert "0.5" in fields["sellers[0].facts.cancellation_rate"]
    stored = service.client.get(
        f"/v1/sellers/{seller}/decisions", headers=service.auth(Role.READER)
    )
    assert stored.json()["decisions"] == []
