"""Handling a large request off the server's event loop.

The server's loop answers every connection: whatever runs on it (parsing a
large JSON body, validating it, encoding a large answer) delays every other
request, ``/healthz`` included. :func:`in_worker_thread` runs an ASGI app on
one request in a worker thread, on an event loop of its own; only receiving
the body and sending the answer stay on the server's loop.

A thread is not enough by itself: it shares the interpreter lock with the
loop, and some steps hold that lock for their whole duration, whatever the
thread. The worst are the cyclic garbage collector's full collections: while
a 10,000-seller evaluation runs, each one walks its few hundred thousand
live objects (60-70 ms, and it finds no garbage: they are all in use). So
while a request runs in a worker thread the automatic collector is paused
(:func:`collector_paused`, process-wide, counted across threads); it resumes
when the last such request ends, and reference counting frees the request's
objects as usual meanwhile. Long work yields to the server's loop between
steps (:func:`let_the_server_run`), and freeing many objects is cut up
(:func:`.evaluate.release`).
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["collector_paused", "in_worker_thread", "let_the_server_run", "note_server_loop"]

_T = TypeVar("_T")

#: The server's event loop, in a request's context (:func:`note_server_loop`).
_server_loop: ContextVar[asyncio.AbstractEventLoop | None] = ContextVar(
    "sellerpolicy_server_loop", default=None
)
#: How long :func:`let_the_server_run` waits at most for the server's loop.
_TURN_TIMEOUT = 0.25


async def in_worker_thread(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app`` on the request in a worker thread, on an event loop of its own.

    ``receive`` and ``send`` still run on the calling (the server's) loop: the
    worker hands each call over and waits for it, so the server's flow
    control and disconnect detection work as usual. Exceptions propagate to
    the caller; the cyclic collector is paused meanwhile.
    """
    server_loop = asyncio.get_running_loop()

    async def on_server_loop(step: Awaitable[_T]) -> _T:
        future = asyncio.run_coroutine_threadsafe(_awaited(step), server_loop)
        return await asyncio.wrap_future(future)

    async def worker_receive() -> Message:
        return await on_server_loop(receive())

    async def worker_send(message: Message) -> None:
        await on_server_loop(send(message))

    async def handle() -> None:
        await app(scope, worker_receive, worker_send)

    def run() -> None:
        _server_loop.set(server_loop)  # this thread's context: copied into its own threads
        with collector_paused():
            asyncio.run(handle())

    await run_in_threadpool(run)


async def _awaited(step: Awaitable[_T]) -> _T:
    return await step


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def note_server_loop() -> None:
    """Remember the running loop as the server's in the current request's context.

    The middleware calls this on the server's loop as a request comes in:
    threads the request hands work to (``run_in_threadpool`` copies the
    context) can then let that loop run (:func:`let_the_server_run`).
    """
    _server_loop.set(asyncio.get_running_loop())


def let_the_server_run() -> bool:
    """From a request's worker thread: wait until the server's loop has had a turn.

    Long work calls this between steps of a few milliseconds. Without it the
    server's loop may wait for the interpreter lock far longer than CPython's
    switch interval: a thread that releases and retakes the lock thousands of
    times a second (each decision's ``uuid4`` reads ``os.urandom``) takes it
    back each time before the waiting loop thread has woken up, and a
    waiter's timeout restarts at every release, so it never forces a switch.
    Here this thread blocks (lock released) until a callback it scheduled on
    the server's loop has run, which is after everything ready there before
    it (at most a quarter of a second). Elsewhere (outside a request, or on
    the server's loop itself) this does nothing. Whether it waited.
    """
    loop = _server_loop.get()
    if loop is None or loop is _running_loop():
        return False
    turn = threading.Event()
    try:
        loop.call_soon_threadsafe(turn.set)
    except RuntimeError:  # the loop is closed: the server is gone
        return False
    turn.wait(_TURN_TIMEOUT)
    return True


class _CollectorPause:
    """Pauses the automatic cyclic collector while at least one holder needs it paused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._resume = False  # whether the collector was enabled when the first holder came

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._resume:
                    gc.enable()


#: ``with collector_paused(): ...``: no automatic collection runs inside (in any thread).
collector_paused = _CollectorPause()
