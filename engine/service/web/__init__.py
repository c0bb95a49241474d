"""The workbench: web pages for compliance teams and account managers, at ``/``.

Served by ``sellerpolicy serve`` beside the API (which stays under ``/v1``),
on the same stores, keys and roles. Pages are rendered on the server
(Jinja2); the only scripts are this package's own static files and the
vendored editor (Ace), all served from ``/static``: nothing comes from a
CDN, and the API docs at ``/docs`` use a vendored Swagger UI too.

:func:`install_workbench` adds the pages, the static files and the
handlers that turn "sign in first" into a redirect and "not allowed" into a
403 page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .decisions import router as decisions_router
from .editor import router as editor_router
from .pages import router as pages_router
from .render import Static, page, security_headers
from .review import router as review_router
from .sellers import router as sellers_router
from .session import Forbidden, SignInRequired, optional_session

__all__ = ["install_workbench"]

_STATIC = Path(__file__).resolve().parent / "static"

_DOCS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sellerpolicy API</title>
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script></body></html>
"""


def install_workbench(app: FastAPI) -> None:
    """Add the workbench's pages, static files, error pages and the offline API docs."""
    app.include_router(pages_router)
    app.include_router(sellers_router)
    app.include_router(decisions_router)
    app.include_router(editor_router)
    app.include_router(review_router)
    app.mount("/static", Static(directory=_STATIC), name="static")

    @app.exception_handler(SignInRequired)
    async def sign_in(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(exc.location, status_code=303, headers=security_headers())

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        session = await optional_session(request)
        return page(
            request, "error.html.j2", {"message": exc.message}, session=session, status_code=403
        )

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    async def docs() -> Response:
        return HTMLResponse(_DOCS, headers=security_headers())
