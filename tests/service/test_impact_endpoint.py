"""The impact of a stored version against the active one, replayed from the decision log,
and the report an approval stores so the approver sees what they approve."""

from __future__ import annotations

import uuid
from typing import Any

from servicekit import Service, pack_text, upload_approved

from sellerpolicy.engine.store.keys import Role

AS_OF = "2026-11-01"
RATES = [0.005, 0.012, 0.018, 0.025, 0.04]  # cancellation rate of each seller


def _facts(rate: float) -> dict[str, float | int]:
    num = round(rate * 1000)
    return {
        "orders": 1000,
        "cancellation_rate": num / 1000,
        "cancellation_rate__num": num,
        "cancellation_rate__den": 1000,
    }


def _activate_approved(service: Service, pack_id: str, version: str) -> None:
    upload_approved(service, pack_id, version)
    activated = service.client.post(
        f"/v1/packs/{pack_id}/versions/{version}/activate", headers=service.auth(Role.ADMIN)
    )
    assert activated.status_code == 200, activated.text


def _setup(service: Service) -> tuple[str, str]:
    """A pack whose 1.0.0 is active with five sellers decided; 2.0.0 fires above 1% not 2%."""
    pack_id = f"imp-{uuid.uuid4().hex[:8]}"
    editor = service.auth(Role.EDITOR)
    _activate_approved(service, pack_id, "1.0.0")
    sellers = [{"seller_id": f"S{i}", "facts": _facts(rate)} for i, rate in enumerate(RATES)]
    decided = service.client.post(
        "/v1/evaluations",
        json={"pack": f"{pack_id}@1.0.0", "as_of": AS_OF, "sellers": sellers},
        headers=service.auth(Role.EVALUATOR),
    )
    assert decided.status_code == 200, decided.text
    stricter = pack_text(pack_id, "2.0.0").replace(
        "{metric: cancellation_rate, gt: 2%}", "{metric: cancellation_rate, gt: 1%}"
    )
    second = service.client.post("/v1/packs", json={"content": stricter}, headers=editor)
    assert second.status_code == 201, second.text
    return pack_id, f"/v1/packs/{pack_id}/versions/2.0.0"


def _check_report(report: dict[str, Any]) -> None:
    assert report["sellers"] == len(RATES)
    assert sum(map(sum, report["statuses"]["matrix"])) == len(RATES)
    changed = {s["seller_id"] for s in report["changed_sellers"]["sellers"]}
    assert changed == {"S1", "S2"}  # 1.2% and 1.8%: over 1%, not over 2%
    (moved,) = report["thresholds"]
    assert (moved["old"], moved["new"], moved["between"]) == (0.02, 0.01, 2)
    assert report["baseline"]["version"] == "1.0.0"
    assert report["new"]["version"] == "2.0.0"


def test_impact_replays_the_decision_log_against_the_active_version(
    approving_service: Service,
) -> None:
    service = approving_service
    _, path = _setup(service)
    answered = service.client.post(
        f"{path}/impact", json={"as_of": AS_OF}, headers=service.auth(Role.EDITOR)
    )
    assert answered.status_code == 200, answered.text
    _check_report(answered.json())
    reader = service.client.post(f"{path}/impact", headers=service.auth(Role.READER))
    assert reader.status_code == 403


def test_the_approval_stores_the_impact_the_approver_sees(approving_service: Service) -> None:
    service = approving_service
    _, path = _setup(service)
    _, key = service.state.keys.create(Role.ADMIN, actor="test")
    approved = service.client.post(
        f"{path}/approve", json={"comment": "stricter cancels, 2 sellers"},
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    assert approved.status_code == 201, approved.text
    stored = approved.json()["impact"]
    assert stored["as_of"]  # evaluated as of the service's today
    assert {s["seller_id"] for s in stored["changed_sellers"]["sellers"]} == {"S1", "S2"}
    shown = service.client.get(path, headers=service.auth(Role.READER)).json()
    assert shown["approvals"][0]["impact"]["new"]["version"] == "2.0.0"


def test_nothing_to_replay_is_a_clear_problem_and_approval_says_why(
    approving_service: Service,
) -> None:
    service = approving_service
    pack_id = f"imp-{uuid.uuid4().hex[:8]}"
    editor = service.auth(Role.EDITOR)
    created = service.client.post(
        "/v1/packs", json={"content": pack_text(pack_id, "2.0.0")}, headers=editor
    )
    assert created.status_code == 201
    path = f"/v1/packs/{pack_id}/versions/2.0.0"
    no_active = service.client.post(f"{path}/impact", headers=editor)
    assert no_active.status_code == 409
    assert no_active.json()["type"].endswith(":no_active")
    _activate_approved(service, pack_id, "1.0.0")
    empty = service.client.post(f"{path}/impact", headers=editor)
    assert empty.status_code == 422
    assert "no decision of pack" in empty.json()["detail"]
    unknown = service.client.post(f"/v1/packs/{pack_id}/versions/9.9.9/impact", headers=editor)
    assert unknown.status_code == 404
    _, key = service.state.keys.create(Role.ADMIN, actor="test")
    approved = service.client.post(
        f"{path}/approve", json={"comment": "ok"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert approved.status_code == 201, approved.text
    assert "no decision of pack" in approved.json()["impact"]["error"]
