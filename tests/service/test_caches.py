"""What a service remembers briefly (:class:`TimedCache`, cachetools' ``TTLCache`` behind a
lock): entries expire ``ttl`` after they were stored, a ``ttl`` of 0 remembers nothing,
the least recently used goes first past ``maxsize``, a lookup begun before ``forget()``
is not stored, and threads sharing one cache neither fail nor lose its bound."""

from __future__ import annotations

import sys
import threading

from sellerpolicy.engine.service.caches import TimedCache


class Ticker:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_ttl_seconds_from_when_it_was_stored() -> None:
    clock = Ticker()
    cache = TimedCache[str, int](2.0, timer=clock)
    cache.put("a", 1)
    clock.now += 1.999
    assert cache.get("a") == 1
    clock.now += 0.001
    assert cache.get("a") is None
    assert len(cache) == 0


def test_a_ttl_of_zero_or_less_remembers_nothing() -> None:
    for ttl in (0.0, -1.0):
        cache = TimedCache[str, int](ttl)
        cache.put("a", 1)
        assert cache.get("a") is None
        assert len(cache) == 0


def test_past_maxsize_the_least_recently_used_goes_first() -> None:
    cache = TimedCache[str, int](60.0, maxsize=3, timer=Ticker())
    for index, key in enumerate("abc"):
        cache.put(key, index)
    assert cache.get("a") == 0  # "b" is now the least recently used
    cache.put("d", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), cache.get("d")) == (0, None, 2, 3)
    assert len(cache) == 3


def test_a_lookup_begun_before_forget_is_not_stored() -> None:
    cache = TimedCache[str, str](60.0, timer=Ticker())
    cache.put("amazon", "1.0.0")
    begun = cache.generation()
    cache.forget()  # a version was activated while the lookup ran
    assert cache.get("amazon") is None
    cache.put("amazon", "1.0.0 (stale)", begun)
    assert cache.get("amazon") is None
    cache.put("amazon", "1.1.0", cache.generation())
    assert cache.get("amazon") == "1.1.0"
    cache.discard("amazon")
    cache.discard("never stored")
    assert cache.get("amazon") is None


def test_threads_sharing_a_cache_neither_fail_nor_overfill_it() -> None:
    """Eight threads store, read and drop 5,000 keys each in a cache of 64: no exception
    (an unguarded TTLCache's linked lists break under this), and the bound holds."""
    cache = TimedCache[int, int](60.0, maxsize=64)
    failures: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for index in range(5_000):
                key = (offset * 7 + index) % 200
                cache.put(key, index)
                cache.get((key + 3) % 200)
                if index % 97 == 0:
                    cache.discard(key)
                if index % 1_001 == 0:
                    cache.forget()
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often, inside the cache's operations too
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
    assert len(cache) <= 64
