"""Pack routes: list, read, validate and upload (as a draft) pack versions.

An upload is compiled with the same checks as ``sellerpolicy validate`` and
its ``PackTest`` fixtures (sent alongside) are run through ``evaluate`` like
``sellerpolicy test`` does; any error or failed case is a 422 naming the
file, line and JSON path, and nothing is stored. A stored version is
immutable: uploading an existing ``id`` + ``version`` is a 409.

Approving, activating and scheduling versions are in :mod:`.activation`;
the diff of two versions in :mod:`.pack_diff`. Listing or reading versions
first applies the scheduled activations that are due, so the states shown
are the ones in force by the service's clock.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi import Path as PathParam

from sellerpolicy.engine.evaluation.packtest import run_case
from sellerpolicy.engine.store.approvals import Approval
from sellerpolicy.engine.store.keys import ApiKey, Role
from sellerpolicy.engine.store.packs import (
    PackConflictError,
    PackNotFoundError,
    PackState,
    PackVersion,
    compile_content,
)
from sellerpolicy.rules import load_packtest
from sellerpolicy.rules.diagnostics import Diagnostic, PackError
from sellerpolicy.rules.model import CompiledPack

from .models import (
    ApprovalOut,
    PackList,
    PackSummary,
    PackUpload,
    PackVersionOut,
    ValidationResult,
)
from .problems import FieldError, ProblemError, problem_responses
from .state import ServiceState, require, state_of

__all__ = ["PackId", "Version", "approval_out", "router", "version_out"]

router = APIRouter(tags=["packs"])

PackId = Annotated[str, PathParam(min_length=1, max_length=200)]
Version = Annotated[str, PathParam(min_length=1, max_length=100)]


@dataclass(frozen=True, slots=True)
class _Checked:
    pack: CompiledPack
    warnings: list[Diagnostic]
    cases: int


def version_out(
    version: PackVersion, *, content: bool = False, approvals: list[Approval] | None = None
) -> PackVersionOut:
    """The response body of a stored version (with its text and approvals when given)."""
    return PackVersionOut(
        pack_id=version.pack_id,
        version=version.version,
        digest=version.digest,
        state=version.state.value,
        author=version.author,
        created_at=version.created_at,
        activate_at=version.activate_at,
        scheduled_by=version.scheduled_by,
        content=version.content if content else None,
        approvals=None if approvals is None else [approval_out(a) for a in approvals],
    )


def approval_out(approval: Approval) -> ApprovalOut:
    """The response body of an approval (its impact report decoded)."""
    return ApprovalOut(
        pack_id=approval.pack_id,
        version=approval.version,
        approver=approval.approver,
        comment=approval.comment,
        at=approval.at,
        impact=approval.impact_json(),
    )


@router.get(
    "/v1/packs",
    operation_id="listPacks",
    response_model=PackList,
    responses=problem_responses(401, 403),
)
def list_packs(
    request: Request, _key: Annotated[ApiKey, Depends(require(Role.READER))]
) -> PackList:
    """Every pack id with its active version, its scheduled version and all stored versions."""
    state = state_of(request)
    state.apply_due_schedules()
    by_pack: dict[str, list[PackVersion]] = {}
    for version in state.packs.versions():
        by_pack.setdefault(version.pack_id, []).append(version)
    return PackList(
        packs=[
            PackSummary(
                pack_id=pack_id,
                active_version=next(
                    (v.version for v in versions if v.state is PackState.ACTIVE), None
                ),
                scheduled_version=next(
                    (v.version for v in versions if v.activate_at is not None), None
                ),
                versions=[version_out(v) for v in versions],
            )
            for pack_id, versions in by_pack.items()
        ]
    )


@router.get(
    "/v1/packs/{pack_id}/versions/{version}",
    operation_id="getPackVersion",
    response_model=PackVersionOut,
    responses=problem_responses(401, 403, 404),
)
def get_pack_version(
    pack_id: PackId,
    version: Version,
    request: Request,
    _key: Annotated[ApiKey, Depends(require(Role.READER))],
) -> PackVersionOut:
    """One stored pack version, with its YAML text, state, schedule and approvals."""
    state = state_of(request)
    state.apply_due_schedules(pack_id)
    try:
        stored = state.packs.get(pack_id, version)
    except PackNotFoundError as exc:
        raise ProblemError(404, "pack_not_found", str(exc)) from exc
    approvals = state.approvals.approvals(pack_id, version)
    return version_out(stored, content=True, approvals=approvals)


@router.post(
    "/v1/packs:validate",
    operation_id="validatePack",
    response_model=ValidationResult,
    responses=problem_responses(400, 401, 403, 413, 415, 422),
)
def validate_pack(
    body: PackUpload,
    request: Request,
    _key: Annotated[ApiKey, Depends(require(Role.EDITOR))],
) -> ValidationResult:
    """Check a pack and run its fixtures, without storing anything."""
    checked = _check(state_of(request), body)
    return _result(checked)


@router.post(
    "/v1/packs",
    operation_id="uploadPack",
    response_model=PackVersionOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
)
def upload_pack(
    body: PackUpload,
    request: Request,
    key: Annotated[ApiKey, Depends(require(Role.EDITOR))],
) -> PackVersionOut:
    """Check a pack, run its fixtures, and store it as a draft version."""
    state = state_of(request)
    checked = _check(state, body)
    try:
        stored = state.packs.add(
            checked.pack, body.content, author=f"key:{key.id}", at=state.clock()
        )
    except PackConflictError as exc:
        raise ProblemError(409, "pack_version_exists", str(exc)) from exc
    finally:
        state.forget_packs()
    return version_out(stored)


def _result(checked: _Checked) -> ValidationResult:
    return ValidationResult(
        pack_id=checked.pack.id,
        version=checked.pack.version,
        digest=checked.pack.digest,
        fixture_cases=checked.cases,
        warnings=[d.to_json() for d in checked.warnings],
    )


def _check(state: ServiceState, upload: PackUpload) -> _Checked:
    try:
        pack, warnings = compile_content(upload.content, "content")
    except PackError as exc:
        errors = [FieldError.of(d) for d in exc.diagnostics]
        raise ProblemError(
            422, "invalid_pack", "the pack is not valid: see errors", errors
        ) from exc
    cases = 0
    failures: list[FieldError] = []
    with tempfile.TemporaryDirectory(prefix="sellerpolicy-fixtures-") as folder:
        for index, text in enumerate(upload.fixtures):
            name = f"fixtures[{index}]"
            path = Path(folder) / f"fixture-{index}.yaml"
            path.write_text(text, encoding="utf-8")
            try:
                doc = load_packtest(path)
            except PackError as exc:
                failures += [replace(FieldError.of(d), field=name) for d in exc.diagnostics]
                continue
            if doc.pack != pack.id:
                failures.append(
                    FieldError(name, f"fixture is for pack {doc.pack!r}, not {pack.id!r}")
                )
                continue
            for case in doc.cases:
                cases += 1
                result = run_case(pack, case, name, backend=state.backend)
                failures += [
                    FieldError(
                        name,
                        f"case {case.name!r}: {m.what}: expected {m.expected}, got {m.got}",
                        line=case.line,
                    )
                    for m in result.mismatches
                ]
    if failures:
        detail = f"{len(failures)} problem(s) in the fixtures: see errors"
        raise ProblemError(422, "fixture_failed", detail, failures[:200])
    return _Checked(pack, warnings, cases)
