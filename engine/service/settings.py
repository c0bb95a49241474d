"""How a service runs (:class:`Settings`), and how it tells and writes the time.

``Settings.key_cache_seconds`` and ``Settings.pack_cache_seconds`` are the
lifetimes of what :class:`~.state.ServiceState` remembers (see
:mod:`.state` and :mod:`.caches`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sellerpolicy.engine.store import DEFAULT_STORE_URL

from .load import RateLimit

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_OFFLOAD_BODY",
    "Clock",
    "Settings",
    "instant_text",
    "utc_now",
]

#: What tells the service the time: an aware UTC ``datetime``.
Clock = Callable[[], datetime]

#: The largest request body accepted by default (10,000 sellers with their facts fit).
DEFAULT_MAX_BODY = 32 * 1024 * 1024
#: Requests with a larger body are handled off the event loop (about 400 sellers' facts).
DEFAULT_OFFLOAD_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """How the service runs."""

    store_url: str = DEFAULT_STORE_URL
    schema: str | None = None  # PostgreSQL schema of the tables
    max_body_bytes: int = DEFAULT_MAX_BODY
    offload_body_bytes: int = DEFAULT_OFFLOAD_BODY  # larger bodies: handled in a worker thread
    import_shipped: bool = True  # import and activate the shipped packs into an empty store
    key_cache_seconds: float = 2.0  # how long an authenticated key is trusted without a lookup
    pack_cache_seconds: float = 0.5  # how long a resolved pack reference is used without a lookup
    require_approval: bool = True  # activating a version needs another admin's approval
    schedule_check_seconds: float = 1.0  # how often due scheduled activations are applied
    max_in_flight: int = 16  # requests one worker handles at once; more: 503 (0: no bound)
    request_timeout_seconds: float = 30.0  # evaluations and reads past this: 504, nothing stored
    drain_seconds: float = 1.0  # after SIGTERM: /readyz says 503, requests still served
    rate_limits: tuple[RateLimit, ...] = ()  # token buckets per key, by role label or key id


def utc_now() -> datetime:
    """The service's default clock: now, in UTC."""
    return datetime.now(UTC)


def instant_text(value: datetime) -> str:
    """An instant as ISO 8601 UTC with ``Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
