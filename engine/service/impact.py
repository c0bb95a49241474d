"""What a stored version would do, against the active one: ``POST .../versions/{v}/impact``.

The population is the decision log's: the facts stored with each seller's
latest decision of the pack id (complete runs only, optionally since a
date), so the service needs no raw data. Both the version and the active
one judge those facts as of the request's ``as_of`` (default: today, by the
service's clock), with the escalation history the store holds. The same
report is computed when an admin approves a version and is stored with the
approval (:func:`impact_for_approval`), so the approver sees what they
approve; the workbench's change review shows it too.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from sellerpolicy.engine.change.impact import impact
from sellerpolicy.engine.change.population import Population, population_from_replay
from sellerpolicy.engine.change.report import ImpactReport
from sellerpolicy.engine.errors import FactsError
from sellerpolicy.engine.store.keys import ApiKey, Role
from sellerpolicy.engine.store.packs import PackNotFoundError
from sellerpolicy.rules.model import CompiledPack

from .problems import ProblemError, problem_responses
from .state import ServiceState, require, state_of

__all__ = [
    "ImpactRequest",
    "impact_for_approval",
    "replay_impact",
    "replay_population",
    "router",
]

router = APIRouter(tags=["packs"])

PackId = Annotated[str, PathParam(min_length=1, max_length=200)]
Version = Annotated[str, PathParam(min_length=1, max_length=100)]


class ImpactRequest(BaseModel):
    """Options of an impact replay (all optional)."""

    model_config = ConfigDict(extra="forbid")

    as_of: date | None = Field(default=None, description="evaluation date (default: today, UTC)")
    since: date | None = Field(
        default=None, description="only sellers whose latest decision is as of this date or later"
    )
    explain_limit: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description="changed sellers explained in full (all are listed)",
    )


def replay_population(
    state: ServiceState, pack_id: str, version: str, *, since: date | None = None
) -> tuple[CompiledPack, CompiledPack, Population]:
    """The version, the active one, and the decision log's population for both.

    ProblemError: 404 for an unknown version, 409 when the pack has no
    active version, 422 when the log holds no decision to replay or lacks a
    fact the version reads.
    """
    state.apply_due_schedules(pack_id)
    try:
        stored = state.packs.get(pack_id, version)
    except PackNotFoundError as exc:
        raise ProblemError(404, "pack_not_found", str(exc)) from exc
    try:
        active = state.packs.active(pack_id)
    except PackNotFoundError as exc:
        raise ProblemError(409, "no_active", f"{exc}: there is nothing to compare with") from exc
    new, baseline = state.compiled.get(stored), state.compiled.get(active)
    start = datetime.combine(since, time.min, tzinfo=UTC) if since is not None else None
    try:
        population = population_from_replay(state.store, [new, baseline], since=start)
    except FactsError as exc:
        raise ProblemError(422, "nothing_to_replay", str(exc)) from exc
    return new, baseline, population


def replay_impact(
    state: ServiceState,
    pack_id: str,
    version: str,
    *,
    as_of: date | None = None,
    since: date | None = None,
    explain_limit: int = 200,
) -> ImpactReport:
    """The impact of a stored version against the active one, on the decision log.

    As of ``as_of`` (default: today by the service's clock), with the
    store's escalation history; ProblemError as :func:`replay_population`.
    """
    new, baseline, population = replay_population(state, pack_id, version, since=since)
    when = as_of or state.clock().date()
    return impact(new, baseline, population, when, store=state.store, explain_limit=explain_limit)


def impact_for_approval(state: ServiceState, pack_id: str, version: str) -> str:
    """The impact report to store with an approval, as JSON text.

    When it cannot be computed (no active version, nothing stored to replay)
    the text says why: an approval never fails for want of a report.
    """
    try:
        report: dict[str, Any] = replay_impact(state, pack_id, version).to_json()
    except ProblemError as exc:
        if exc.status == 404:
            raise
        report = {"error": exc.detail}
    return json.dumps(report, ensure_ascii=False, separators=(",", ":"))


@router.post(
    "/v1/packs/{pack_id}/versions/{version}/impact",
    operation_id="packVersionImpact",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
)
def version_impact(
    pack_id: PackId,
    version: Version,
    request: Request,
    _key: Annotated[ApiKey, Depends(require(Role.EDITOR))],
    body: Annotated[ImpactRequest | None, Body()] = None,
) -> dict[str, Any]:
    """What the version would do to the sellers of the decision log, against the active one.

    The report: the status transition matrix, firings per rule and action
    before and after, every seller whose status or enforced actions change
    (the first ``explain_limit`` with both explanations), and each moved
    threshold's metric distribution.
    """
    options = body or ImpactRequest()
    report = replay_impact(
        state_of(request),
        pack_id,
        version,
        as_of=options.as_of,
        since=options.since,
        explain_limit=options.explain_limit,
    )
    return report.to_json()
