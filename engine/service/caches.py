"""What a service remembers for a few seconds: authenticated keys, resolved pack references.

:class:`TimedCache` is :class:`cachetools.TTLCache` (entries expire ``ttl``
seconds after they were stored, by :func:`time.monotonic`; past ``maxsize``
entries the least recently used goes first) behind a lock: the event loop and
the worker threads that requests are handed to read and fill it at once, and
a ``TTLCache`` reorders itself even on reads. A ``ttl`` of 0 (or less)
remembers nothing.

:meth:`TimedCache.forget` empties it and starts a new generation: an answer
looked up before it (:meth:`TimedCache.generation`) is then not stored
(:meth:`TimedCache.put`), so a lookup that raced a change never brings back
what the change made stale.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

__all__ = ["DEFAULT_MAXSIZE", "TimedCache"]

#: Entries a cache holds at most (the least recently used goes first).
DEFAULT_MAXSIZE = 10_000

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TimedCache(Generic[K, V]):
    """A thread-safe :class:`cachetools.TTLCache` with generations."""

    __slots__ = ("_cache", "_generation", "_lock", "ttl")

    def __init__(
        self,
        ttl: float,
        maxsize: int = DEFAULT_MAXSIZE,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._cache: TTLCache[K, V, float] = TTLCache(maxsize, max(ttl, 0.0), timer=timer)
        self._lock = threading.Lock()
        self._generation = 0

    def get(self, key: K) -> V | None:
        """The value stored for ``key`` less than ``ttl`` seconds ago, else ``None``."""
        with self._lock:
            return self._cache.get(key)

    def generation(self) -> int:
        """The current generation: pass it to :meth:`put` with what is looked up now."""
        with self._lock:
            return self._generation

    def put(self, key: K, value: V, generation: int | None = None) -> None:
        """Remember ``value`` for ``key`` (unless :meth:`forget` came after ``generation``)."""
        if self.ttl <= 0:
            return
        with self._lock:
            if generation is None or generation == self._generation:
                self._cache[key] = value

    def discard(self, key: K) -> None:
        """Forget ``key`` (nothing happens when it is not remembered)."""
        with self._lock:
            self._cache.pop(key, None)

    def forget(self) -> None:
        """Forget everything, and what lookups begun before now would store."""
        with self._lock:
            self._cache.clear()
            self._generation += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)
