"""``GET /v1/packs/{pack_id}/diff?from=V1&to=V2``: what changed between two stored versions.

The answer is the document ``sellerpolicy diff --format json`` prints: the
old and new pack (id, version, digest) and every change of
:func:`sellerpolicy.rules.diff.diff_packs` as :meth:`Change.to_json` writes
it (section, subject, kind, field, old, new, text). The comparison is of the
compiled packs, so reformatting the YAML changes nothing. ``from`` defaults
to the active version (by the service's clock); ``to`` is required.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from sellerpolicy.engine.store.keys import ApiKey, Role
from sellerpolicy.engine.store.packs import PackNotFoundError
from sellerpolicy.rules.diff import diff_packs
from sellerpolicy.rules.model import CompiledPack

from .models import PackDiff
from .packs import PackId
from .problems import ProblemError, problem_responses
from .state import ServiceState, require, state_of

__all__ = ["diff_document", "router"]

router = APIRouter(tags=["packs"])


@router.get(
    "/v1/packs/{pack_id}/diff",
    operation_id="diffPackVersions",
    response_model=PackDiff,
    responses=problem_responses(401, 403, 404, 422),
)
def diff_pack_versions(
    pack_id: PackId,
    request: Request,
    _key: Annotated[ApiKey, Depends(require(Role.READER))],
    to: Annotated[str, Query(min_length=1, max_length=100, description="the new version")],
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            min_length=1,
            max_length=100,
            description="the old version (default: the active one)",
        ),
    ] = None,
) -> PackDiff:
    """The semantic diff of two stored versions of a pack (``sellerpolicy diff`` as JSON)."""
    state = state_of(request)
    old = _compiled(state, pack_id, from_)
    new = _compiled(state, pack_id, to)
    return PackDiff.model_validate(diff_document(old, new))


def diff_document(old: CompiledPack, new: CompiledPack) -> dict[str, object]:
    """The JSON document of ``sellerpolicy diff --format json`` for two compiled packs."""
    return {
        "old": {"id": old.id, "version": old.version, "digest": old.digest},
        "new": {"id": new.id, "version": new.version, "digest": new.digest},
        "changes": [c.to_json() for c in diff_packs(old, new)],
    }


def _compiled(state: ServiceState, pack_id: str, version: str | None) -> CompiledPack:
    """A stored version compiled (the active one when ``version`` is ``None``); 404 if none."""
    try:
        if version is None:
            state.apply_due_schedules(pack_id)
            stored = state.packs.active(pack_id)
        else:
            stored = state.packs.get(pack_id, version)
    except PackNotFoundError as exc:
        raise ProblemError(404, "pack_not_found", str(exc)) from exc
    return state.compiled.get(stored)
