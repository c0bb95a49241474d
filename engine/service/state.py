"""What one running service holds: its stores, compiled packs, metrics; and the auth check.

:class:`ServiceState` opens the decision store (applying migrations), the
pack, approval, schedule and key stores on the same database, and imports
the shipped packs into an empty store. Route code reaches it with
:func:`state_of` and guards itself with ``Depends(require(Role.X))``: no key
is a 401 (with ``WWW-Authenticate: Bearer``), an unknown or revoked key a
401, a key whose role is too low a 403.

A key that authenticated is remembered for ``Settings.key_cache_seconds``
(2 s by default), so a busy client costs one key lookup per interval instead
of one per request; a revoked key therefore stops working within that time.
Unknown keys are never remembered.

Likewise a resolved pack reference (``amazon`` -> its active version) is
remembered for ``Settings.pack_cache_seconds`` (0.5 s by default): reading the
version row (the whole pack text) costs a request about as much as the
evaluation itself. This service forgets every remembered reference at once
when it stores or activates a version (:meth:`ServiceState.forget_packs`), so
only an activation made by *another* process on the same database (another
worker of ``serve --workers N``, another replica) can take up to that long
to be seen. These two intervals are the only bounds on agreement between
processes: idempotency keys, escalation history and decisions are read from
the store on every request, and compiled packs are kept by digest (a stored
version never changes). A reference is never used past the instant of
its pack's pending scheduled activation: resolving it then applies the
schedule (:mod:`sellerpolicy.engine.store.schedules`), so every reader sees
the new version from that instant on, by the service's clock
(``ServiceState(clock=...)``; tests move it). Every decision still names the
one version it was made with. Both memories are :class:`.caches.TimedCache`
(``cachetools.TTLCache`` behind a lock, as the event loop and worker threads
share them; 10,000 entries each at most, the least recently used dropped
first); the intervals count from when the answer was stored.

:class:`Settings` and the clock helpers live in :mod:`.settings` (imported
from here too).

:meth:`ServiceState.select` picks the version an evaluation uses: the one
named (``id@version``), else the version that was active at the request's
``as_of`` (see :mod:`sellerpolicy.engine.store.activations`), with the
reason, which the answer reports as ``pack_selection``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from sellerpolicy.engine.batch.backends import select_backend
from sellerpolicy.engine.evaluation.backends.protocol import Backend, BackendName
from sellerpolicy.engine.logs import get_logger
from sellerpolicy.engine.metrics.facts import as_of_label
from sellerpolicy.engine.store.activations import Activation, ActivationHistory, in_force_at
from sellerpolicy.engine.store.approvals import ApprovalStore
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import ApiKey, KeyStore, Role, hash_key
from sellerpolicy.engine.store.packs import (
    CompiledPacks,
    PackNotFoundError,
    PackState,
    PackStore,
    PackVersion,
)
from sellerpolicy.engine.store.schedules import Schedules
from sellerpolicy.rules.model import CompiledPack

from .caches import TimedCache
from .load import RateLimits
from .metrics import ServiceMetrics
from .problems import FieldError, ProblemError
from .settings import (
    DEFAULT_MAX_BODY,
    DEFAULT_OFFLOAD_BODY,
    Clock,
    Settings,
    instant_text,
    utc_now,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_OFFLOAD_BODY",
    "Clock",
    "Selection",
    "ServiceState",
    "Settings",
    "instant_text",
    "require",
    "state_of",
    "utc_now",
]

_bearer = HTTPBearer(
    auto_error=False,
    description="an API key: `sellerpolicy keys create --role ROLE` prints one",
)


@dataclass(frozen=True, slots=True)
class Selection:
    """The pack version an evaluation uses, and why."""

    stored: PackVersion
    pack: CompiledPack
    reason: str


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A remembered pack reference."""

    stored: PackVersion
    pack: CompiledPack
    activated: Activation | None  # the active version's activation (by pack id only)
    switch_at: datetime | None  # the pack's pending scheduled activation


class ServiceState:
    """The stores, the compiled-pack cache, the back end and the metrics of one app."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or utc_now
        self.store = DecisionStore(
            settings.store_url, schema=settings.schema, background_checkpoints=True
        )
        engine, where = self.store.engine, self.store.where
        self.packs = PackStore(engine, where)
        self.approvals = ApprovalStore(engine, where)
        self.schedules = Schedules(engine, where)
        self.activations = ActivationHistory(engine, where)
        self.keys = KeyStore(engine, where)
        self.compiled = CompiledPacks()
        self.metrics = ServiceMetrics()
        self.backend: Backend = select_backend(BackendName.AUTO)
        # The back ends agree exactly; for a few sellers plain Python beats the vectorized
        # one's fixed cost (about 40 µs of NumPy set-up against 2 µs for one seller).
        self.small_backend: Backend = select_backend(BackendName.PYTHON)
        # By key digest and by pack reference; the event loop and worker threads share them.
        self._trusted = TimedCache[str, ApiKey](settings.key_cache_seconds)
        self._resolved = TimedCache[str, _Resolved](settings.pack_cache_seconds)
        # What a past as_of needs (a pack's activation history, the version in force then):
        # remembered as long as resolved references, forgotten with them.
        self._histories = TimedCache[str, tuple[Activation, ...]](settings.pack_cache_seconds)
        self._versions = TimedCache[tuple[str, str], PackVersion](settings.pack_cache_seconds)
        self.limits = RateLimits(settings.rate_limits)
        self.draining = False  # SIGTERM came: /readyz answers 503 (see .load.install_drain)
        self.closed = False  # the app has stopped: nothing more is stored
        if settings.import_shipped:
            self.packs.import_shipped(at=self.clock())

    def close(self) -> None:
        """Refuse further writes, release the database connections."""
        self.closed = True
        self.store.close()

    def check_rate(self, key: ApiKey) -> None:
        """Raise the 429 problem when ``key`` is past its rate limit (counted as shed)."""
        try:
            self.limits.check(key)
        except ProblemError:
            self.metrics.shed.labels("rate").inc()
            raise

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
        return self._trusted.get(hash_key(token))

    async def authenticate(self, token: str) -> ApiKey | None:
        """The active key for ``token`` (remembered briefly), ``None`` when unknown or revoked."""
        remembered = self.trusted_key(token)
        if remembered is not None:
            return remembered
        digest = hash_key(token)
        key = await run_in_threadpool(self.keys.authenticate, token)
        if key is None:
            self._trusted.discard(digest)
        else:
            self._trusted.put(digest, key)
        return key

    def resolve(self, ref: str) -> tuple[PackVersion, CompiledPack]:
        """The stored version and compiled pack for ``id`` (active now) or ``id@version``.

        A draft cannot make decisions (activate it first); 404 names what is missing.
        A successful answer is remembered for ``Settings.pack_cache_seconds``
        (never past the pack's pending scheduled activation).
        """
        resolved = self._resolve(ref)
        return resolved.stored, resolved.pack

    def select(self, ref: str, as_of: Sequence[tuple[str, datetime]]) -> Selection:
        """The version an evaluation of ``ref`` for these ``(field, as_of)`` uses, and why.

        ``id@version``: that version. ``id``: the version active at the
        ``as_of`` instants (the active one unless one is earlier than its
        activation); a 422 naming the field when no version was active at an
        ``as_of``, or when the instants fall under different versions.
        """
        resolved = self._resolve(ref)
        if "@" in ref:
            return Selection(resolved.stored, resolved.pack, "version named in the request")
        activated = resolved.activated
        earliest = min((at for _, at in as_of), default=None)
        if activated is None or earliest is None or earliest >= activated.at:
            return Selection(resolved.stored, resolved.pack, self._active_reason(activated, as_of))
        return self._in_force(ref, as_of)

    def _active_reason(
        self, activated: Activation | None, as_of: Sequence[tuple[str, datetime]]
    ) -> str:
        if activated is None:
            return "the active version (no recorded activation)"
        when = instant_text(activated.at)
        if any(at > self.clock() for _, at in as_of):
            return f"active now (activated {when}); as_of is later than now"
        return f"active at as_of (activated {when})"

    def _in_force(self, pack_id: str, as_of: Sequence[tuple[str, datetime]]) -> Selection:
        """The version in force at past ``as_of`` instants, from the activation history."""
        history = self._history(pack_id)
        found: dict[str, tuple[str, datetime, Activation]] = {}
        for field, at in sorted(as_of, key=lambda item: item[1]):
            activation = in_force_at(history, at)
            if activation is None:
                raise _nothing_in_force(pack_id, field, at, history)
            found.setdefault(activation.version, (field, at, activation))
        if len(found) > 1:
            parts = [
                f"{field} {as_of_label(at)} under {version} (activated {instant_text(a.at)})"
                for version, (field, at, a) in found.items()
            ]
            detail = (
                f"the as_of instants fall under different versions of pack {pack_id}: "
                + "; ".join(parts)
                + ". Send them in separate requests, or name a version (id@version)"
            )
            errors = [FieldError(field, detail) for field, _, _ in found.values()]
            raise ProblemError(422, "as_of_spans_versions", detail, errors)
        ((version, (_, at, activation)),) = found.items()
        generation = self._versions.generation()
        stored = self._versions.get((pack_id, version))
        if stored is None:
            try:
                stored = self.packs.get(pack_id, version)
            except PackNotFoundError as exc:  # pragma: no cover - versions are never deleted
                raise ProblemError(404, "pack_not_found", str(exc)) from exc
            self._versions.put((pack_id, version), stored, generation)
        when = instant_text(activation.at)
        if at < activation.at:
            reason = f"shipped pack imported {when}: in force before any later activation"
        else:
            reason = f"active at as_of (activated {when})"
        return Selection(stored, self.compiled.get(stored), reason)

    def _history(self, pack_id: str) -> tuple[Activation, ...]:
        """The pack's activations, oldest first (read from the store at most once a TTL)."""
        generation = self._histories.generation()
        history = self._histories.get(pack_id)
        if history is None:
            history = tuple(self.activations.history(pack_id))
            self._histories.put(pack_id, history, generation)
        return history

    def _resolve(self, ref: str) -> _Resolved:
        generation = self._resolved.generation()
        remembered = self._resolved.get(ref)
        if remembered is not None and (
            remembered.switch_at is None or self.clock() < remembered.switch_at
        ):
            return remembered
        resolved = self._lookup(ref)
        self._resolved.put(ref, resolved, generation)  # unless a version was stored meanwhile
        return resolved

    def forget_packs(self) -> None:
        """Forget every resolved reference (call after storing or activating a version)."""
        self._resolved.forget()
        self._histories.forget()
        self._versions.forget()

    def apply_due_schedules(self, pack_id: str | None = None) -> list[Activation]:
        """Apply the schedules (of one pack) due by the clock: the activations made."""
        applied = self.schedules.apply_due(self.clock(), pack_id)
        if applied:
            self.forget_packs()
            log = get_logger(component="service")
            for done in applied:
                pack = f"{done.pack_id}@{done.version}"
                log.info("scheduled_activation", pack=pack, at=instant_text(done.at))
        return applied

    def _lookup(self, ref: str) -> _Resolved:
        pack_id, _, version = ref.partition("@")
        activated = switch_at = None
        try:
            if version:
                stored = self.packs.get(pack_id, version)
            else:
                pending = self.schedules.pending(pack_id)
                due = pending[0].activate_at if pending else None
                if due is not None and due <= self.clock():
                    self.apply_due_schedules(pack_id)
                    pending = self.schedules.pending(pack_id)
                switch_at = pending[0].activate_at if pending else None
                stored = self.packs.active(pack_id)
                activated = self.activations.latest(pack_id, stored.version)
        except PackNotFoundError as exc:
            raise ProblemError(404, "pack_not_found", str(exc)) from exc
        if stored.state is PackState.DRAFT:
            detail = (
                f"{stored.ref} is a draft: activate it first "
                "(or check it with POST /v1/packs:validate)"
            )
            raise ProblemError(409, "pack_is_draft", detail)
        return _Resolved(stored, self.compiled.get(stored), activated, switch_at)


def _nothing_in_force(
    pack_id: str, field: str, at: datetime, history: Sequence[Activation]
) -> ProblemError:
    """The 422 of an ``as_of`` before the first activation of a pack."""
    if history:
        first = history[0]
        since = f"its first activation was {first.version} at {instant_text(first.at)}"
    else:
        since = "it has no recorded activation"
    detail = (
        f"no version of pack {pack_id} was active at as_of {as_of_label(at)} ({since}): "
        f"give a later as_of, or name a version ({pack_id}@VERSION)"
    )
    return ProblemError(422, "no_version_in_force", detail, [FieldError(field, detail)])


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
        service = state_of(request)
        if service.limits:
            service.check_rate(key)
        return key

    return caller
