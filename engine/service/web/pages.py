"""Workbench pages: sign in and out, the packs with their versions, a pack as people read it.

Each page is a view of what the API already does, over the same stores: the
pack list is ``GET /v1/packs`` with the approvals and activations beside each
version; a pack page is the compiled pack, written out rule by rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sellerpolicy.engine.evaluation.explain import window_days
from sellerpolicy.engine.service.state import ServiceState, state_of
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.packs import PackNotFoundError, PackState, PackVersion
from sellerpolicy.engine.store.sessions import Session
from sellerpolicy.rules.catalog import AS_OF_ONLY, MetricKind
from sellerpolicy.rules.diff import describe_condition, describe_range
from sellerpolicy.rules.durations import format_duration
from sellerpolicy.rules.model import CompiledPack, Rule, condition_metrics
from sellerpolicy.rules.windows import window_text

from .render import page, security_headers
from .session import (
    COOKIE,
    CSRF_FIELD,
    check_csrf,
    optional_session,
    require_page,
    secure_request,
    sessions_of,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Reader = Annotated[Session, Depends(require_page(Role.READER))]


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never ``//evil``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/packs"
    return target


@router.get("/", response_class=HTMLResponse)
async def home() -> Response:
    """The workbench starts at the packs."""
    return RedirectResponse("/packs", status_code=303, headers=security_headers())


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form (an API key)."""
    session = await optional_session(request)
    if session is not None:
        return RedirectResponse(_safe_next(next), status_code=303, headers=security_headers())
    return page(request, "signin.html.j2", {"next": _safe_next(next), "error": None}, session=None)


@router.post("/signin", response_class=HTMLResponse)
async def signin(
    request: Request,
    key: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/packs",
) -> Response:
    """Check the key, start a session, set its cookie, go where the person was headed."""
    state = state_of(request)
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
        return page(
            request, "error.html.j2", {"message": "a request from another site is refused"},
            session=None, status_code=403,
        )  # fmt: skip
    found = await state.authenticate(key.strip()) if key.strip() else None
    if found is None:
        context = {"next": _safe_next(next), "error": "That key is not valid (or was revoked)."}
        return page(request, "signin.html.j2", context, session=None, status_code=401)
    token, session = await run_in_threadpool(sessions_of(request).create, found, now=state.clock())
    response = RedirectResponse(_safe_next(next), status_code=303, headers=security_headers())
    response.set_cookie(
        COOKIE,
        token,
        max_age=int((session.expires_at - state.clock()).total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure_request(request),
        path="/",
    )
    return response


@router.post("/signout", response_class=HTMLResponse)
async def signout(
    request: Request,
    session: Reader,
    csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    """End the session and clear its cookie."""
    check_csrf(request, session, csrf)
    await run_in_threadpool(sessions_of(request).delete, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/signin", status_code=303, headers=security_headers())
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One version in the pack list, with who did what to it and when."""

    version: PackVersion
    approvals: list[tuple[str, datetime]]
    activated: tuple[str, datetime] | None

    @property
    def state(self) -> str:
        """draft, scheduled, active or retired."""
        if self.version.state is PackState.DRAFT and self.version.activate_at is not None:
            return "scheduled"
        return self.version.state.value


def _pack_rows(state: ServiceState) -> dict[str, list[VersionRow]]:
    by_pack: dict[str, list[VersionRow]] = {}
    for version in state.packs.versions():
        approvals = [
            (a.approver, a.at) for a in state.approvals.approvals(version.pack_id, version.version)
        ]
        latest = state.activations.latest(version.pack_id, version.version)
        activated = (latest.actor, latest.at) if latest is not None else None
        by_pack.setdefault(version.pack_id, []).append(VersionRow(version, approvals, activated))
    for rows in by_pack.values():
        rows.reverse()  # newest first
    return by_pack


@router.get("/packs", response_class=HTMLResponse)
def packs_page(request: Request, session: Reader) -> Response:
    """Every pack with its versions: state, uploader, approvers, activation."""
    state = state_of(request)
    state.apply_due_schedules()
    return page(request, "packs.html.j2", {"packs": _pack_rows(state)}, session=session)


@dataclass(frozen=True, slots=True)
class RuleView:
    """A rule as a person reads it."""

    rule: Rule
    condition: str
    window: str
    ladder: list[tuple[str, str]]  # (when, actions)


def _window(pack: CompiledPack, rule: Rule) -> str:
    names = []
    read = set(condition_metrics(rule.when))
    for use in pack.metrics:
        if use.name in read:
            lag = f", {format_duration(use.lag)} behind" if use.lag else ""
            if use.metric in AS_OF_ONLY:
                names.append(f"{use.name}: as of the evaluation date")
                continue
            if use.months is not None:  # whole calendar months, not a nominal day count
                span = f"{use.months} calendar month{'s' if use.months != 1 else ''}"
            else:
                span = f"{window_days(use):g} days"
            names.append(f"{use.name}: {span}{lag}")
    return "; ".join(names)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def rule_views(pack: CompiledPack) -> list[RuleView]:
    """The pack's rules, each with its condition, windows and ladder written out."""
    views = []
    for rule in pack.rules:
        ladder = []
        if rule.escalation is not None:
            for step in rule.escalation.steps:
                ladder.append((f"{_ordinal(step.after)} firing on", ", ".join(step.actions)))
            ladder.append(("lapses after", format_duration(rule.escalation.lapse)))
        views.append(
            RuleView(rule, describe_condition(rule.when, pack), _window(pack, rule), ladder)
        )
    return views


@router.get("/packs/{pack_id}/versions/{version}", response_class=HTMLResponse)
def pack_page(request: Request, pack_id: str, version: str, session: Reader) -> Response:
    """A pack version as people read it: rules, windows, ladders, scores, sources."""
    state = state_of(request)
    try:
        stored = state.packs.get(pack_id, version)
    except PackNotFoundError as exc:
        return page(request, "error.html.j2", {"message": str(exc)}, session=session,
                    status_code=404)  # fmt: skip
    pack = state.compiled.get(stored)
    percent = {u.name for u in pack.metrics if u.kind in (MetricKind.RATE, MetricKind.GROWTH)}
    context = {
        "stored": stored,
        "pack": pack,
        "rules": rule_views(pack),
        "percent": percent,
        "band": describe_range,
        "daily_window": lambda score: window_text(pack.metric(score.average)),
    }
    return page(request, "pack.html.j2", context, session=session)
