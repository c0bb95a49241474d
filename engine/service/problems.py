"""Every error of the HTTP service as ``application/problem+json`` (RFC 9457).

A problem carries ``type``, ``title``, ``status``, ``detail`` and ``errors``:
one entry per offending field (``field`` in dotted form, ``json_path`` for
body fields and pack diagnostics, ``message``, and ``code``/``line``/
``column`` for pack diagnostics). Route code raises :class:`ProblemError`;
FastAPI's validation errors and Starlette's HTTP errors (404, 405...) are
converted by the handlers :func:`install_problem_handlers` registers: a body
that is not JSON is a 400 (``malformed_json``), an invalid one a 422
(``invalid_request``).
Unexpected exceptions are handled by :mod:`.service_middleware`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from sellerpolicy.rules.diagnostics import Diagnostic

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "FieldError",
    "Problem",
    "ProblemError",
    "ProblemItem",
    "install_problem_handlers",
    "problem_body",
    "problem_responses",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_BASE = "urn:sellerpolicy:problem:"


class ProblemItem(BaseModel):
    """One offending field (OpenAPI shape of :class:`FieldError`)."""

    field: str
    message: str
    json_path: str | None = None
    code: str | None = None
    line: int | None = None
    column: int | None = None


class Problem(BaseModel):
    """An RFC 9457 problem document (OpenAPI shape of every error response)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] = []
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class FieldError:
    """What is wrong with one field of a request."""

    field: str
    message: str
    json_path: str | None = None
    code: str | None = None
    line: int | None = None
    column: int | None = None

    @classmethod
    def of(cls, diagnostic: Diagnostic) -> FieldError:
        """A pack diagnostic as a field error (``field`` is the file it is about)."""
        message = diagnostic.message + (f" ({diagnostic.hint})" if diagnostic.hint else "")
        return cls(
            field=diagnostic.file,
            message=message,
            json_path=diagnostic.json_path,
            code=diagnostic.code,
            line=diagnostic.line,
            column=diagnostic.column,
        )

    def to_json(self) -> dict[str, object]:
        """The JSON object of one ``errors`` entry (absent parts left out)."""
        found: dict[str, object] = {"field": self.field, "message": self.message}
        for name in ("json_path", "code", "line", "column"):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        return found


@dataclass(slots=True)
class ProblemError(Exception):
    """Raise to answer with a problem document."""

    status: int
    slug: str  # the last part of ``type``: ``unauthenticated``, ``invalid_pack``...
    detail: str
    errors: Sequence[FieldError] = ()
    headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.slug}: {self.detail}"


def problem_body(
    status: int,
    slug: str,
    detail: str,
    errors: Sequence[FieldError] = (),
    correlation_id: str | None = None,
) -> dict[str, object]:
    """The problem document as a JSON-ready mapping."""
    body: dict[str, object] = {
        "type": _TYPE_BASE + slug,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "errors": [e.to_json() for e in errors],
    }
    if correlation_id is not None:
        body["correlation_id"] = correlation_id
    return body


def problem_response(error: ProblemError) -> JSONResponse:
    """The HTTP response of a :class:`ProblemError`."""
    return JSONResponse(
        problem_body(error.status, error.slug, error.detail, error.errors),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(error.headers),
    )


def _path(loc: Sequence[int | str]) -> tuple[str, str | None]:
    """``("body", "sellers", 3, "id")`` -> ``("sellers[3].id", "$.sellers[3].id")``."""
    where, *rest = loc or ("body",)
    dotted = ""
    for part in rest:
        dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else str(part))
    if where == "body":
        return dotted or "body", "$" + (
            "." if dotted and not dotted.startswith("[") else ""
        ) + dotted
    return f"{where}.{dotted}" if dotted else str(where), None


def _validation_errors(errors: Sequence[Any]) -> list[FieldError]:
    found = []
    for error in errors:
        loc = [p for p in error.get("loc", ()) if isinstance(p, str | int)]
        name, json_path = _path(loc)
        message = str(error.get("msg", "invalid value"))
        found.append(FieldError(name, message, json_path=json_path, code=error.get("type")))
    return found


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(exc)


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(error.get("type") == "json_invalid" for error in exc.errors()):
        return problem_response(_not_json(exc.errors()))
    errors = _validation_errors(exc.errors())
    detail = f"the request has {len(errors)} invalid field(s): see errors"
    return problem_response(ProblemError(422, "invalid_request", detail, errors))


def _not_json(errors: Sequence[Any]) -> ProblemError:
    """A 400 problem: the body is not JSON (where the parser stopped, never the body itself)."""
    found = []
    for error in errors:
        if error.get("type") != "json_invalid":
            continue
        loc = error.get("loc", ())
        at = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        reason = str((error.get("ctx") or {}).get("error", "invalid JSON"))
        where = f" at character {at}" if at is not None else ""
        found.append(FieldError("body", f"{reason}{where}", json_path="$", code="json_invalid"))
    detail = "the request body is not JSON: see errors for where it stops parsing"
    return ProblemError(400, "malformed_json", detail, found)


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).description
    slug = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    headers = dict(exc.headers or {})
    return problem_response(ProblemError(status, slug, detail, (), headers))


def install_problem_handlers(app: FastAPI) -> None:
    """Answer problems, validation errors and HTTP errors with problem documents."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries: these statuses answer a :class:`Problem`."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
