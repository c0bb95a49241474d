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
* every answered request is counted and timed in :class:`ServiceMetrics`
  under its route template;
* an exception nothing else handled becomes a 500 problem with a
  correlation id; the log line carries that id, the route and the exception
  type, never its message (it may quote request data) and never a stack
  trace, and no response ever carries more than the id.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sellerpolicy.engine.logs import get_logger

from .fast import FastEvaluations
from .metrics import ServiceMetrics
from .offload import in_worker_thread, note_server_loop
from .problems import PROBLEM_MEDIA_TYPE, problem_body
from .state import DEFAULT_OFFLOAD_BODY

__all__ = ["ServiceMiddleware"]


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
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.offload_body_bytes = offload_body_bytes
        self.fast = fast

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        note_server_loop()  # work this request hands to threads can yield to this loop
        started = time.perf_counter()
        status = 500
        response_started = False
        refused = False  # this layer answered 413: drop whatever the app still sends

        async def tracked_send(message: Message) -> None:
            nonlocal status, response_started
            if refused:
                return
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
            await send(message)

        async def refuse() -> None:
            nonlocal refused
            if not response_started:
                detail = f"the request body is larger than {self.max_body_bytes:,} bytes"
                await self._problem(tracked_send, 413, "body_too_large", detail)
            refused = True

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if refused:
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
            elif self._large(scope):
                await in_worker_thread(self._dispatch, scope, limited_receive, tracked_send)
            else:
                await self._dispatch(scope, limited_receive, tracked_send)
        except Exception as exc:  # the last resort: answer 500, never crash
            correlation_id = str(uuid.uuid4())
            get_logger(component="service").error(
                "unhandled_error",
                correlation_id=correlation_id,
                route=_route(scope),
                error=type(exc).__name__,
            )
            self.metrics.errors.labels("internal").inc()
            if not response_started:
                detail = "an unexpected error occurred; quote the correlation id to report it"
                await self._problem(tracked_send, 500, "internal", detail, correlation_id)
        finally:
            if status >= 400:
                self.metrics.errors.labels(str(status)).inc()
            self.metrics.observe(
                scope.get("method", ""), _route(scope), status, time.perf_counter() - started
            )

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
    async def _problem(
        send: Send, status: int, slug: str, detail: str, correlation_id: str | None = None
    ) -> None:
        body = json.dumps(problem_body(status, slug, detail, (), correlation_id)).encode()
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        if correlation_id is not None:
            headers.append((b"x-correlation-id", correlation_id.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _route(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
