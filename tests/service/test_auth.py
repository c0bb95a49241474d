"""Authentication and roles: every endpoint against every caller (no key, a bad key,
a revoked key, and each role)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from servicekit import LATER_AS_OF, Service, healthy_facts, pack_text

from sellerpolicy.engine.store.keys import Role


@dataclass(frozen=True)
class Endpoint:
    """One endpoint, the least role it needs, and how to call it."""

    method: str
    path: str
    role: Role | None  # None: open to anyone
    body: Callable[[], Any] | None = None


def _endpoints(pack_id: str, seller: str, decision_id: str) -> list[Endpoint]:
    evaluation = {
        "pack": pack_id,
        "as_of": LATER_AS_OF,
        "sellers": [{"seller_id": seller, "facts": healthy_facts()}],
    }
    return [
        Endpoint("GET", "/healthz", None),
        Endpoint("GET", "/readyz", None),
        Endpoint("GET", "/metrics", Role.READER),
        Endpoint("GET", f"/v1/sellers/{seller}/decisions", Role.READER),
        Endpoint("GET", f"/v1/decisions/{decision_id}", Role.READER),
        Endpoint("GET", "/v1/packs", Role.READER),
        Endpoint("GET", f"/v1/packs/{pack_id}/versions/1.0.0", Role.READER),
        Endpoint("POST", "/v1/evaluations", Role.EVALUATOR, lambda: evaluation),
        Endpoint(
            "POST",
            "/v1/packs:validate",
            Role.EDITOR,
            lambda: {"content": pack_text(pack_id, "9.0.0")},
        ),
        Endpoint(
            "POST",
            "/v1/packs",
            Role.EDITOR,
            lambda: {"content": pack_text(pack_id, f"2.{uuid.uuid4().int % 10**9}.0")},
        ),
        Endpoint("POST", f"/v1/packs/{pack_id}/versions/1.0.0/activate", Role.ADMIN),
        Endpoint(
            "POST",
            f"/v1/packs/{pack_id}/versions/1.1.0/approve",
            Role.ADMIN,
            lambda: {"comment": "reviewed"},
        ),
        Endpoint("DELETE", f"/v1/packs/{pack_id}/versions/1.2.0/schedule", Role.ADMIN),
        Endpoint("GET", f"/v1/packs/{pack_id}/diff?to=1.1.0", Role.READER),
    ]


def test_every_endpoint_answers_each_caller_as_its_role_allows(
    service: Service, seller: str
) -> None:
    """No key or a bad or revoked key is 401 (with a Bearer challenge); a role below
    the endpoint's is 403; the endpoint's role and every role above it succeed (2xx);
    /healthz and /readyz need no key."""
    pack_id = f"auth-{uuid.uuid4().hex[:8]}"
    client = service.client
    admin = service.auth(Role.ADMIN)
    created = client.post("/v1/packs", json={"content": pack_text(pack_id, "1.0.0")}, headers=admin)
    assert created.status_code == 201, created.text
    activated = client.post(f"/v1/packs/{pack_id}/versions/1.0.0/activate", headers=admin)
    assert activated.status_code == 200, activated.text
    for version, uploader in (("1.1.0", Role.EDITOR), ("1.2.0", Role.ADMIN)):
        body = {"content": pack_text(pack_id, version)}
        uploaded = client.post("/v1/packs", json=body, headers=service.auth(uploader))
        assert uploaded.status_code == 201, uploaded.text
    scheduled = client.post(
        f"/v1/packs/{pack_id}/versions/1.2.0/activate",
        json={"at": "2099-01-01T00:00:00Z"},
        headers=admin,
    )
    assert scheduled.status_code == 202, scheduled.text
    evaluation = {
        "pack": pack_id,
        "as_of": LATER_AS_OF,
        "sellers": [{"seller_id": seller, "facts": healthy_facts()}],
    }
    first = client.post("/v1/evaluations", json=evaluation, headers=admin)
    assert first.status_code == 200, first.text
    decision_id = first.json()["decisions"][0]["decision_id"]
    revoked_record, revoked_key = service.state.keys.create(Role.ADMIN, actor="test")
    service.state.keys.revoke(revoked_record.id, actor="test")

    callers: dict[str, dict[str, str]] = {
        "none": {},
        "malformed": {"Authorization": "Bearer not-a-key"},
        "unknown": {"Authorization": "Bearer spk_00000000_" + "A" * 43},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
        "revoked": {"Authorization": f"Bearer {revoked_key}"},
        **{role.label: service.auth(role) for role in Role},
    }
    failures = []
    for endpoint in _endpoints(pack_id, seller, decision_id):
        for name, headers in callers.items():
            body = endpoint.body() if endpoint.body else None
            response = client.request(endpoint.method, endpoint.path, json=body, headers=headers)
            role = Role[name.upper()] if name.upper() in Role.__members__ else None
            if endpoint.role is None:
                expected = "2xx"
            elif role is None:
                expected = "401"
            elif role < endpoint.role:
                expected = "403"
            else:
                expected = "2xx"
            got = "2xx" if 200 <= response.status_code < 300 else str(response.status_code)
            if got != expected:
                failures.append((endpoint.method, endpoint.path, name, expected, response.text))
            if got == "401":
                assert response.headers["www-authenticate"] == "Bearer"
                assert response.headers["content-type"] == "application/problem+json"
    assert failures == []


@pytest.mark.parametrize("role", list(Role))
def test_metrics_count_requests_by_route_template(service: Service, role: Role) -> None:
    """/metrics (any valid key) reports requests under route templates, not raw paths."""
    service.client.get("/v1/decisions/no-such-decision", headers=service.auth(role))
    metrics = service.client.get("/metrics", headers=service.auth(role))
    assert metrics.status_code == 200
    assert 'route="/v1/decisions/{decision_id}"' in metrics.text
    assert "no-such-decision" not in metrics.text
    assert "sellerpolicy_http_request_seconds_bucket" in metrics.text
