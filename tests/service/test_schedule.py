"""Scheduled activation: a version scheduled at an instant becomes the active one at that
instant by the service's clock (evaluations, the fast path, the pack list), the app's
background task applies it and the audit records it at its instant; a schedule can be
cancelled; a past instant, a second schedule or an unapproved version are refused."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from servicekit import (
    START,
    MovableClock,
    Service,
    evaluate_twice,
    healthy_facts,
    pack_text,
    upload_approved,
)

from sellerpolicy.engine.store.audit import AuditEntry
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.schedules import SCHEDULED

SWITCH = datetime(2026, 11, 15, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def _two_versions(service: Service) -> str:
    """A pack uploaded by the editor in 1.0.0 (activated now) and 2.0.0, both approved."""
    pack_id = f"sc-{uuid.uuid4().hex[:8]}"
    upload_approved(service, pack_id, "1.0.0", "2.0.0")
    done = service.client.post(
        f"/v1/packs/{pack_id}/versions/1.0.0/activate", headers=service.auth(Role.ADMIN)
    )
    assert done.status_code == 200, done.text
    return pack_id


def _schedule(service: Service, pack_id: str, version: str, at: str) -> Any:
    return service.client.post(
        f"/v1/packs/{pack_id}/versions/{version}/activate",
        json={"at": at},
        headers=service.auth(Role.ADMIN),
    )


def _evaluated(service: Service, pack: str, as_of: str) -> list[dict[str, Any]]:
    """Two evaluations (the second one takes the fast path): their answers."""
    body = {"pack": pack, "as_of": as_of, "sellers": [{"seller_id": "S", "facts": healthy_facts()}]}
    answers = evaluate_twice(service, body)
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    return [a.json() for a in answers]


def _versions(service: Service, pack: str, as_of: str) -> set[str]:
    return {a["pack"]["version"] for a in _evaluated(service, pack, as_of)}


def _summary(service: Service, pack_id: str) -> dict[str, Any]:
    listing = service.client.get("/v1/packs", headers=service.auth(Role.READER)).json()
    found: dict[str, Any] = next(p for p in listing["packs"] if p["pack_id"] == pack_id)
    return found


def _scheduled_activations(service: Service, pack_id: str) -> list[AuditEntry]:
    return [
        e
        for e in service.state.packs.audit(pack_id)
        if e.action == "activate" and e.detail == SCHEDULED
    ]


def test_a_scheduled_version_becomes_active_at_its_instant(
    clocked: tuple[Service, MovableClock],
) -> None:
    """Before the instant the old version evaluates (route and fast path) and is listed
    active; from the instant on the new one does, with no wait; the audit records a
    scheduled activation at the instant by whoever scheduled it."""
    service, clock = clocked
    pack_id = _two_versions(service)
    scheduled = _schedule(service, pack_id, "2.0.0", "2026-11-15T00:00:00Z")
    assert scheduled.status_code == 202, scheduled.text
    assert scheduled.json()["activate_at"] == "2026-11-15T00:00:00Z"
    scheduler = scheduled.json()["scheduled_by"]
    assert scheduler.startswith("key:")
    summary = _summary(service, pack_id)
    assert (summary["active_version"], summary["scheduled_version"]) == ("1.0.0", "2.0.0")

    clock.move_to(SWITCH - SECOND)
    assert _versions(service, pack_id, "2026-11-20") == {"1.0.0"}
    clock.move_to(SWITCH + SECOND)
    assert _versions(service, pack_id, "2026-11-20") == {"2.0.0"}
    summary = _summary(service, pack_id)
    assert (summary["active_version"], summary["scheduled_version"]) == ("2.0.0", None)
    assert {v["version"]: v["state"] for v in summary["versions"]} == {
        "1.0.0": "retired",
        "2.0.0": "active",
    }
    (entry,) = _scheduled_activations(service, pack_id)
    assert (entry.at, entry.actor, entry.from_version, entry.to_version) == (
        SWITCH,
        scheduler,
        "1.0.0",
        "2.0.0",
    )
    actions = [e.action for e in service.state.packs.audit(pack_id)]
    assert actions[-2:] == ["schedule", "activate"]
    # an appeal for a day before the switch is still judged by the old version
    (answer, _) = _evaluated(service, pack_id, "2026-11-10")
    assert answer["pack_selection"] == {
        "version": "1.0.0",
        "reason": "active at as_of (activated 2026-11-01T09:00:00Z)",
    }


def test_the_app_applies_a_due_schedule_by_itself(clocked: tuple[Service, MovableClock]) -> None:
    """With no request reading the pack, the app's background task activates the
    version once its instant has come, and the audit has it at that instant."""
    service, clock = clocked
    pack_id = _two_versions(service)
    assert _schedule(service, pack_id, "2.0.0", "2026-11-15T00:00:00Z").status_code == 202
    time.sleep(0.3)
    assert service.state.packs.get(pack_id, "2.0.0").state == "draft"
    clock.move_to(SWITCH + timedelta(hours=1))
    deadline = time.monotonic() + 10
    while not _scheduled_activations(service, pack_id):
        assert time.monotonic() < deadline, "the schedule was not applied"
        time.sleep(0.05)
    assert _scheduled_activations(service, pack_id)[0].at == SWITCH
    assert service.state.packs.get(pack_id, "2.0.0").state == "active"
    assert service.state.packs.get(pack_id, "1.0.0").state == "retired"


def test_a_cancelled_schedule_never_happens(clocked: tuple[Service, MovableClock]) -> None:
    """DELETE .../schedule drops the schedule (audited); past its instant the old version
    is still the one used; cancelling again is a 404."""
    service, clock = clocked
    pack_id = _two_versions(service)
    assert _schedule(service, pack_id, "2.0.0", "2026-11-15T00:00:00Z").status_code == 202
    path = f"/v1/packs/{pack_id}/versions/2.0.0/schedule"
    cancelled = service.client.delete(path, headers=service.auth(Role.ADMIN))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["activate_at"] is None
    assert _summary(service, pack_id)["scheduled_version"] is None
    clock.move_to(SWITCH + SECOND)
    assert _versions(service, pack_id, "2026-11-20") == {"1.0.0"}
    time.sleep(0.2)
    assert service.state.packs.get(pack_id, "2.0.0").state == "draft"
    trail = [(e.action, e.to_version, e.detail) for e in service.state.packs.audit(pack_id)]
    assert trail[-2:] == [
        ("schedule", "2.0.0", "2026-11-15T00:00:00Z"),
        ("schedule_cancel", "2.0.0", "2026-11-15T00:00:00Z"),
    ]
    again = service.client.delete(path, headers=service.auth(Role.ADMIN))
    assert again.status_code == 404
    assert "no scheduled activation" in again.json()["detail"]


def test_bad_schedules_are_refused(clocked: tuple[Service, MovableClock]) -> None:
    """A past instant is a 422 naming `at`; an unapproved version a 409; a second
    version while one is scheduled a 409 naming it; the active version a 409. A naive
    instant is UTC."""
    service, clock = clocked
    pack_id = _two_versions(service)
    past = _schedule(service, pack_id, "2.0.0", "2026-10-31T00:00:00Z")
    assert past.status_code == 422
    assert [e["field"] for e in past.json()["errors"]] == ["at"]
    assert "not in the future" in past.json()["detail"]
    naive = _schedule(service, pack_id, "2.0.0", "2026-11-15T00:00:00")
    assert naive.json()["activate_at"] == "2026-11-15T00:00:00Z"

    created = service.client.post(
        "/v1/packs",
        json={"content": pack_text(pack_id, "3.0.0")},
        headers=service.auth(Role.EDITOR),
    )
    assert created.status_code == 201
    unapproved = _schedule(service, pack_id, "3.0.0", "2026-11-20T00:00:00Z")
    assert unapproved.status_code == 409
    assert unapproved.json()["type"].endswith(":approval_required")
    service.client.post(
        f"/v1/packs/{pack_id}/versions/3.0.0/approve",
        json={"comment": "fine"},
        headers=service.auth(Role.ADMIN),
    )
    second = _schedule(service, pack_id, "3.0.0", "2026-11-20T00:00:00Z")
    assert second.status_code == 409
    assert "'2.0.0' scheduled at 2026-11-15T00:00:00Z" in second.json()["detail"]
    active = _schedule(service, pack_id, "1.0.0", "2026-11-20T00:00:00Z")
    assert active.status_code == 409
    assert "active version already" in active.json()["detail"]
    assert clock() == START
