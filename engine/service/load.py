"""Saying "busy" quickly: work in flight, deadlines, per-key rates, draining at shutdown.

* :class:`InFlight` bounds the requests one worker handles at once
  (``Settings.max_in_flight``); the middleware answers the next one at once
  with a ``503`` problem and ``Retry-After``, without reading its body.
  ``/healthz``, ``/readyz`` and ``/metrics`` (:data:`NEVER_SHED`) are never
  shed nor counted: a load balancer and Prometheus must see an overloaded
  worker as it is.
* :class:`Deadline`: each request gets ``Settings.request_timeout_seconds``.
  A request still running then is answered ``504`` by the middleware, and
  its decisions are never stored: :func:`begin_write` (called by the
  evaluation just before it writes) refuses once the deadline has passed or
  the 504 was sent, and once the write has begun the 504 is no longer sent
  (the request is answered when its write ends). Either the client gets the
  decisions or nothing was stored.
* :class:`RateLimits`: optional token buckets per API key, configured by
  role or by key id (``Settings.rate_limits``); past a key's rate it is
  answered ``429`` with ``Retry-After``. Buckets live in one worker process:
  ``sellerpolicy serve --workers N`` gives each worker 1/N of the rate.
* :func:`install_drain`: on ``SIGTERM`` the service turns ``/readyz`` to 503
  and keeps serving for ``Settings.drain_seconds`` (a load balancer stops
  sending new work), then lets uvicorn stop: it closes its listeners,
  finishes the requests in flight (within ``serve --shutdown-timeout``) and
  the app closes the store.
"""

from __future__ import annotations

import asyncio
import math
import signal
import threading
import time
from collections.abc import Iterable
from contextvars import Context, ContextVar
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from sellerpolicy.engine.logs import get_logger
from sellerpolicy.engine.store.keys import ApiKey, Role

from .problems import ProblemError

__all__ = [
    "NEVER_SHED",
    "Deadline",
    "InFlight",
    "RateLimit",
    "RateLimits",
    "begin_write",
    "current_deadline",
    "install_drain",
]

#: Paths answered whatever the load (probes and metrics).
NEVER_SHED = frozenset({"/healthz", "/readyz", "/metrics"})

#: The deadline of the request being handled (copied into its worker threads).
_deadline: ContextVar[Deadline | None] = ContextVar("sellerpolicy_deadline", default=None)


class InFlight:
    """How many requests one worker handles now, bounded by ``limit``.

    Used on the server's event loop only (no lock).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def enter(self) -> bool:
        """Count one more request in flight, unless ``limit`` are already: whether it may run."""
        if self.count >= self.limit:
            return False
        self.count += 1
        return True

    def leave(self) -> None:
        """One request is done."""
        self.count -= 1


class Deadline:
    """When a request must be answered by, and whether its write may still begin.

    States: running; writing (the decisions are being stored: the request is
    answered when that ends, however late); answered (the app started its
    answer); timed out (the middleware answered 504: nothing may be written,
    and whatever the app still sends is dropped).
    """

    _RUNNING, _WRITING, _ANSWERED, _TIMED_OUT = range(4)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._state = self._RUNNING

    def begin_write(self) -> None:
        """Claim the write, or raise the 504 problem if the deadline has passed."""
        with self._lock:
            if self._state == self._TIMED_OUT or (
                self._state == self._RUNNING and time.monotonic() >= self.at
            ):
                raise deadline_problem(self.seconds)
            if self._state == self._RUNNING:
                self._state = self._WRITING

    def answer(self) -> bool:
        """The app starts its answer: whether it may (``False`` once the 504 was sent)."""
        with self._lock:
            if self._state == self._TIMED_OUT:
                return False
            self._state = self._ANSWERED
            return True

    def time_out(self) -> bool:
        """The deadline passed: whether the 504 is to be sent (no write or answer began)."""
        with self._lock:
            if self._state != self._RUNNING:
                return False
            self._state = self._TIMED_OUT
            return True


def deadline_problem(seconds: float) -> ProblemError:
    """The 504 of a request that did not finish in time (nothing of it was stored)."""
    detail = (
        f"the request did not finish within {seconds:g} s and nothing of it was stored; "
        "retry later or send fewer sellers per request"
    )
    return ProblemError(504, "deadline_exceeded", detail)


def current_deadline() -> Deadline | None:
    """The deadline of the request this code runs for (``None`` outside one)."""
    return _deadline.get()


def set_deadline(deadline: Deadline | None) -> None:
    """Make ``deadline`` the current request's (its worker threads inherit it)."""
    _deadline.set(deadline)


def begin_write() -> None:
    """Before storing a request's work: raise the 504 problem when its deadline has passed."""
    deadline = _deadline.get()
    if deadline is not None:
        deadline.begin_write()


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Requests per second (and a burst) allowed to each key of a role, or to one key id."""

    subject: str  # a role label (``evaluator``...) or a key id
    per_second: float
    burst: float = 0.0  # 0: one second's worth

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``SUBJECT=RATE`` or ``SUBJECT=RATE:BURST`` (requests per second)."""
        subject, sep, value = text.partition("=")
        rate, _, burst = value.partition(":")
        try:
            limit = cls(subject.strip(), float(rate), float(burst) if burst else 0.0)
        except ValueError:
            limit = None
        if not sep or limit is None or not limit.subject or limit.per_second <= 0:
            raise ValueError(f"{text!r}: give SUBJECT=RATE[:BURST], e.g. evaluator=200:50")
        return limit


class RateLimits:
    """A token bucket per API key, refilled at the rate configured for its id or role."""

    def __init__(self, limits: Iterable[RateLimit]) -> None:
        self._by_subject = {limit.subject: limit for limit in limits}
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, when)
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._by_subject)

    def _limit(self, key: ApiKey) -> RateLimit | None:
        found = self._by_subject.get(key.id)
        if found is None:
            found = self._by_subject.get(Role(key.role).label)
        return found

    def retry_after(self, key: ApiKey) -> float:
        """Take a token for ``key``: 0 when it had one, else the seconds until it will."""
        limit = self._limit(key)
        if limit is None:
            return 0.0
        size = limit.burst or max(limit.per_second, 1.0)
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(key.id, (size, now))
            tokens = min(size, tokens + (now - then) * limit.per_second)
            if tokens >= 1.0:
                self._buckets[key.id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key.id] = (tokens, now)
            return (1.0 - tokens) / limit.per_second

    def check(self, key: ApiKey) -> None:
        """Raise the 429 problem when ``key`` is past its rate."""
        wait = self.retry_after(key)
        if wait:
            detail = f"key {key.id} is past its rate limit; retry after the time given"
            headers = {"Retry-After": str(max(1, math.ceil(wait)))}
            raise ProblemError(429, "rate_limited", detail, headers=headers)


class _Drained(Protocol):
    draining: bool


def install_drain(service: _Drained, seconds: float) -> None:
    """On ``SIGTERM``: ``service.draining`` now, the server's own handler ``seconds`` later.

    Only in the main thread, and only over a handler that is a Python
    callable (uvicorn's): elsewhere (tests' clients) this does nothing. A
    second ``SIGTERM`` stops at once.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return
    stop = previous
    loop = asyncio.get_running_loop()

    def on_term(signum: int, frame: FrameType | None) -> None:
        if service.draining:
            stop(signum, frame)
            return
        service.draining = True
        # In a context of its own: the handler runs in whatever context the main thread
        # is in, perhaps a request's (whose correlation id this event must not carry).
        Context().run(get_logger(component="service").info, "draining", seconds=seconds)
        loop.call_soon_threadsafe(loop.call_later, seconds, _stop, stop, signum)

    signal.signal(signal.SIGTERM, on_term)


def _stop(stop: Any, signum: int) -> None:
    stop(signum, None)
