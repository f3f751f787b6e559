"""A small time-bounded cache, for answers that may be a few seconds stale (who an API key
belongs to), so that a hot path does not ask the database every time.

Each entry lives a random time between `(1 - jitter) * ttl_s` and `ttl_s`: keys first seen
together (a fleet's robots, all reporting within the first second a server runs) do not all
run out in the same second either, sending all their next requests to the database at once.

Where the valid keys are few enough to hold all of them (a fleet's tokens), `refresh` mirrors
them all in one go, from a background thread: a key in use is then never looked up on its
request's path, however large the fleet, and one taken away (a replaced token) is dropped at
the next refresh."""

import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 10_000,
        *,
        jitter: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= jitter < 1:
            raise ValueError("jitter is a fraction of the lifetime, in [0, 1)")
        self.ttl_s, self.max_entries, self.jitter = ttl_s, max_entries, jitter
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}  # read without a lock on the hot path
        self._lock = threading.Lock()
        self._forgotten: set[K] = set()  # since the refresh under way began

    def get(self, key: K) -> V | None:
        hit = self._entries.get(key)
        return hit[1] if hit is not None and hit[0] > self._clock() else None

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._forgotten.add(key)

    def get_or_load(self, key: K, load: Callable[[], V | None]) -> V | None:
        """The cached value, or `load()`'s when absent or stale; `None` is never cached."""
        value = self.get(key)
        if value is not None:
            return value
        value = load()
        if value is not None and self.ttl_s > 0:
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key] = (self._clock() + self._lifetime(), value)
        return value

    def refresh(self, read_all: Callable[[], Mapping[K, V]]) -> int:
        """Hold exactly the keys `read_all()` vouches for now, each for a whole `ttl_s` (however
        many: they were all asked for, and the next refresh, well within that, renews them
        together); a key forgotten while it ran stays forgotten. How many are held."""
        if self.ttl_s <= 0:
            return 0
        with self._lock:
            self._forgotten.clear()
        everything = read_all()
        now = self._clock()
        with self._lock:
            self._entries = {
                key: (now + self.ttl_s, value)
                for key, value in everything.items()
                if key not in self._forgotten
            }
            return len(self._entries)

    def _lifetime(self) -> float:
        return self.ttl_s * (1 - self.jitter * random.random())


class Refreshed(Generic[V]):
    """One value read again at most every `refresh_s`, or on the first read after `forget()`
    (a newer one is known to be there); one reader loads it while the others wait for it."""

    def __init__(
        self,
        load: Callable[[], V],
        refresh_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load, self._refresh_s, self._clock = load, refresh_s, clock
        self._value: V | None = None
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def _stale(self, now: float) -> bool:
        return self._loaded_at is None or now - self._loaded_at >= self._refresh_s

    def get(self) -> V:
        now = self._clock()
        if self._stale(now):
            with self._lock:
                if self._stale(now):
                    self._value = self._load()
                    self._loaded_at = now
        assert self._value is not None
        return self._value

    def forget(self) -> None:
        self._loaded_at = None
