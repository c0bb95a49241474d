"""Pack versions over HTTP: validate, upload as draft (checked and fixture-tested),
read, activate (audited), and the errors of each step."""

from __future__ import annotations

import uuid

from servicekit import LATER_AS_OF, Service, fixture_texts, healthy_facts, pack_text

from sellerpolicy.engine.store.keys import Role


def _new_id() -> str:
    return f"pk-{uuid.uuid4().hex[:8]}"


def test_upload_activate_and_evaluate_a_new_version(service: Service, seller: str) -> None:
    """An upload with passing fixtures is a draft that cannot evaluate; once activated it
    does, the previous version is retired, and the audit trail names who did what."""
    pack_id = _new_id()
    editor, admin = service.auth(Role.EDITOR), service.auth(Role.ADMIN)
    client = service.client
    for version in ("1.0.0", "1.1.0"):
        body = {"content": pack_text(pack_id, version), "fixtures": fixture_texts(pack_id)}
        created = client.post("/v1/packs", json=body, headers=editor)
        assert created.status_code == 201, created.text
        assert created.json()["state"] == "draft"
    evaluation = {
        "pack": f"{pack_id}@1.1.0",
        "as_of": LATER_AS_OF,
        "sellers": [{"seller_id": seller, "facts": healthy_facts()}],
    }
    draft = client.post("/v1/evaluations", json=evaluation, headers=admin)
    assert draft.status_code == 409
    assert "draft" in draft.json()["detail"]
    for version in ("1.0.0", "1.1.0"):
        done = client.post(f"/v1/packs/{pack_id}/versions/{version}/activate", headers=admin)
        assert done.json()["state"] == "active"
    evaluation["pack"] = pack_id
    decided = client.post("/v1/evaluations", json=evaluation, headers=admin).json()
    assert decided["pack"]["version"] == "1.1.0"
    listing = client.get("/v1/packs", headers=service.auth(Role.READER)).json()
    summary = next(p for p in listing["packs"] if p["pack_id"] == pack_id)
    assert summary["active_version"] == "1.1.0"
    assert {v["version"]: v["state"] for v in summary["versions"]} == {
        "1.0.0": "retired",
        "1.1.0": "active",
    }
    one = client.get(f"/v1/packs/{pack_id}/versions/1.0.0", headers=service.auth(Role.READER))
    assert one.json()["content"] == pack_text(pack_id, "1.0.0")
    trail = [(e.action, e.from_version, e.to_version) for e in service.state.packs.audit(pack_id)]
    assert trail == [
        ("upload", None, "1.0.0"),
        ("upload", None, "1.1.0"),
        ("activate", None, "1.0.0"),
        ("activate", "1.0.0", "1.1.0"),
    ]
    assert all(e.actor.startswith("key:") for e in service.state.packs.audit(pack_id))


def test_an_invalid_pack_is_422_with_its_diagnostics(service: Service) -> None:
    """A pack with a misspelt metric is refused with line, JSON path and a hint; nothing stored."""
    pack_id = _new_id()
    content = pack_text(pack_id, "1.0.0").replace(
        "metric: pre_fulfillment_cancel_rate", "metric: pre_fulfilment_cancel_rate"
    )
    for path in ("/v1/packs", "/v1/packs:validate"):
        response = service.client.post(
            path, json={"content": content}, headers=service.auth(Role.EDITOR)
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        error = response.json()["errors"][0]
        assert error["line"] > 1
        assert error["json_path"].startswith("$.spec.metrics")
        assert "pre_fulfillment_cancel_rate" in error["message"]
    assert service.state.packs.versions(pack_id) == []


def test_a_failing_fixture_blocks_the_upload(service: Service) -> None:
    """A fixture case whose expectation the pack does not meet is a 422 naming the case."""
    pack_id = _new_id()
    fixtures = [fixture_texts(pack_id)[0].replace("status: healthy", "status: critical", 1)]
    response = service.client.post(
        "/v1/packs",
        json={"content": pack_text(pack_id, "1.0.0"), "fixtures": fixtures},
        headers=service.auth(Role.EDITOR),
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "fixtures[0]"
    assert "expected critical" in error["message"]
    wrong_pack = service.client.post(
        "/v1/packs:validate",
        json={"content": pack_text(pack_id, "1.0.0"), "fixtures": fixture_texts("other")},
        headers=service.auth(Role.EDITOR),
    )
    assert wrong_pack.status_code == 422
    assert "not" in wrong_pack.json()["errors"][0]["message"]


def test_validate_stores_nothing_and_versions_are_immutable(service: Service) -> None:
    """Validation reports the fixture count without storing; a second upload of the same
    id and version is a 409; activating an unknown version is a 404."""
    pack_id = _new_id()
    body = {"content": pack_text(pack_id, "1.0.0"), "fixtures": fixture_texts(pack_id)}
    editor = service.auth(Role.EDITOR)
    checked = service.client.post("/v1/packs:validate", json=body, headers=editor)
    assert checked.status_code == 200
    assert checked.json()["fixture_cases"] > 5
    assert service.state.packs.versions(pack_id) == []
    assert service.client.post("/v1/packs", json=body, headers=editor).status_code == 201
    again = service.client.post("/v1/packs", json=body, headers=editor)
    assert again.status_code == 409
    unknown = service.client.post(
        f"/v1/packs/{pack_id}/versions/9.9.9/activate", headers=service.auth(Role.ADMIN)
    )
    assert unknown.status_code == 404


def test_template_attacks_over_http_are_a_quick_422(service: Service) -> None:
    """packs:validate with a sandbox-escape or a gigabyte-width template: a 422 naming
    the field, at once (it used to render, or take gigabytes and seconds)."""
    import time  # noqa: PLC0415

    pack_id = _new_id()
    text = pack_text(pack_id, "1.0.0")
    folded = "explanation: >-\n"
    assert folded in text
    for attack in ("{value.__format__.__globals__}", "{value:>1000000000}", "{value!r}"):
        # the folded text that follows becomes a second paragraph of the same scalar
        attacked = text.replace(folded, f"explanation: >-\n        {attack}\n\n", 1)
        started = time.perf_counter()
        response = service.client.post(
            "/v1/packs:validate", json={"content": attacked}, headers=service.auth(Role.EDITOR)
        )
        assert time.perf_counter() - started < 2
        assert response.status_code == 422, response.text
        assert "explanation" in response.text
        assert "bad_template" in response.text


def test_upload_with_an_unreadable_version_is_a_422(service: Service) -> None:
    """A version that could never be read back or pinned (a path, an '@', a newline,
    101 characters) is refused at upload, not stored (it was a 500 on PostgreSQL)."""
    pack_id = _new_id()
    for version in ('"../../x/y"', '"1@2"', '"1\\n2"', '"' + "9" * 101 + '"'):
        body = {"content": pack_text(pack_id, version), "fixtures": fixture_texts(pack_id)}
        response = service.client.post("/v1/packs", json=body, headers=service.auth(Role.EDITOR))
        assert response.status_code == 422, response.text
        assert "metadata.version" in response.text
    assert service.state.packs.versions(pack_id) == []
