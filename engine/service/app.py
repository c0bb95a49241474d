"""The HTTP service: a FastAPI app over the one evaluation function and the stores.

``create_app(Settings(...))`` opens the stores (migrating them, importing the
shipped packs into an empty store) and returns the app; ``sellerpolicy
serve`` runs it with uvicorn. ``create_app(settings, clock=...)`` gives the
service another clock (tests move time with it). Routes live in
:mod:`.evaluate`, :mod:`.decisions`, :mod:`.packs`, :mod:`.activation`
(approve, activate, schedule) and :mod:`.pack_diff`; errors are problem
documents (:mod:`.problems`); the outer ASGI layer (:mod:`.middleware`)
limits bodies, counts requests and turns unexpected exceptions into 500
problems, and hands the usual evaluation request to :mod:`.fast`, which
answers it as the route would without FastAPI's routing and dependency
machinery.

While the app runs, a background task applies the scheduled activations
that are due every ``Settings.schedule_check_seconds`` (the audit and the
activation history record each at its scheduled instant; every read of the
active version applies due ones first anyway).

Under load (:mod:`.load`): past ``Settings.max_in_flight`` requests a
worker answers 503 at once; a request past ``request_timeout_seconds`` is
answered 504 and stores nothing; keys past their ``rate_limits`` get 429. On
``SIGTERM`` ``/readyz`` turns 503 for ``drain_seconds`` while requests are
still served; then uvicorn stops accepting, finishes what is in flight and
the app closes the store.

Open endpoints: ``/healthz`` (the process answers) and ``/readyz`` (the store
answers, a pack is active, no shutdown has begun). Everything else needs an API key, ``/metrics``
included (a reader key: Prometheus sends it with ``authorization``), since
its labels name packs and routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.logs import get_logger
from sellerpolicy.engine.store.keys import ApiKey, Role
from sellerpolicy.engine.store.packs import PackState

from .activation import router as activation_router
from .decisions import router as decisions_router
from .evaluate import router as evaluations_router
from .fast import PATH as FAST_PATH
from .fast import FastEvaluations
from .impact import router as impact_router
from .load import install_drain
from .metrics import CONTENT_TYPE_LATEST
from .middleware import ServiceMiddleware
from .pack_diff import router as diff_router
from .packs import router as packs_router
from .problems import (
    PROBLEM_MEDIA_TYPE,
    Problem,
    install_problem_handlers,
    problem_body,
    problem_responses,
)
from .state import Clock, ServiceState, Settings, require, state_of
from .web import install_workbench

__all__ = ["Settings", "create_app"]

_REF = "#/components/schemas/{model}"
#: ``/metrics`` answers Prometheus's text format.
_METRICS_TEXT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus metrics in the text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """The service app on the store of ``settings`` (opened now, closed at shutdown).

    ``clock``: what tells the service the time (default: now in UTC).
    """
    state = ServiceState(settings or Settings(), clock=clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        install_drain(state, state.settings.drain_seconds)  # SIGTERM: /readyz 503 first
        stop = asyncio.Event()
        schedules = asyncio.create_task(_apply_schedules(state, stop), name="scheduled activations")
        try:
            yield
        finally:
            stop.set()  # the task ends after the round in progress (its thread uses the store)
            await schedules
            state.close()

    app = FastAPI(
        title="sellerpolicy",
        summary="Marketplace seller-performance policies as a service",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # the workbench serves /docs from vendored files (no CDN)
        redoc_url=None,
    )
    app.state.service = state
    install_problem_handlers(app)
    app.include_router(evaluations_router)
    app.include_router(decisions_router)
    app.include_router(packs_router)
    app.include_router(activation_router)
    app.include_router(diff_router)
    app.include_router(impact_router)
    install_workbench(app)
    app.add_middleware(
        ServiceMiddleware,
        metrics=state.metrics,
        max_body_bytes=state.settings.max_body_bytes,
        offload_body_bytes=state.settings.offload_body_bytes,
        fast=FastEvaluations(state, _route(evaluations_router, FAST_PATH, "POST")),
        max_in_flight=state.settings.max_in_flight,
        timeout_seconds=state.settings.request_timeout_seconds,
        service=state,
    )

    @app.get("/healthz", tags=["operations"], operation_id="healthz")
    async def healthz() -> dict[str, str]:  # async: answered on the loop, no thread hop
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/readyz", tags=["operations"], operation_id="readyz", responses=problem_responses(503)
    )
    def readyz(request: Request) -> JSONResponse:
        """The store answers, at least one pack version is active, and no shutdown began."""
        service = state_of(request)
        if service.draining:
            return _not_ready("the service is shutting down (SIGTERM)")
        try:
            service.store.ping()
            active = [v for v in service.packs.versions() if v.state is PackState.ACTIVE]
        except StoreError:
            return _not_ready("the decision store does not answer")
        if not active:
            return _not_ready("no pack version is active")
        return JSONResponse({"status": "ready", "active_packs": len(active)})

    @app.get(
        "/metrics",
        tags=["operations"],
        operation_id="metrics",
        response_class=Response,
        responses=_METRICS_TEXT | problem_responses(401, 403),
    )
    def metrics(
        request: Request, _key: Annotated[ApiKey, Depends(require(Role.READER))]
    ) -> Response:
        """Prometheus metrics (needs a reader key)."""
        return Response(state_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.openapi = _problems_only(app.openapi)  # type: ignore[method-assign]
    return app


async def _apply_schedules(state: ServiceState, stop: asyncio.Event) -> None:
    """Apply due scheduled activations every ``schedule_check_seconds`` until ``stop`` is set."""
    log = get_logger(component="service")
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), state.settings.schedule_check_seconds)
            return
        try:
            await run_in_threadpool(state.apply_due_schedules)
        except StoreError as exc:  # the next round tries again; readers apply them too
            log.warning("scheduled_activation_failed", error=str(exc))


def _route(router: APIRouter, path: str, method: str) -> APIRoute:
    """The route of ``method`` on ``path`` in ``router`` (the object routing puts in the scope)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods or ()):
            return route
    raise LookupError(f"no route {method} {path}")


def _problems_only(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Document every error response (4xx, 5xx) as a problem document, nothing else.

    FastAPI documents its own 422 as JSON ``HTTPValidationError`` and adds a
    JSON twin to each declared problem response; both are replaced. The
    decision documents answers carry (sent as stored) are published as
    ``Decision`` (:class:`.models.Decision`, from ``decision.schema.json``) by
    the models themselves.
    """
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}

    def openapi() -> dict[str, Any]:
        document = build()
        for path in document.get("paths", {}).values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    if str(status)[0] in "45":
                        response["content"] = dict(problem)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("Problem", Problem.model_json_schema(ref_template=_REF))
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        for name, schema in list(schemas.items()):
            if name != "Decision":  # the component itself is never replaced by a $ref to itself
                schemas[name] = _hoist(schema, "Decision", schemas)
        return document

    return openapi


def _hoist(schema: Any, title: str, schemas: dict[str, Any]) -> Any:
    """``schema`` with each inlined object schema titled ``title`` moved to ``schemas``.

    Decision documents are sent as stored and documented through a marker
    (:data:`.models.DecisionDocument`) that Pydantic inlines; one named
    component reads better, and generators make one class of it.
    """
    if isinstance(schema, list):
        return [_hoist(item, title, schemas) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("title") == title and schema.get("type") == "object":
        # A copy: the marker's schema is one object shared by every app built in a process.
        schemas.setdefault(title, copy.deepcopy(schema))
        return {"$ref": _REF.format(model=title)}
    return {key: _hoist(value, title, schemas) for key, value in schema.items()}


def _not_ready(detail: str) -> JSONResponse:
    return JSONResponse(
        problem_body(503, "not_ready", detail), status_code=503, media_type=PROBLEM_MEDIA_TYPE
    )
