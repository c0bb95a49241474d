"""Sign-in, sessions, roles and CSRF for the workbench pages.

A person signs in with an API key; the server keeps the session
(:class:`~sellerpolicy.engine.store.sessions.SessionStore`) and the browser
gets only its token, in a cookie that is ``HttpOnly`` (no script reads it),
``SameSite=Strict`` (no other site sends it), ``Secure`` when the request
came over HTTPS (directly or as a proxy's ``X-Forwarded-Proto`` says), and
expires with the session.

Every page checks the session's role on the server, whatever the page
shows: a reader who forges an approve request gets 403. Every state-changing
request carries the session's CSRF token (a hidden form field, or the
``X-CSRF-Token`` header from the page's scripts) and, when the browser sends
one, an ``Origin`` of this very site; a cross-site post fails both.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from functools import cache
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from sellerpolicy.engine.service.state import ServiceState, state_of
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.sessions import Session, SessionStore

__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "Forbidden",
    "SignInRequired",
    "check_csrf",
    "optional_session",
    "require_page",
    "secure_request",
    "sessions_of",
]

COOKIE = "sp_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):  # noqa: N818 - an outcome, handled as a redirect
    """No live session: the browser is sent to the sign-in page, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path

    @property
    def location(self) -> str:
        """The sign-in page, with where to return afterwards."""
        return f"/signin?next={quote(self.next_path, safe='/')}"


class Forbidden(Exception):  # noqa: N818 - an outcome, rendered as a 403 page
    """The session may not do this (its role), or the request is forged (CSRF)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@cache
def _sessions(state: ServiceState) -> SessionStore:
    return SessionStore(state.store.engine, state.store.where)


def sessions_of(request: Request) -> SessionStore:
    """The session store of the app serving ``request``."""
    return _sessions(state_of(request))


async def optional_session(request: Request) -> Session | None:
    """The live session of the request's cookie, or None."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    state = state_of(request)
    store = sessions_of(request)
    return await run_in_threadpool(store.get, token, now=state.clock())


def require_page(role: Role) -> Callable[[Request], Coroutine[Any, Any, Session]]:
    """A dependency: the session, which must have ``role`` (sign in first, else 403)."""

    async def page_session(request: Request) -> Session:
        session = await optional_session(request)
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequired(target if request.method == "GET" else "/")
        if session.role < role:
            raise Forbidden(
                f"this needs the {role.label} role; you are signed in as {session.role.label}"
            )
        return session

    return page_session


def secure_request(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly or through a proxy)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def check_csrf(request: Request, session: Session, token: str | None) -> None:
    """Forbidden unless ``token`` is the session's CSRF token and the origin is this site."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        parts = urlsplit(origin)
        if parts.netloc != request.headers.get("host", request.url.netloc):
            raise Forbidden("a request from another site is refused")
    elif origin == "null":
        raise Forbidden("a request from another site is refused")
    if not token or not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise Forbidden("the form has expired or did not come from this site: reload the page")
