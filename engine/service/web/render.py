"""Pages: templates rendered with the security headers every workbench response carries.

Templates are Jinja2 with autoescaping on (:func:`page`): every value from
the store or a pack (a seller id, a rule title, a comment) is text, never
markup. Each HTML response carries a Content-Security-Policy that allows
scripts only from this site's ``/static`` files (no inline script at all),
forbids framing, and ``X-Content-Type-Options: nosniff``; static files carry
the no-sniff header and a day of caching.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.sessions import Session

from .session import CSRF_FIELD

__all__ = ["CSP", "SECURITY_HEADERS", "Static", "page", "security_headers"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def security_headers() -> dict[str, str]:
    """The headers of every workbench page (a copy: callers may add to it)."""
    return dict(SECURITY_HEADERS)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:,}"


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("sellerpolicy.engine.service.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = _when
    environment.filters["number"] = _number
    environment.globals["Role"] = Role
    return environment


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    session: Session | None,
    status_code: int = 200,
) -> HTMLResponse:
    """A rendered page with the workbench's security headers."""
    body = (
        _environment()
        .get_template(template)
        .render(
            request=request,
            session=session,
            csrf_field=CSRF_FIELD,
            path=request.url.path,
            **context,
        )
    )
    return HTMLResponse(body, status_code=status_code, headers=security_headers())


class Static(StaticFiles):
    """The workbench's static files, with no-sniff and a day of caching."""

    async def get_response(self, path: str, scope: Scope) -> Any:
        """The file's response, with the extra headers."""
        response = await super().get_response(path, scope)
        response.headers["x-content-type-options"] = "nosniff"
        response.headers.setdefault("cache-control", "public, max-age=86400")
        return response
