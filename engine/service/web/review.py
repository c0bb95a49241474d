"""Change review: what a version changes and does, then approve, activate or schedule it.

The page shows the semantic diff of a version against the active one, and
its impact on the sellers of the decision log (``POST .../impact``'s
report): the transition matrix, the changed sellers with both explanations,
each moved threshold's metric distribution with the old and new lines, and a
threshold sweep. Replaying a large decision log takes seconds, so the report
is computed in a background thread on the first view and kept for ten
minutes; until it is ready the page says so and refreshes itself (no
script). Approving and activating go through the same functions as the API
(:func:`~sellerpolicy.engine.service.activation.approve_version`,
:func:`~sellerpolicy.engine.service.activation.activate_version`), so the
same rules hold: another admin approves, activation needs the approval.
"""

from __future__ import annotations

import base64
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated

import numpy as np
import pyarrow as pa
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sellerpolicy.engine.change.charts import ChartFormat, sweep_chart, threshold_histogram
from sellerpolicy.engine.change.impact import impact
from sellerpolicy.engine.change.report import ImpactReport, ThresholdChange
from sellerpolicy.engine.change.sweep import sweep
from sellerpolicy.engine.service.activation import activate_version, approve_version
from sellerpolicy.engine.service.impact import replay_population
from sellerpolicy.engine.service.problems import ProblemError
from sellerpolicy.engine.service.state import ServiceState, state_of
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.packs import PackNotFoundError, PackState
from sellerpolicy.engine.store.sessions import Session
from sellerpolicy.rules.diff import diff_packs
from sellerpolicy.rules.model import CompiledPack

from .editor import run_fixture_cases
from .render import page, security_headers
from .session import CSRF_FIELD, check_csrf, require_page

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Reader = Annotated[Session, Depends(require_page(Role.READER))]
Admin = Annotated[Session, Depends(require_page(Role.ADMIN))]

EXPLAINED = 20  # changed sellers shown with both explanations
KEEP_SECONDS = 600
_SWEEP_STEPS = 21


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart for the page: its title, alternative text and SVG (base64)."""

    title: str
    alt: str
    svg: str


@dataclass(frozen=True, slots=True)
class Replay:
    """The impact of a version on the decision log, with its charts, or why there is none."""

    report: ImpactReport | None = None
    error: str | None = None
    charts: tuple[tuple[ThresholdChange, Chart, Chart | None], ...] = field(default=())


def _b64(svg: bytes) -> str:
    return base64.b64encode(svg).decode("ascii")


def _sweep(
    new: CompiledPack, change: ThresholdChange, facts: pa.Table, as_of: date
) -> Chart | None:
    """The sweep of a moved threshold from half the lower to 1.5 times the higher value."""
    low, high = sorted((change.old, change.new))
    start, stop = low * 0.5, high * 1.5 if high > 0 else 1.0
    if change.percent:
        stop = min(stop, 1.0)
    grid = np.linspace(start, stop, _SWEEP_STEPS).tolist()
    try:
        result = sweep(new, change.rule, facts, as_of, grid, metric=change.fact)
    except ValueError:
        return None
    steps = result.steps
    svg = sweep_chart(
        [s.threshold for s in steps],
        [s.fired for s in steps],
        current=change.new,
        metric=change.metric,
        title=f"{change.rule}: sellers it fires on, by threshold",
        percent=change.percent,
        fmt=ChartFormat.SVG,
    )
    alt = f"Sellers {change.rule} fires on as its {change.metric} threshold moves"
    return Chart(f"Threshold sweep of {change.rule}", alt, _b64(svg))


def _replay(state: ServiceState, pack_id: str, version: str, as_of: date) -> Replay:
    try:
        new, baseline, population = replay_population(state, pack_id, version)
    except ProblemError as exc:
        return Replay(error=exc.detail)
    report = impact(new, baseline, population, as_of, store=state.store, explain_limit=EXPLAINED)
    charts = []
    for change in report.thresholds:
        histogram = threshold_histogram(
            change.edges, change.counts, metric=change.metric, old=change.old, new=change.new,
            percent=change.percent, fmt=ChartFormat.SVG,
        )  # fmt: skip
        alt = f"Distribution of {change.metric} with the old and new thresholds"
        shown = Chart(f"{change.metric} over the sellers", alt, _b64(histogram))
        charts.append((change, shown, _sweep(new, change, population.tables[0], as_of)))
    return Replay(report=report, charts=tuple(charts))


class Replays:
    """Impact replays by (version, active version, day, ten-minute slot), one at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="review")
        self._jobs: dict[tuple[object, ...], Future[Replay]] = {}

    def get(self, state: ServiceState, pack_id: str, version: str, active: str) -> Future[Replay]:
        """The replay of the version against the active one (``active``: its digest)."""
        now = state.clock()
        key = (pack_id, version, active, now.date(), int(now.timestamp() // KEEP_SECONDS))
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                for old in [k for k in self._jobs if k[:2] == key[:2]]:
                    del self._jobs[old]
                job = self._pool.submit(_replay, state, pack_id, version, now.date())
                self._jobs[key] = job
            return job


@cache
def _replays(_state: ServiceState) -> Replays:
    return Replays()


@router.get("/packs/{pack_id}/versions/{version}/review", response_class=HTMLResponse)
def review_page(request: Request, pack_id: str, version: str, session: Reader) -> Response:
    """The diff against the active version, the impact, approvals, and the admin's controls."""
    state = state_of(request)
    state.apply_due_schedules(pack_id)
    try:
        stored = state.packs.get(pack_id, version)
    except PackNotFoundError as exc:
        return page(request, "error.html.j2", {"message": str(exc)}, session=session,
                    status_code=404)  # fmt: skip
    try:
        active = state.packs.active(pack_id)
    except PackNotFoundError:
        active = None
    new = state.compiled.get(stored)
    changes = diff_packs(state.compiled.get(active), new) if active is not None else []
    replay: Replay | None = None
    pending = False
    if active is not None and active.version != version:
        job = _replays(state).get(state, pack_id, version, active.digest)
        try:
            replay = job.result(timeout=1.5)
        except TimeoutError:
            pending = True
    approvals = state.approvals.approvals(pack_id, version)
    context = {
        "stored": stored,
        "pack": new,
        "active": active,
        "changes": changes,
        "replay": replay,
        "pending": pending,
        "approvals": approvals,
        "approved": any(a.approver != stored.author for a in approvals),
        "require_approval": state.settings.require_approval,
        "is_active": stored.state is PackState.ACTIVE,
        "mine": stored.author == session.actor,
        "fixtures": run_fixture_cases(stored.content),
        "message": request.query_params.get("done"),
        "problem": None,
    }
    return page(request, "review.html.j2", context, session=session)


def _back(pack_id: str, version: str, done: str) -> Response:
    target = f"/packs/{pack_id}/versions/{version}/review?done={done}"
    return RedirectResponse(target, status_code=303, headers=security_headers())


def _refused(request: Request, session: Session, exc: ProblemError) -> Response:
    return page(request, "error.html.j2", {"message": exc.detail}, session=session,
                status_code=exc.status)  # fmt: skip


@router.post("/packs/{pack_id}/versions/{version}/approve", response_class=HTMLResponse)
def approve(  # noqa: PLR0917 - FastAPI passes path and form fields by name
    request: Request,
    pack_id: str,
    version: str,
    session: Admin,
    comment: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    """Approve the version with a comment (an admin other than its uploader)."""
    check_csrf(request, session, csrf)
    if not comment.strip():
        return _refused(request, session, ProblemError(422, "invalid", "a comment is required"))
    try:
        approve_version(
            state_of(request), pack_id, version, approver=session.actor, comment=comment.strip()
        )
    except ProblemError as exc:
        return _refused(request, session, exc)
    return _back(pack_id, version, "approved")


@router.post("/packs/{pack_id}/versions/{version}/activate", response_class=HTMLResponse)
def activate(  # noqa: PLR0917 - FastAPI passes path and form fields by name
    request: Request,
    pack_id: str,
    version: str,
    session: Admin,
    at: Annotated[str, Form(max_length=40)] = "",
    csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    """Activate now (no ``at``) or at an instant given in UTC (``2027-01-01T00:00``)."""
    check_csrf(request, session, csrf)
    when = None
    if at.strip():
        try:
            when = datetime.fromisoformat(at.strip())
        except ValueError:
            problem = ProblemError(422, "invalid", f"{at!r} is not a date and time")
            return _refused(request, session, problem)
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    try:
        _stored, scheduled = activate_version(
            state_of(request), pack_id, version, actor=session.actor, at=when
        )
    except ProblemError as exc:
        return _refused(request, session, exc)
    return _back(pack_id, version, "scheduled" if scheduled else "activated")
