"""The outermost layer of the HTTP service: body limit, metrics, last-resort errors.

:class:`ServiceMiddleware` is plain ASGI (no buffering of responses):

* a request body larger than the limit is refused with a 413 problem, from
  its ``Content-Length`` before anything is read, or while it streams (the
  app then sees the client disconnect, and what it still sends is dropped);
* the usual evaluation request is answered by :class:`FastEvaluations`
  (same answers, without FastAPI's routing), everything else by the app;
* a request with a large body (over ``offload_body_bytes`` declared in its
  ``Content-Length``, or a chunked one, whose size is unknown) is handled
  entirely off the server's event loop (:func:`.offload.in_worker_thread`):
  parsing and validating 10,000 sellers' facts alone would hold that loop
  for about 50 ms, and every other request (``/healthz`` included) with it;
* a request to ``/v1/`` with a body (``POST``, ``PUT``, ``PATCH``) whose
  ``Content-Type`` is not JSON (``application/json`` or ``application/*+json``,
  parameters allowed), or is missing, is refused with a 415 problem naming
  ``application/json`` (and ``Accept-Post`` saying it), its body unread: the
  fast path and the routes only ever see JSON;
* every request gets a correlation id: its ``X-Request-ID`` header when that
  is a sane token (1 to 128 letters, digits, ``.``, ``_``, ``:`` or ``-``;
  anything else is untrusted input and ignored), else a fresh one. It is
  bound as ``correlation_id`` in ``structlog.contextvars`` while the request
  runs, so every log event of the request carries it (uvicorn's access
  line too, under ``serve --log-format json``), and every answer echoes it
  in ``X-Request-ID``;
* every answered request is counted and timed in :class:`ServiceMetrics`
  under its route template;
* an exception nothing else handled becomes a 500 problem with the
  correlation id (also in ``X-Correlation-ID``); the log line carries that
  id, the route and the exception type, never its message (it may quote
  request data) and never a stack trace, and no response ever carries more
  than the id;
* past ``max_in_flight`` requests in this worker the next is answered at once
  with a 503 problem and ``Retry-After: 1``, its body unread, and counted in
  ``sellerpolicy_shed_total`` (``/healthz``, ``/readyz`` and ``/metrics`` are
  never shed); a request entering yields the event loop once, so requests
  that arrived together are all counted before the first runs;
* a request still running after ``request_timeout_seconds`` is answered 504
  and stores nothing (:class:`.load.Deadline`); writes outside evaluations
  (uploads, approvals, activations) are small single transactions and get
  no deadline, so a 504 never hides a change that was made; nor do the
  probes and ``/metrics``;
* while the service drains (``SIGTERM``) every answer says ``Connection:
  close``, moving keep-alive clients to another worker or replica.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, get_contextvars, reset_contextvars

from sellerpolicy.engine.logs import get_logger

from .fast import PATH as FAST_PATH
from .fast import FastEvaluations
from .load import NEVER_SHED, Deadline, InFlight, deadline_problem, set_deadline
from .metrics import ServiceMetrics
from .offload import in_worker_thread, note_server_loop
from .problems import PROBLEM_MEDIA_TYPE, problem_body
from .state import DEFAULT_OFFLOAD_BODY

__all__ = ["REQUEST_ID_HEADER", "ServiceMiddleware", "correlation_id_of"]

#: The header a correlation id is taken from and echoed in.
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = REQUEST_ID_HEADER.encode()
#: A correlation id a client may choose: a short token that is safe in any log line.
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")

#: Without a timeout setting: a day (no request gets near it).
_NO_DEADLINE = 86_400.0
_RETRY_AFTER = [(b"retry-after", b"1")]
_ACCEPT_JSON = [(b"accept-post", b"application/json")]
_NOT_JSON = "the request body must be JSON: send it with Content-Type: application/json"
#: Methods whose body the API reads (as JSON).
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class _Draining(Protocol):
    draining: bool


class ServiceMiddleware:
    """Body limit, request metrics and the catch-all 500 problem, around the app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServiceMetrics,
        max_body_bytes: int,
        offload_body_bytes: int = DEFAULT_OFFLOAD_BODY,
        fast: FastEvaluations | None = None,
        max_in_flight: int | None = None,
        timeout_seconds: float | None = None,
        service: _Draining | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.offload_body_bytes = offload_body_bytes
        self.fast = fast
        self.in_flight = InFlight(max_in_flight) if max_in_flight else None
        self.timeout_seconds = timeout_seconds or _NO_DEADLINE
        self.service = service  # its ``draining`` flag: answers then close their connection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = correlation_id_of(scope)
        bound = bind_contextvars(correlation_id=correlation_id)
        try:
            await self._admit(scope, receive, _echoing(send, correlation_id))
        finally:
            reset_contextvars(**bound)

    async def _admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Shed the request past ``max_in_flight`` (probes and metrics excepted), else handle it."""
        in_flight = self.in_flight
        if in_flight is None or scope["path"] in NEVER_SHED:
            await self._handle(scope, receive, send)
            return
        started = time.perf_counter()
        if not in_flight.enter():
            await self._shed(scope, send, started)
            return
        self.metrics.in_flight.inc()
        try:
            await asyncio.sleep(0)  # let requests that arrived with this one be counted first
            await self._handle(scope, receive, send)
        finally:
            in_flight.leave()
            self.metrics.in_flight.dec()

    async def _shed(self, scope: Scope, send: Send, started: float) -> None:
        """Answer 503 at once (the body unread): this worker has enough in flight."""
        self.metrics.shed.labels("in_flight").inc()
        detail = "the service is at capacity; retry after the time given"
        await self._problem(send, 503, "overloaded", detail, extra=_RETRY_AFTER)
        self.metrics.errors.labels("503").inc()
        self.metrics.observe(scope["method"], "unmatched", 503, time.perf_counter() - started)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One request: body limit, deadline, dispatch, last-resort 500, metrics."""
        note_server_loop()  # work this request hands to threads can yield to this loop
        started = time.perf_counter()
        exchange = _Exchange(send, self._deadline(scope), self.service)
        set_deadline(exchange.deadline)
        timer = self._timer(exchange)

        async def refuse() -> None:
            if not exchange.response_started:
                detail = f"the request body is larger than {self.max_body_bytes:,} bytes"
                await self._problem(exchange.send, 413, "body_too_large", detail)
            exchange.refused = True

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if exchange.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    await refuse()
                    return {"type": "http.disconnect"}
            return message

        try:
            if self._declared_length(scope) > self.max_body_bytes:
                await refuse()
            elif not _json_or_no_body(scope):
                await self._problem(
                    exchange.send, 415, "unsupported_media_type", _NOT_JSON, extra=_ACCEPT_JSON
                )
            elif self._large(scope):
                await in_worker_thread(self._dispatch, scope, limited_receive, exchange.send)
            else:
                await self._dispatch(scope, limited_receive, exchange.send)
        except Exception as exc:  # the last resort: answer 500, never crash
            correlation_id = _bound_id()
            get_logger(component="service").error(
                "unhandled_error",
                correlation_id=correlation_id,
                route=_route(scope),
                error=type(exc).__name__,
            )
            self.metrics.errors.labels("internal").inc()
            if not exchange.response_started:
                detail = "an unexpected error occurred; quote the correlation id to report it"
                await self._problem(exchange.send, 500, "internal", detail, correlation_id)
        finally:
            if timer is not None:
                timer.cancel()
            status = exchange.status
            if status >= 400:
                self.metrics.errors.labels(str(status)).inc()
            self.metrics.observe(
                scope.get("method", ""), _route(scope), status, time.perf_counter() - started
            )

    def _timer(self, exchange: _Exchange) -> asyncio.TimerHandle | None:
        """At the deadline: answer 504 unless the write or the answer has begun."""
        deadline = exchange.deadline
        if deadline is None:
            return None

        async def time_out() -> None:
            if deadline.time_out():  # nothing written nor answered yet: nothing will be
                exchange.refused, exchange.status, exchange.response_started = True, 504, True
                self.metrics.shed.labels("deadline").inc()
                problem = deadline_problem(deadline.seconds)
                await self._problem(exchange.raw_send, 504, problem.slug, problem.detail)

        loop = asyncio.get_running_loop()
        return loop.call_later(deadline.seconds, lambda: _spawn(loop, time_out()))

    def _deadline(self, scope: Scope) -> Deadline | None:
        """A deadline for evaluations and reads; none for other writes, probes and metrics."""
        path = scope["path"]
        if path in NEVER_SHED:
            return None
        if scope["method"] in ("GET", "HEAD") or path == FAST_PATH:
            return Deadline(self.timeout_seconds)
        return None

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The fast path when it may take the request, else the app."""
        if self.fast is not None and self.fast.takes(scope):
            await self.fast(scope, receive, send, self.app)
        else:
            await self.app(scope, receive, send)

    def _large(self, scope: Scope) -> bool:
        """Whether the body is declared larger than ``offload_body_bytes``, or is chunked."""
        for name, value in scope.get("headers", ()):
            if name == b"transfer-encoding" and b"chunked" in value.lower():
                return True
        return self._declared_length(scope) > self.offload_body_bytes

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    @staticmethod
    async def _problem(  # noqa: PLR0917
        send: Send,
        status: int,
        slug: str,
        detail: str,
        correlation_id: str | None = None,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        body = json.dumps(problem_body(status, slug, detail, (), correlation_id)).encode()
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            *(extra or ()),
        ]
        if correlation_id is not None:
            headers.append((b"x-correlation-id", correlation_id.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _Exchange:
    """One request's answer as it goes out: its status, and what this layer refused."""

    __slots__ = ("deadline", "raw_send", "refused", "response_started", "service", "status")

    def __init__(self, send: Send, deadline: Deadline | None, service: _Draining | None) -> None:
        self.raw_send = send
        self.deadline = deadline
        self.service = service
        self.status = 500
        self.response_started = False
        self.refused = False  # this layer answered 413 or 504: drop what the app still sends

    async def send(self, message: Message) -> None:
        """Send ``message`` unless refused; note the status; ``Connection: close`` if draining."""
        if self.refused:
            return
        if message["type"] == "http.response.start":
            if self.deadline is not None and not self.deadline.answer():
                return
            self.status = int(message["status"])
            self.response_started = True
            if self.service is not None and self.service.draining:
                headers = [*message.get("headers", ()), (b"connection", b"close")]
                message = {**message, "headers": headers}
        await self.raw_send(message)


def correlation_id_of(scope: Scope) -> str:
    """The request's ``X-Request-ID`` when it is a sane token, else a fresh id (32 hex digits)."""
    for name, value in scope.get("headers", ()):
        if name == _REQUEST_ID:
            if _SANE_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return uuid.uuid4().hex


def _bound_id() -> str:
    """The correlation id bound for the current request (a fresh one outside a request)."""
    bound = get_contextvars().get("correlation_id")
    return bound if isinstance(bound, str) else uuid.uuid4().hex


def _echoing(send: Send, correlation_id: str) -> Send:
    """``send`` adding ``X-Request-ID: correlation_id`` to the answer's headers."""
    header = (_REQUEST_ID, correlation_id.encode("ascii"))

    async def echoing(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return echoing


_tasks: set[asyncio.Task[None]] = set()


def _spawn(loop: asyncio.AbstractEventLoop, step: Any) -> None:
    """Run ``step`` as a task on ``loop``, holding a reference until it ends."""
    task = loop.create_task(step)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def _json_or_no_body(scope: Scope) -> bool:
    """Whether a request to the API has no body, or says its body is JSON.

    ``application/json`` and the ``application/*+json`` types (parameters such
    as ``charset`` allowed), as FastAPI reads them; paths outside ``/v1/``
    (the workbench's forms) and methods without a body are not checked.
    """
    if scope["method"] not in _WITH_BODY or not scope["path"].startswith("/v1/"):
        return True
    content_type = b""
    has_body = False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            has_body = has_body or value.strip() not in (b"0", b"")
        elif name == b"transfer-encoding":
            has_body = True
    if not has_body:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    kind, _, subtype = media.partition(b"/")
    return kind == b"application" and (subtype == b"json" or subtype.endswith(b"+json"))


def _route(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
