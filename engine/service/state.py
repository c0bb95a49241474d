"""What one running service holds: its stores, compiled packs, metrics; and the auth check.

:class:`ServiceState` opens the decision store (applying migrations), the
pack and key stores on the same database, and imports the shipped packs
into an empty store. Route code reaches it with :func:`state_of` and guards
itself with ``Depends(require(Role.X))``: no key is a 401 (with
``WWW-Authenticate: Bearer``), an unknown or revoked key a 401, a key whose
role is too low a 403.

A key that authenticated is remembered for ``Settings.key_cache_seconds``
(2 s by default), so a busy client costs one key lookup per interval instead
of one per request; a revoked key therefore stops working within that time.
Unknown keys are never remembered.

Likewise a resolved pack reference (``amazon`` -> its active version) is
remembered for ``Settings.pack_cache_seconds`` (1 s by default): reading the
version row (the whole pack text) costs a request about as much as the
evaluation itself. This service forgets every remembered reference at once
when it stores or activates a version (:meth:`ServiceState.forget_packs`), so
only an activation made by *another* process on the same database can take
up to that long to be seen. Every decision still names the one version it
was made with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from sellerpolicy.engine.batch.backends import select_backend
from sellerpolicy.engine.evaluation.backends.protocol import Backend, BackendName
from sellerpolicy.engine.store import DEFAULT_STORE_URL
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import ApiKey, KeyStore, Role, hash_key
from sellerpolicy.engine.store.packs import (
    CompiledPacks,
    PackNotFoundError,
    PackState,
    PackStore,
    PackVersion,
)
from sellerpolicy.rules.model import CompiledPack

from .metrics import ServiceMetrics
from .problems import ProblemError

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_OFFLOAD_BODY",
    "ServiceState",
    "Settings",
    "require",
    "state_of",
]

#: The largest request body accepted by default (10,000 sellers with their facts fit).
DEFAULT_MAX_BODY = 32 * 1024 * 1024
#: Requests with a larger body are handled off the event loop (about 400 sellers' facts).
DEFAULT_OFFLOAD_BODY = 64 * 1024

_MAX_TRUSTED = 10_000  # remembered keys; past this the memory starts over

_bearer = HTTPBearer(
    auto_error=False,
    description="an API key: `sellerpolicy keys create --role ROLE` prints one",
)


@dataclass(frozen=True, slots=True)
class Settings:
    """How the service runs."""

    store_url: str = DEFAULT_STORE_URL
    schema: str | None = None  # PostgreSQL schema of the tables
    max_body_bytes: int = DEFAULT_MAX_BODY
    offload_body_bytes: int = DEFAULT_OFFLOAD_BODY  # larger bodies: handled in a worker thread
    import_shipped: bool = True  # import and activate the shipped packs into an empty store
    key_cache_seconds: float = 2.0  # how long an authenticated key is trusted without a lookup
    pack_cache_seconds: float = 1.0  # how long a resolved pack reference is used without a lookup


class ServiceState:
    """The stores, the compiled-pack cache, the back end and the metrics of one app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = DecisionStore(
            settings.store_url, schema=settings.schema, background_checkpoints=True
        )
        self.packs = PackStore(self.store.engine, self.store.where)
        self.keys = KeyStore(self.store.engine, self.store.where)
        self.compiled = CompiledPacks()
        self.metrics = ServiceMetrics()
        self.backend: Backend = select_backend(BackendName.AUTO)
        # The back ends agree exactly; for a few sellers plain Python beats the vectorized
        # one's fixed cost (about 40 µs of NumPy set-up against 2 µs for one seller).
        self.small_backend: Backend = select_backend(BackendName.PYTHON)
        self._trusted: dict[str, tuple[ApiKey, float]] = {}
        self._resolved: dict[str, tuple[PackVersion, CompiledPack, float]] = {}
        self._resolved_lock = threading.Lock()
        self._generation = 0  # bumped by forget_packs: lookups begun before it are not kept
        if settings.import_shipped:
            self.packs.import_shipped()

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()

    def may_block_loop(self) -> bool:
        """Whether a small evaluation may run on the event loop itself.

        Only on SQLite, whose log is checkpointed in the background (a commit
        then only appends to it) and whose write lock the loop can try
        without waiting (``DecisionStore.append(wait=False)``); PostgreSQL
        round trips would stall the loop.
        """
        return self.store.dialect == "sqlite"

    def trusted_key(self, token: str) -> ApiKey | None:
        """The key for ``token`` if it authenticated less than ``key_cache_seconds`` ago.

        ``None`` says nothing about the key: it may be unknown, revoked, or just
        not remembered; :meth:`authenticate` looks it up.
        """
        trusted = self._trusted.get(hash_key(token))
        if trusted is not None and trusted[1] > time.monotonic():
            return trusted[0]
        return None

    async def authenticate(self, token: str) -> ApiKey | None:
        """The active key for ``token`` (remembered briefly), ``None`` when unknown or revoked."""
        remembered = self.trusted_key(token)
        if remembered is not None:
            return remembered
        digest = hash_key(token)
        now = time.monotonic()
        key = await run_in_threadpool(self.keys.authenticate, token)
        if key is None:
            self._trusted.pop(digest, None)
        else:
            if len(self._trusted) > _MAX_TRUSTED:
                self._trusted.clear()
            self._trusted[digest] = (key, now + self.settings.key_cache_seconds)
        return key

    def resolve(self, ref: str) -> tuple[PackVersion, CompiledPack]:
        """The stored version and compiled pack for ``id`` (active) or ``id@version``.

        A draft cannot make decisions (activate it first); 404 names what is missing.
        A successful answer is remembered for ``Settings.pack_cache_seconds``.
        """
        now = time.monotonic()
        with self._resolved_lock:
            remembered = self._resolved.get(ref)
            generation = self._generation
        if remembered is not None and remembered[2] > now:
            return remembered[0], remembered[1]
        stored, pack = self._lookup(ref)
        with self._resolved_lock:
            if generation == self._generation:  # no version stored or activated meanwhile
                if len(self._resolved) > _MAX_TRUSTED:
                    self._resolved.clear()
                self._resolved[ref] = (stored, pack, now + self.settings.pack_cache_seconds)
        return stored, pack

    def forget_packs(self) -> None:
        """Forget every resolved reference (call after storing or activating a version)."""
        with self._resolved_lock:
            self._resolved.clear()
            self._generation += 1

    def _lookup(self, ref: str) -> tuple[PackVersion, CompiledPack]:
        pack_id, _, version = ref.partition("@")
        try:
            stored = self.packs.get(pack_id, version) if version else self.packs.active(pack_id)
        except PackNotFoundError as exc:
            raise ProblemError(404, "pack_not_found", str(exc)) from exc
        if stored.state is PackState.DRAFT:
            detail = (
                f"{stored.ref} is a draft: activate it first "
                "(or check it with POST /v1/packs:validate)"
            )
            raise ProblemError(409, "pack_is_draft", detail)
        return stored, self.compiled.get(stored)


def state_of(request: Request) -> ServiceState:
    """The service state of the app that serves ``request``."""
    state = request.app.state.service
    assert isinstance(state, ServiceState)
    return state


def require(role: Role) -> Callable[..., Coroutine[Any, Any, ApiKey]]:
    """A dependency: the caller's API key, which must have at least ``role``."""

    async def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None:
            detail = "this endpoint needs an API key: send 'Authorization: Bearer <key>'"
            raise ProblemError(401, "unauthenticated", detail, headers=challenge)
        key = await state_of(request).authenticate(credentials.credentials)
        if key is None:
            detail = "the API key is not valid (unknown or revoked)"
            raise ProblemError(401, "unauthenticated", detail, headers=challenge)
        if key.role < role:
            detail = f"this needs the {role.label} role; key {key.id} is {key.role.label}"
            raise ProblemError(403, "forbidden", detail)
        return key

    return caller
