"""The version in force at a date: an evaluation naming a pack without a version uses
the version that was active at its as_of (an appeal is judged by the rules of its day),
a named version overrides it, and the answer says which version and why; an as_of
before the pack was ever active is a 422, except for the shipped packs."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from servicekit import MovableClock, Service, evaluate_twice, healthy_facts, upload_approved

from sellerpolicy.engine.store.keys import Role

SECOND_ACTIVATION = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _history(service: Service, clock: MovableClock) -> str:
    """A pack whose 1.0.0 was activated at START (2026-11-01 09:00Z) and 2.0.0 at
    2026-11-20 12:00Z; the clock is left at 2026-12-01."""
    pack_id = f"ps-{uuid.uuid4().hex[:8]}"
    upload_approved(service, pack_id, "1.0.0", "2.0.0")
    admin = service.auth(Role.ADMIN)
    for version, at in (("1.0.0", None), ("2.0.0", SECOND_ACTIVATION)):
        if at is not None:
            clock.move_to(at)
        done = service.client.post(
            f"/v1/packs/{pack_id}/versions/{version}/activate", headers=admin
        )
        assert done.status_code == 200, done.text
    clock.move_to(datetime(2026, 12, 1, tzinfo=UTC))
    return pack_id


def _answers(service: Service, pack: str, as_of: str) -> list[dict[str, Any]]:
    body = {"pack": pack, "as_of": as_of, "sellers": [{"seller_id": "S", "facts": healthy_facts()}]}
    answers = evaluate_twice(service, body)
    for answer in answers:
        assert answer.status_code == 200, answer.text
    return [a.json() for a in answers]


def _selected(service: Service, pack: str, as_of: str) -> dict[str, str]:
    """The pack_selection of both paths (which must agree), checked against the decisions."""
    first, second = _answers(service, pack, as_of)
    assert first["pack_selection"] == second["pack_selection"]
    selection: dict[str, str] = first["pack_selection"]
    for answer in (first, second):
        assert answer["pack"]["version"] == selection["version"]
        assert {d["pack_version"] for d in answer["decisions"]} == {selection["version"]}
    return selection


def test_a_past_as_of_uses_the_version_active_then(
    clocked: tuple[Service, MovableClock],
) -> None:
    """as_of before the second activation: 1.0.0 (also on the day of the switch, whose
    midnight came before it); at and after it: 2.0.0; each answer gives the reason, and
    the stored decision names the version used."""
    service, clock = clocked
    pack_id = _history(service, clock)
    first = "active at as_of (activated 2026-11-01T09:00:00Z)"
    second = "active at as_of (activated 2026-11-20T12:00:00Z)"
    for as_of, version, reason in (
        ("2026-11-10", "1.0.0", first),
        ("2026-11-20", "1.0.0", first),
        ("2026-11-20T12:00:00Z", "2.0.0", second),
        ("2026-11-25", "2.0.0", second),
    ):
        assert _selected(service, pack_id, as_of) == {"version": version, "reason": reason}
    (answer, _) = _answers(service, pack_id, "2026-11-10")
    decision = answer["decisions"][0]
    (stored,) = service.state.store.decisions(decision["seller_id"])
    assert (stored.pack_version, stored.decision_id) == ("1.0.0", decision["decision_id"])


def test_a_named_version_overrides_the_as_of(clocked: tuple[Service, MovableClock]) -> None:
    """id@version is used whatever the as_of: the new one for an old date, the retired
    one for a recent date."""
    service, clock = clocked
    pack_id = _history(service, clock)
    named = "version named in the request"
    assert _selected(service, f"{pack_id}@2.0.0", "2026-11-10") == {
        "version": "2.0.0",
        "reason": named,
    }
    assert _selected(service, f"{pack_id}@1.0.0", "2026-11-25") == {
        "version": "1.0.0",
        "reason": named,
    }


def test_an_as_of_before_any_activation_is_a_422(clocked: tuple[Service, MovableClock]) -> None:
    """No version of the pack was active then: a 422 naming the as_of field (request,
    seller or events) and the first activation."""
    service, clock = clocked
    pack_id = _history(service, clock)
    facts = {"seller_id": "S-early", "facts": healthy_facts()}
    for body, field in (
        ({"as_of": "2026-10-01", "sellers": [facts]}, "as_of"),
        ({"sellers": [{**facts, "as_of": "2026-10-01"}]}, "sellers[0].as_of"),
        (
            {"events": {"seller_id": "S-early", "as_of": "2026-10-01", "tables": {"orders": []}}},
            "events.as_of",
        ),
    ):
        for answer in evaluate_twice(service, {"pack": pack_id, **body}):
            assert answer.status_code == 422, answer.text
            problem = answer.json()
            assert problem["type"].endswith(":no_version_in_force")
            assert (
                f"no version of pack {pack_id} was active at as_of 2026-10-01"
                in (problem["detail"])
            )
            assert "first activation was 1.0.0 at 2026-11-01T09:00:00Z" in problem["detail"]
            assert [e["field"] for e in problem["errors"]] == [field]


def test_as_of_under_different_versions_is_a_422(clocked: tuple[Service, MovableClock]) -> None:
    """Sellers whose as_of fall under different versions cannot share one answer: a 422
    naming both fields and versions."""
    service, clock = clocked
    pack_id = _history(service, clock)
    sellers = [
        {"seller_id": "S-a", "as_of": "2026-11-10", "facts": healthy_facts()},
        {"seller_id": "S-b", "as_of": "2026-11-25", "facts": healthy_facts()},
    ]
    answer = service.client.post(
        "/v1/evaluations",
        json={"pack": pack_id, "sellers": sellers},
        headers=service.auth(Role.EVALUATOR),
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"].endswith(":as_of_spans_versions")
    assert "sellers[0].as_of 2026-11-10 under 1.0.0" in problem["detail"]
    assert "sellers[1].as_of 2026-11-25 under 2.0.0" in problem["detail"]
    assert sorted(e["field"] for e in problem["errors"]) == ["sellers[0].as_of", "sellers[1].as_of"]


def test_a_shipped_pack_is_in_force_before_its_import(
    clocked: tuple[Service, MovableClock],
) -> None:
    """The shipped packs imported at the service's first start (START) count for any
    earlier as_of; for a later one they are simply the version active then."""
    service, clock = clocked
    clock.move_to(datetime(2026, 12, 1, tzinfo=UTC))
    early = _selected(service, "walmart-seller-performance", "2020-01-01")
    assert early == {
        "version": "2026.12.1",
        "reason": "shipped pack imported 2026-11-01T09:00:00Z: in force before any later "
        "activation",
    }
    later = _selected(service, "walmart-seller-performance", "2026-11-10")
    assert later["reason"] == "active at as_of (activated 2026-11-01T09:00:00Z)"


def test_an_as_of_after_now_uses_the_active_version(
    clocked: tuple[Service, MovableClock],
) -> None:
    """A future as_of uses the version active now, and says so."""
    service, clock = clocked
    pack_id = _history(service, clock)
    assert _selected(service, pack_id, "2027-01-01") == {
        "version": "2.0.0",
        "reason": "active now (activated 2026-11-20T12:00:00Z); as_of is later than now",
    }


def test_a_past_as_of_reads_the_activation_history_once_a_ttl(
    clocked: tuple[Service, MovableClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Evaluations of a past as_of take the history and the version in force from the
    service's short-lived cache (as resolved references are): not two store reads each."""
    service, clock = clocked
    pack_id = _history(service, clock)
    state = service.state
    reads = {"history": 0, "version": 0}
    history, get = state.activations.history, state.packs.get

    def counted_history(pack: str) -> list[Any]:
        reads["history"] += 1
        return history(pack)

    def counted_get(pack: str, version: str) -> Any:
        reads["version"] += 1
        return get(pack, version)

    monkeypatch.setattr(state.activations, "history", counted_history)
    monkeypatch.setattr(state.packs, "get", counted_get)
    began = time.monotonic()
    for _ in range(4):  # 8 evaluations: _answers sends each body on both paths
        assert _selected(service, pack_id, "2026-11-10")["version"] == "1.0.0"
    windows = 1 + int((time.monotonic() - began) / state.settings.pack_cache_seconds)
    assert 1 <= reads["history"] <= windows
    assert 1 <= reads["version"] <= windows
