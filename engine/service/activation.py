"""Routes that put a pack version in force: approve, activate now or at an instant, cancel.

With ``Settings.require_approval`` (the default; ``sellerpolicy serve
--no-require-approval`` turns it off) a version is activated, now or by a
schedule, only once an admin other than its uploader has approved it
(``POST .../approve`` with a comment): without an approval activation is a
409 naming what is missing; the uploader approving their own version is a
403. Identities are API keys: the uploader is the key that uploaded.

``POST .../activate`` without a body activates now (the previous version is
retired); with ``{"at": "<instant>"}`` it schedules the activation (202):
the service switches at that instant (:mod:`sellerpolicy.engine.store.schedules`;
a background task of the app applies due schedules, and every read of the
active version applies them first). ``DELETE .../schedule`` cancels it.
Every step is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response, status

from sellerpolicy.engine.store.approvals import Approval, SelfApprovalError
from sellerpolicy.engine.store.keys import ApiKey, Role
from sellerpolicy.engine.store.packs import (
    PackConflictError,
    PackNotFoundError,
    PackState,
    PackVersion,
)
from sellerpolicy.engine.store.schedules import ScheduleError

from .impact import impact_for_approval
from .models import ActivationRequest, ApprovalOut, ApprovalRequest, PackVersionOut
from .packs import PackId, Version, approval_out, version_out
from .problems import FieldError, ProblemError, problem_responses
from .state import ServiceState, instant_text, require, state_of

__all__ = ["activate_version", "approve_version", "router"]

router = APIRouter(tags=["packs"])

_SCHEDULED: dict[int | str, dict[str, Any]] = {
    202: {"model": PackVersionOut, "description": "Scheduled: the version carries activate_at"}
}


@router.post(
    "/v1/packs/{pack_id}/versions/{version}/approve",
    operation_id="approvePackVersion",
    response_model=ApprovalOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
)
def approve_pack_version(
    pack_id: PackId,
    version: Version,
    body: ApprovalRequest,
    request: Request,
    key: Annotated[ApiKey, Depends(require(Role.ADMIN))],
) -> ApprovalOut:
    """Approve a version for activation (an admin who did not upload it; audited)."""
    approval = approve_version(
        state_of(request), pack_id, version, approver=f"key:{key.id}", comment=body.comment
    )
    return approval_out(approval)


@router.post(
    "/v1/packs/{pack_id}/versions/{version}/activate",
    operation_id="activatePackVersion",
    response_model=PackVersionOut,
    responses=_SCHEDULED | problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
)
def activate_pack_version(
    pack_id: PackId,
    version: Version,
    request: Request,
    *,
    response: Response,
    key: Annotated[ApiKey, Depends(require(Role.ADMIN))],
    body: Annotated[
        ActivationRequest | None,
        Body(description='{"at": "<instant>"} schedules the activation; no body: now'),
    ] = None,
) -> PackVersionOut:
    """Make a version the one evaluations of its pack use, now or at ``at`` (202).

    Now: the previous version is retired. With ``at`` (in the future): the
    switch happens at that instant. Both need an approval when the service
    requires one.
    """
    stored, scheduled = activate_version(
        state_of(request), pack_id, version, actor=f"key:{key.id}", at=body.at if body else None
    )
    if scheduled:
        response.status_code = status.HTTP_202_ACCEPTED
    return version_out(stored)


@router.delete(
    "/v1/packs/{pack_id}/versions/{version}/schedule",
    operation_id="cancelScheduledActivation",
    response_model=PackVersionOut,
    responses=problem_responses(401, 403, 404),
)
def cancel_scheduled_activation(
    pack_id: PackId,
    version: Version,
    request: Request,
    key: Annotated[ApiKey, Depends(require(Role.ADMIN))],
) -> PackVersionOut:
    """Cancel a version's pending scheduled activation (audited)."""
    state = state_of(request)
    state.apply_due_schedules(pack_id)
    try:
        return version_out(
            state.schedules.cancel(pack_id, version, actor=f"key:{key.id}", now=state.clock())
        )
    except PackNotFoundError as exc:
        raise ProblemError(404, "pack_not_found", str(exc)) from exc
    except ScheduleError as exc:
        raise ProblemError(404, "schedule_not_found", str(exc)) from exc
    finally:
        state.forget_packs()


def _require_approval(state: ServiceState, stored: PackVersion) -> None:
    """A 409 unless an admin other than the uploader approved the version."""
    approvals = state.approvals.approvals(stored.pack_id, stored.version)
    if any(a.approver != stored.author for a in approvals):
        return
    detail = (
        f"{stored.ref} has no approval: an admin other than its uploader ({stored.author}) "
        f"must approve it first (POST /v1/packs/{stored.pack_id}/versions/{stored.version}"
        "/approve with a comment)"
    )
    raise ProblemError(409, "approval_required", detail)


def approve_version(
    state: ServiceState, pack_id: str, version: str, *, approver: str, comment: str
) -> Approval:
    """Record an approval, with the impact report against the active version (audited).

    ProblemError: 404 unknown version, 403 the approver uploaded it, 409
    approved by this approver already.
    """
    try:
        if state.packs.get(pack_id, version).author == approver:
            raise SelfApprovalError(
                f"{approver} uploaded {pack_id}@{version} and cannot approve it: another admin must"
            )
        impact = impact_for_approval(state, pack_id, version)  # what the approver approves
        return state.approvals.approve(
            pack_id, version, approver=approver, comment=comment, impact=impact, at=state.clock()
        )
    except PackNotFoundError as exc:
        raise ProblemError(404, "pack_not_found", str(exc)) from exc
    except SelfApprovalError as exc:
        raise ProblemError(403, "self_approval", str(exc)) from exc
    except PackConflictError as exc:
        raise ProblemError(409, "already_approved", str(exc)) from exc


def activate_version(
    state: ServiceState, pack_id: str, version: str, *, actor: str, at: datetime | None
) -> tuple[PackVersion, bool]:
    """Activate a version now (``at`` None) or schedule it; the version and whether scheduled.

    ProblemError: 404 unknown version, 422 ``at`` not in the future, 409 no
    approval (when required), already active (to schedule) or a conflict.
    """
    now = state.clock()
    state.apply_due_schedules(pack_id)
    try:
        stored = state.packs.get(pack_id, version)
    except PackNotFoundError as exc:
        raise ProblemError(404, "pack_not_found", str(exc)) from exc
    if at is not None and at <= now:
        message = (
            f"{instant_text(at)} is not in the future (now is {instant_text(now)}): "
            "give a later instant, or send no body to activate now"
        )
        raise ProblemError(422, "invalid_request", message, [FieldError("at", message, "$.at")])
    if stored.state is PackState.ACTIVE:
        if at is None:
            return stored, False  # nothing to do
        detail = f"{stored.ref} is the active version already: there is nothing to schedule"
        raise ProblemError(409, "already_active", detail)
    if state.settings.require_approval:
        _require_approval(state, stored)
    try:
        if at is None:
            return state.packs.activate(pack_id, version, actor=actor, at=now), False
        return state.schedules.schedule(pack_id, version, at, actor=actor, now=now), True
    except PackNotFoundError as exc:  # pragma: no cover - versions are never deleted
        raise ProblemError(404, "pack_not_found", str(exc)) from exc
    except PackConflictError as exc:
        raise ProblemError(409, "activation_conflict", str(exc)) from exc
    finally:
        state.forget_packs()
