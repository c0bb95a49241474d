"""The workbench's sign-in, session cookie, roles and CSRF, over HTTP (no browser)."""

from __future__ import annotations

import re
import uuid

import pytest
from servicekit import Service, pack_text

from sellerpolicy.engine.store.keys import Role


def _sign_in(service: Service, role: Role) -> str:
    """Sign in with the key of ``role``; the session's CSRF token (from the page)."""
    service.client.cookies.clear()
    done = service.client.post(
        "/signin", data={"key": service.keys[role], "next": "/packs"}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/packs"
    page = service.client.get("/packs")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def test_pages_need_a_session_and_come_back_after_sign_in(service: Service) -> None:
    service.client.cookies.clear()
    away = service.client.get("/packs/x/versions/1?tab=rules", follow_redirects=False)
    assert away.status_code == 303
    assert away.headers["location"] == "/signin?next=/packs/x/versions/1%3Ftab%3Drules"
    form = service.client.get("/signin")
    assert 'type="password"' in form.text
    assert "script-src 'self'" in form.headers["content-security-policy"]
    assert (
        "unsafe-inline"
        not in form.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
    assert form.headers["x-content-type-options"] == "nosniff"


def test_the_session_cookie_is_http_only_strict_and_expires(service: Service) -> None:
    service.client.cookies.clear()
    done = service.client.post(
        "/signin", data={"key": service.keys[Role.READER]}, follow_redirects=False
    )
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "max-age=" in cookie
    assert "secure" not in cookie  # plain http here; behind https it is set:
    secure = service.client.post(
        "/signin",
        data={"key": service.keys[Role.READER]},
        headers={"x-forwarded-proto": "https"},
        follow_redirects=False,
    )
    assert "secure" in secure.headers["set-cookie"].lower()


def test_a_wrong_key_is_refused_without_saying_which_part(service: Service) -> None:
    service.client.cookies.clear()
    refused = service.client.post("/signin", data={"key": "spk_00000000_nope"})
    assert refused.status_code == 401
    assert "not valid" in refused.text
    assert "sp_session" not in refused.headers.get("set-cookie", "")


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_sign_in_never_redirects_off_site(service: Service, target: str) -> None:
    service.client.cookies.clear()
    done = service.client.post(
        "/signin", data={"key": service.keys[Role.READER], "next": target}, follow_redirects=False
    )
    assert done.headers["location"] == "/packs"


def test_a_reader_sees_no_edit_control(service: Service) -> None:
    _sign_in(service, Role.READER)
    page = service.client.get("/packs")
    assert "Edit a copy" not in page.text
    _sign_in(service, Role.EDITOR)
    assert "Edit a copy" in service.client.get("/packs").text


def test_stored_text_is_escaped(service: Service) -> None:
    pack_id = f"esc-{uuid.uuid4().hex[:6]}"
    hostile = '<img src=x onerror="alert(1)">'
    text = pack_text(pack_id, "1.0.0").replace("title: ", f"title: '{hostile} ' #", 1)
    created = service.client.post(
        "/v1/packs", json={"content": text}, headers=service.auth(Role.EDITOR)
    )
    assert created.status_code == 201, created.text
    _sign_in(service, Role.READER)
    page = service.client.get(f"/packs/{pack_id}/versions/1.0.0")
    assert page.status_code == 200
    assert hostile not in page.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page.text


def test_sign_out_needs_the_csrf_token_and_ends_the_session(service: Service) -> None:
    csrf = _sign_in(service, Role.READER)
    forged = service.client.post("/signout", data={"csrf": "guess"})
    assert forged.status_code == 403
    cross = service.client.post(
        "/signout", data={"csrf": csrf}, headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert service.client.get("/packs", follow_redirects=False).status_code == 200
    out = service.client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert service.client.get("/packs", follow_redirects=False).status_code == 303


def test_a_revoked_key_ends_its_sessions(service: Service) -> None:
    record, key = service.state.keys.create(Role.READER, actor="test")
    service.client.cookies.clear()
    service.client.post("/signin", data={"key": key}, follow_redirects=False)
    assert service.client.get("/packs", follow_redirects=False).status_code == 200
    service.state.keys.revoke(record.id, actor="test")
    assert service.client.get("/packs", follow_redirects=False).status_code == 303


def test_api_docs_are_served_without_a_cdn(service: Service) -> None:
    docs = service.client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    bundle = service.client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert bundle.headers["x-content-type-options"] == "nosniff"
    assert service.client.get("/redoc").status_code == 404
