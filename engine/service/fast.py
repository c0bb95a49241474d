"""The fast path of ``POST /v1/evaluations``: the common request without FastAPI's machinery.

FastAPI's routing, dependency solving and body handling cost a one-seller
evaluation about as much CPU as the evaluation itself. :class:`FastEvaluations`
answers the usual request directly at the ASGI level, with the same code
(:func:`~sellerpolicy.engine.service.evaluate.prepare` and
:func:`~sellerpolicy.engine.service.evaluate.finish`, which the route runs
as one) and the same bytes, and hands everything else to the regular route,
untouched:

* it takes a request only when the method, path, ``Content-Type``
  (``application/json``), query (none, or ``explain=<level>``), ``Accept``
  (none, or one answered with JSON), API key and body are all of the usual
  kind: the key must be one this service
  authenticated in the last ``key_cache_seconds`` with at least the
  evaluator role (so it never looks a key up, and a revoked key stops
  working as soon as on the regular path), and the body must parse as JSON
  and validate as an :class:`EvaluationRequest` exactly as FastAPI would
  parse and validate it;
* anything else (no or unknown key, another role, a bad body, an unknown
  query parameter, an ``Accept`` asking for NDJSON or for neither...) goes
  to the regular route with the body it already read replayed, so that
  route answers it as it always did, naming the bad field in its problem
  document;
* a key past its rate limit (``Settings.rate_limits``) is answered 429
  here, as the route's dependency would;
* a problem the evaluation raises (pack not found, unknown facts...) is
  answered with the same problem document the regular route's handler
  would send; unexpected exceptions propagate to the outer layer, as they
  do from the regular route.

The pack version is chosen by the same code too
(:meth:`~sellerpolicy.engine.service.state.ServiceState.select`, whose
remembered references never outlive a pending scheduled activation), so
both paths switch to a scheduled version at the same instant and pick the
same version for a past ``as_of``.

Small requests (at most :data:`INLINE_SELLERS` sellers given as facts) on
SQLite are decided and stored on the event loop itself: for them the hop to
a worker thread and back costs about half as much CPU as the work, and the
worker then competes with the event loop for the GIL. The loop never waits
for the database: reads never wait in WAL mode, the log is checkpointed by a
thread of its own, and the write is only tried (``wait=False``); when
another connection holds the write lock, the decisions are stored from a
worker thread instead, which waits for it as the regular route would.
Larger requests, event requests and every request on PostgreSQL run in the
thread pool as on the regular route. A request whose body is large never
gets here on the server's loop: the middleware hands it, fast path and all,
to a worker thread with an event loop of its own (:mod:`.offload`).
"""

from __future__ import annotations

import json

from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.store.decisions import StoreBusyError
from sellerpolicy.engine.store.keys import ApiKey, Role

from .evaluate import answer, finish, prepare
from .lines import JSON, negotiate
from .models import EvaluationRequest
from .problems import ProblemError, problem_response
from .state import ServiceState

__all__ = ["INLINE_SELLERS", "PATH", "FastEvaluations"]

#: The route this fast path serves.
PATH = "/v1/evaluations"
#: Requests with at most this many sellers (metric facts) run on the event loop.
INLINE_SELLERS = 4

_PLAIN_ACCEPT = frozenset({b"*/*", b"application/json"})
_QUERIES: dict[bytes, ExplainLevel] = {b"": ExplainLevel.SUMMARY} | {
    f"explain={level.value}".encode(): level for level in ExplainLevel
}


class FastEvaluations:
    """Answers the usual ``POST /v1/evaluations`` request; hands the rest to ``app``."""

    def __init__(self, state: ServiceState, route: APIRoute) -> None:
        self.state = state
        self.route = route  # put in the scope, as routing would (metrics label by it)

    def takes(self, scope: Scope) -> bool:
        """Whether the request may be the usual kind (method, path, query): read no body yet."""
        return (
            scope["path"] == PATH
            and scope["method"] == "POST"
            and not scope.get("root_path")
            and scope.get("query_string", b"") in _QUERIES
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """Answer the request of ``scope`` (:meth:`takes` said yes), or let ``app`` answer it."""
        key = self._usual_key(scope)
        if key is None:
            await app(scope, receive, send)
            return
        if self.state.limits:
            try:
                self.state.check_rate(key)
            except ProblemError as exc:
                await problem_response(exc)(scope, receive, send)
                return
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # a disconnect: the route sees it too
                await app(scope, _replay(messages, receive), send)
                return
            if not message.get("more_body", False):
                break
        request = _parse(b"".join(m.get("body", b"") for m in messages))
        if request is None:
            await app(scope, _replay(messages, receive), send)
            return
        scope["route"] = self.route
        explain = _QUERIES[scope.get("query_string", b"")]
        try:
            small = request.events is None and len(request.sellers or ()) <= INLINE_SELLERS
            if small and self.state.may_block_loop():
                content = await self._inline(request, explain)
            else:
                content = await run_in_threadpool(answer, self.state, request, explain)
        except ProblemError as exc:
            response: Response = problem_response(exc)
        else:
            response = Response(content, media_type="application/json")
        await response(scope, receive, send)

    async def _inline(self, request: EvaluationRequest, explain: ExplainLevel) -> bytes:
        """Decide and store on the event loop; wait for a busy write lock in a worker thread."""
        prepared = prepare(self.state, request, explain)
        try:
            return finish(self.state, prepared, wait=False)
        except StoreBusyError:
            return await run_in_threadpool(finish, self.state, prepared)

    def _usual_key(self, scope: Scope) -> ApiKey | None:
        """The key, when the content is JSON and the key remembered with the evaluator role."""
        content_type = authorization = None
        for name, value in scope["headers"]:
            if name == b"content-type" and content_type is None:
                content_type = value
            elif name == b"authorization" and authorization is None:
                authorization = value
            elif name == b"idempotency-key" or (  # the route keeps and replays answers,
                name == b"accept" and not _json_accepted(value)  # streams NDJSON, answers 406
            ):
                return None
        if content_type != b"application/json" or authorization is None:
            return None
        scheme, token = get_authorization_scheme_param(authorization.decode("latin-1"))
        if scheme.lower() != "bearer" or not token:
            return None
        key = self.state.trusted_key(token)
        return key if key is not None and key.role >= Role.EVALUATOR else None


def _json_accepted(accept: bytes) -> bool:
    """Whether the answer to this ``Accept`` header is JSON (the route answers the rest)."""
    if accept in _PLAIN_ACCEPT:
        return True
    try:
        return negotiate(accept.decode("latin-1")) == JSON
    except ProblemError:
        return False


def _parse(body: bytes) -> EvaluationRequest | None:
    """The request as FastAPI would read it (``json.loads``, then validation), or ``None``."""
    if not body:
        return None
    try:
        return EvaluationRequest.model_validate(json.loads(body))
    except Exception:  # the regular route answers whatever fails here (400, 422)
        return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that first gives back ``messages``, then reads on from ``receive``."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
