"""Decision routes: a seller's decisions (paginated, filtered) and one decision by id."""

from __future__ import annotations

from datetime import UTC, time
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam

from sellerpolicy.engine.store.keys import ApiKey, Role
from sellerpolicy.engine.store.records import StoredDecision

from .models import AsOfDay, DecisionList, Status, StoredDecisionOut
from .problems import FieldError, ProblemError, problem_responses
from .state import require, state_of

__all__ = ["router"]

router = APIRouter(tags=["decisions"])

#: The largest page ``limit`` accepts.
MAX_PAGE = 500


def _out(stored: StoredDecision) -> StoredDecisionOut:
    return StoredDecisionOut(
        decision_id=stored.decision_id,
        run_id=stored.run_id,
        seller_id=stored.seller_id,
        pack_id=stored.pack_id,
        pack_version=stored.pack_version,
        pack_digest=stored.pack_digest,
        as_of=_as_of(stored),
        status=cast(Status, stored.status),  # a decision has one of the three
        evaluated_at=stored.evaluated_at,
        decision=dict(stored.document),
    )


def _as_of(stored: StoredDecision) -> str:
    """The decision's own ``as_of``: a day (``2026-11-15``), or an instant other than midnight."""
    written = stored.document.get("as_of")
    if isinstance(written, str):
        return written
    instant = stored.as_of.astimezone(UTC)
    if instant.time() == time(0):
        return instant.date().isoformat()
    return instant.isoformat().replace("+00:00", "Z")


@router.get(
    "/v1/sellers/{seller_id}/decisions",
    operation_id="listSellerDecisions",
    response_model=DecisionList,
    responses=problem_responses(401, 403, 422),
)
def list_seller_decisions(
    *,
    request: Request,
    _key: Annotated[ApiKey, Depends(require(Role.READER))],
    seller_id: Annotated[str, PathParam(min_length=1, max_length=200)],
    pack: Annotated[str | None, Query(max_length=200, description="only this pack id")] = None,
    as_of_from: Annotated[AsOfDay | None, Query(description="first as_of day (inclusive)")] = None,
    as_of_to: Annotated[AsOfDay | None, Query(description="last as_of day (inclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
) -> DecisionList:
    """A seller's decisions, newest first; follow ``next_cursor`` for the next page."""
    if as_of_from is not None and as_of_to is not None and as_of_from > as_of_to:
        message = "as_of_from is after as_of_to"
        raise ProblemError(
            422, "invalid_request", message, [FieldError("query.as_of_from", message)]
        )
    try:
        page = state_of(request).store.page(
            seller_id,
            pack_id=pack,
            as_of_from=as_of_from,
            as_of_to=as_of_to,
            limit=limit,
            cursor=cursor,
        )
    except ValueError as exc:
        raise ProblemError(
            422, "invalid_request", str(exc), [FieldError("query.cursor", str(exc))]
        ) from exc
    return DecisionList(decisions=[_out(d) for d in page.decisions], next_cursor=page.next_cursor)


@router.get(
    "/v1/decisions/{decision_id}",
    operation_id="getDecision",
    response_model=StoredDecisionOut,
    responses=problem_responses(401, 403, 404),
)
def get_decision(
    decision_id: Annotated[str, PathParam(min_length=1, max_length=36)],
    request: Request,
    _key: Annotated[ApiKey, Depends(require(Role.READER))],
) -> StoredDecisionOut:
    """One stored decision by id."""
    found = state_of(request).store.decision(decision_id)
    if found is None:
        raise ProblemError(404, "decision_not_found", f"no decision {decision_id!r}")
    return _out(found)
