"""Approval of pack versions: by default activation needs an approval by an admin other
than the uploader; the uploader, and any non-admin, cannot approve; approvals are kept
(with an optional impact report), shown and audited; the setting turns it off."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from servicekit import LATER_AS_OF, Service, healthy_facts, pack_text
from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import app
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.packs import SYSTEM_AUTHOR


def _upload(service: Service, headers: dict[str, str], *versions: str) -> str:
    pack_id = f"ap-{uuid.uuid4().hex[:8]}"
    for version in versions:
        body = {"content": pack_text(pack_id, version)}
        created = service.client.post("/v1/packs", json=body, headers=headers)
        assert created.status_code == 201, created.text
    return pack_id


def _second_admin(service: Service) -> tuple[str, dict[str, str]]:
    record, key = service.state.keys.create(Role.ADMIN, actor="test")
    return f"key:{record.id}", {"Authorization": f"Bearer {key}"}


def _problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(f":{slug}"), body
    return body


def test_the_uploader_cannot_approve_their_own_version(approving_service: Service) -> None:
    """An admin who uploaded a version is refused (403, saying why) and nothing is kept."""
    service = approving_service
    admin = service.auth(Role.ADMIN)
    pack_id = _upload(service, admin, "1.0.0")
    path = f"/v1/packs/{pack_id}/versions/1.0.0/approve"
    refused = service.client.post(path, json={"comment": "looks fine"}, headers=admin)
    body = _problem(refused, 403, "self_approval")
    assert "cannot approve" in body["detail"]
    assert "uploaded" in body["detail"]
    assert service.state.approvals.approvals(pack_id, "1.0.0") == []


@pytest.mark.parametrize("role", [Role.READER, Role.EVALUATOR, Role.EDITOR])
def test_only_an_admin_can_approve(approving_service: Service, role: Role) -> None:
    """Readers, evaluators and editors get a 403 naming the admin role."""
    service = approving_service
    pack_id = _upload(service, service.auth(Role.EDITOR), "1.0.0")
    refused = service.client.post(
        f"/v1/packs/{pack_id}/versions/1.0.0/approve",
        json={"comment": "ok"},
        headers=service.auth(role),
    )
    assert "admin role" in _problem(refused, 403, "forbidden")["detail"]


def test_activation_needs_an_approval_by_another_admin(approving_service: Service) -> None:
    """Without an approval activating (now or scheduled) is a 409 naming the missing
    approval; once another admin approved, it activates; the version shows its approval
    and the audit trail has upload, approve and activate."""
    service = approving_service
    client, admin = service.client, service.auth(Role.ADMIN)
    pack_id = _upload(service, admin, "1.0.0")
    base = f"/v1/packs/{pack_id}/versions/1.0.0"
    for body in (None, {"at": "2099-01-01T00:00:00Z"}):
        refused = client.post(f"{base}/activate", json=body, headers=admin)
        detail = _problem(refused, 409, "approval_required")["detail"]
        assert "no approval" in detail
        assert f"{pack_id}/versions/1.0.0/approve" in detail
    assert service.state.packs.get(pack_id, "1.0.0").state == "draft"

    approver, other_admin = _second_admin(service)
    approved = client.post(
        f"{base}/approve", json={"comment": "checked against Q4 cases"}, headers=other_admin
    )
    assert approved.status_code == 201, approved.text
    assert approved.json()["approver"] == approver
    assert approved.json()["comment"] == "checked against Q4 cases"
    again = client.post(f"{base}/approve", json={"comment": "twice"}, headers=other_admin)
    assert approver in _problem(again, 409, "already_approved")["detail"]

    shown = client.get(base, headers=service.auth(Role.READER)).json()
    assert shown["state"] == "draft"
    assert [(a["approver"], a["comment"]) for a in shown["approvals"]] == [
        (approver, "checked against Q4 cases")
    ]
    assert shown["approvals"][0]["at"]
    activated = client.post(f"{base}/activate", headers=admin)
    assert activated.status_code == 200, activated.text
    assert activated.json()["state"] == "active"
    evaluation = {
        "pack": pack_id,
        "as_of": LATER_AS_OF,
        "sellers": [{"seller_id": f"S-{uuid.uuid4().hex[:8]}", "facts": healthy_facts()}],
    }
    decided = client.post("/v1/evaluations", json=evaluation, headers=admin)
    assert decided.json()["pack"]["version"] == "1.0.0"
    trail = [(e.action, e.actor, e.to_version) for e in service.state.packs.audit(pack_id)]
    uploader = activated.json()["author"]
    assert trail == [
        ("upload", uploader, "1.0.0"),
        ("approve", approver, "1.0.0"),
        ("activate", uploader, "1.0.0"),
    ]


def test_an_approval_comment_is_required_and_bounded(approving_service: Service) -> None:
    """No, blank or overlong comment, or an unknown field: 422 naming the field;
    an unknown version: 404."""
    service = approving_service
    pack_id = _upload(service, service.auth(Role.EDITOR), "1.0.0")
    path = f"/v1/packs/{pack_id}/versions/1.0.0/approve"
    for body, field in (
        ({}, "comment"),
        ({"comment": "   "}, "comment"),
        ({"comment": "x" * 2001}, "comment"),
        ({"comment": "ok", "extra": 1}, "extra"),
    ):
        refused = service.client.post(path, json=body, headers=service.auth(Role.ADMIN))
        errors = _problem(refused, 422, "invalid_request")["errors"]
        assert [e["field"] for e in errors] == [field], errors
    unknown = service.client.post(
        f"/v1/packs/{pack_id}/versions/9.9.9/approve",
        json={"comment": "ok"},
        headers=service.auth(Role.ADMIN),
    )
    assert "9.9.9" in _problem(unknown, 404, "pack_not_found")["detail"]


def test_an_impact_report_is_kept_with_the_approval(approving_service: Service) -> None:
    """The store keeps an approval's impact (JSON text); the version shows it decoded."""
    service = approving_service
    pack_id = _upload(service, service.auth(Role.EDITOR), "1.0.0")
    impact = {"sellers": 120, "status_changes": {"healthy->at_risk": 3}}
    approval = service.state.approvals.approve(
        pack_id, "1.0.0", approver="key:reviewer", comment="ok", impact=json.dumps(impact)
    )
    assert approval.impact_json() == impact
    shown = service.client.get(
        f"/v1/packs/{pack_id}/versions/1.0.0", headers=service.auth(Role.READER)
    )
    assert shown.json()["approvals"][0]["impact"] == impact


def test_shipped_packs_stay_active_without_approval(approving_service: Service) -> None:
    """The shipped packs the system imported into the empty store are active, unapproved."""
    listing = approving_service.client.get(
        "/v1/packs", headers=approving_service.auth(Role.READER)
    ).json()
    shipped = [v for p in listing["packs"] for v in p["versions"] if v["author"] == SYSTEM_AUTHOR]
    assert len(shipped) >= 5
    assert all(v["state"] == "active" for v in shipped)
    evaluation = {
        "pack": "walmart-seller-performance",
        "as_of": "2026-11-01",
        "sellers": [{"seller_id": "S-shipped", "facts": healthy_facts()}],
    }
    decided = approving_service.client.post(
        "/v1/evaluations", json=evaluation, headers=approving_service.auth(Role.EVALUATOR)
    )
    assert decided.status_code == 200, decided.text


def test_without_required_approval_any_admin_activates(service: Service) -> None:
    """With the setting off (``--no-require-approval``) an admin activates an unapproved
    version they uploaded themselves, as before."""
    admin = service.auth(Role.ADMIN)
    pack_id = _upload(service, admin, "1.0.0")
    assert service.state.settings.require_approval is False
    done = service.client.post(f"/v1/packs/{pack_id}/versions/1.0.0/activate", headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "active"


def test_serve_requires_approval_unless_told_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` builds the app with approval required; `--no-require-approval` turns it
    off; --help says so."""
    import uvicorn  # noqa: PLC0415

    from sellerpolicy.engine.cli import serve  # noqa: PLC0415
    from sellerpolicy.engine.service import app as service_app  # noqa: PLC0415

    made: list[bool] = []

    def fake_create_app(settings: service_app.Settings, clock: object = None) -> object:
        made.append(settings.require_approval)
        return object()

    monkeypatch.setattr(service_app, "create_app", fake_create_app)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    monkeypatch.setattr(serve, "_freeze_heap", lambda: None)
    runner = CliRunner()
    store = str(tmp_path / "serve.db")
    for flags in ([], ["--no-require-approval"]):
        result = runner.invoke(app, ["serve", "--store", store, *flags])
        assert result.exit_code == 0, result.output
    assert made == [True, False]
    helped = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert "--no-require-approval" in helped.output
