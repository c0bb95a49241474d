"""The pack editor: YAML with located diagnostics as the author types, fixtures, save a draft.

The page loads a stored version's YAML into the editor (Ace, vendored). The
page's script sends the text to :func:`validate` as the author types
(debounced): the same compiler as ``sellerpolicy validate`` and ``POST
/v1/packs:validate`` answers with every diagnostic located at its line and
column, "did you mean" hints included, which the editor marks in its gutter.
:func:`run_fixtures` runs the pack's fixture cases (the shipped ``tests/``
of the pack with that id, if it has any) against the text as it stands, and
"Save as draft" stores it exactly like ``POST /v1/packs`` (checked, fixtures
a new immutable version). A failing fixture does not stop a draft (a
change of threshold fails the cases written for the old one); the change
review shows the fixture results beside the impact, for the approver.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from sellerpolicy.engine.evaluation.packtest import run_case
from sellerpolicy.engine.service.state import state_of
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.packs import PackConflictError, PackNotFoundError, compile_content
from sellerpolicy.engine.store.sessions import Session
from sellerpolicy.rules import load_pack, load_packtest, shipped_packs
from sellerpolicy.rules.catalog import CATALOG
from sellerpolicy.rules.diagnostics import Diagnostic, PackError
from sellerpolicy.rules.model import ACTIONS

from .render import page, security_headers
from .session import CSRF_FIELD, CSRF_HEADER, check_csrf, require_page

__all__ = ["router", "run_fixture_cases"]

router = APIRouter(include_in_schema=False)

Editor = Annotated[Session, Depends(require_page(Role.EDITOR))]
MAX_CONTENT = 1_000_000


class Text(BaseModel):
    """The editor's text, sent by its script."""

    model_config = ConfigDict(extra="forbid")
    content: str = Field(max_length=MAX_CONTENT)


def _diagnostics(content: str) -> tuple[Any, list[Diagnostic]]:
    """The compiled pack (or None) and every diagnostic of ``content``."""
    try:
        pack, warnings = compile_content(content, "pack.yaml")
    except PackError as exc:
        return None, list(exc.diagnostics)
    return pack, list(warnings)


def _shown(found: list[Diagnostic]) -> list[dict[str, object]]:
    return [
        {
            "line": d.line,
            "column": d.column,
            "level": d.level.value,
            "code": d.code,
            "path": d.json_path,
            "message": d.message,
            "hint": d.hint,
        }
        for d in sorted(found, key=lambda d: (d.line, d.column))
    ]


def _fixtures(pack_id: str) -> list[tuple[str, Any]]:
    """(file name, PackTest document) of the shipped fixtures of the pack with this id."""
    for path in shipped_packs():
        if load_pack(path).id != pack_id:
            continue
        return [
            (f"{path.parent.name}/tests/{test.name}", load_packtest(test))
            for test in sorted((path.parent / "tests").glob("*.yaml"))
        ]
    return []


def run_fixture_cases(content: str) -> dict[str, object]:
    pack, _ = _diagnostics(content)
    if pack is None:
        return {"ok": False, "error": "the pack has errors: fix them first", "cases": []}
    cases: list[dict[str, object]] = []
    for name, document in _fixtures(pack.id):
        for case in document.cases:
            result = run_case(pack, case, name)
            cases.append(
                {
                    "file": name,
                    "name": case.name,
                    "line": case.line,
                    "passed": result.passed,
                    "problems": [
                        f"{m.what}: expected {m.expected}, got {m.got}" for m in result.mismatches
                    ],
                }
            )
    if not cases:
        return {"ok": True, "cases": [], "note": f"no fixtures are shipped for {pack.id}"}
    return {"ok": all(c["passed"] for c in cases), "cases": cases}


def _checked(request: Request, session: Session, token: str | None) -> JSONResponse | None:
    """A 403 JSON answer when the request is forged, else None."""
    from .session import Forbidden  # noqa: PLC0415 - the one name, local to this check

    try:
        check_csrf(request, session, token)
    except Forbidden as exc:
        return JSONResponse({"error": exc.message}, status_code=403, headers=security_headers())
    return None


@router.get("/packs/{pack_id}/edit", response_class=HTMLResponse)
def editor_page(
    request: Request,
    pack_id: str,
    session: Editor,
    version: Annotated[str | None, Query(alias="from", max_length=100)] = None,
) -> Response:
    """The editor, holding the text of ``?from=VERSION`` (default: the active version)."""
    state = state_of(request)
    try:
        stored = state.packs.get(pack_id, version) if version else state.packs.active(pack_id)
    except PackNotFoundError as exc:
        return page(request, "error.html.j2", {"message": str(exc)}, session=session,
                    status_code=404)  # fmt: skip
    return _editor(request, session, pack_id, stored.version, stored.content, [], None)


def _editor(  # noqa: PLR0917 - the page's whole state
    request: Request,
    session: Session,
    pack_id: str,
    base: str,
    content: str,
    problems: list[dict[str, object]],
    error: str | None,
    status_code: int = 200,
) -> Response:
    catalog = {
        "metrics": sorted(CATALOG),
        "actions": sorted(ACTIONS),
    }
    context = {
        "pack_id": pack_id,
        "base": base,
        "content": content,
        "problems": problems,
        "error": error,
        "catalog": json.dumps(catalog),
        "csrf_header": CSRF_HEADER,
    }
    return page(request, "editor.html.j2", context, session=session, status_code=status_code)


@router.post("/workbench/validate")
def validate(request: Request, body: Text, session: Editor) -> Response:
    """Every diagnostic of the text, located (the editor's live check)."""
    if (refused := _checked(request, session, request.headers.get(CSRF_HEADER))) is not None:
        return refused
    pack, found = _diagnostics(body.content)
    answer = {
        "ok": pack is not None,
        "pack": None if pack is None else {"id": pack.id, "version": pack.version},
        "diagnostics": _shown(found),
    }
    return JSONResponse(answer, headers=security_headers())


@router.post("/workbench/fixtures")
def run_fixtures(request: Request, body: Text, session: Editor) -> Response:
    """The pack's fixture cases run against the text as it stands."""
    if (refused := _checked(request, session, request.headers.get(CSRF_HEADER))) is not None:
        return refused
    return JSONResponse(run_fixture_cases(body.content), headers=security_headers())


@router.post("/packs/{pack_id}/drafts", response_class=HTMLResponse)
def save_draft(  # noqa: PLR0917 - FastAPI passes the form fields by name
    request: Request,
    pack_id: str,
    session: Editor,
    content: Annotated[str, Form(max_length=MAX_CONTENT)],
    base: Annotated[str, Form(max_length=100)] = "",
    csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    """Check the text and store it as a draft version (as ``POST /v1/packs``)."""
    check_csrf(request, session, csrf)
    state = state_of(request)
    pack, found = _diagnostics(content)
    if pack is None:
        error = "The pack has errors; nothing was saved."
        return _editor(request, session, pack_id, base, content, _shown(found), error, 422)
    if pack.id != pack_id:
        error = f"The text is pack {pack.id!r}, not {pack_id!r}; nothing was saved."
        return _editor(request, session, pack_id, base, content, _shown(found), error, 422)
    try:
        state.packs.add(pack, content, author=session.actor, at=state.clock())
    except PackConflictError as exc:
        error = f"{exc}."
        return _editor(request, session, pack_id, base, content, _shown(found), error, 409)
    finally:
        state.forget_packs()
    target = f"/packs/{pack.id}/versions/{pack.version}"
    return RedirectResponse(target, status_code=303, headers=security_headers())
