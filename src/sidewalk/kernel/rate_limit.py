"""How often one caller (a merchant's API key, an operator's token) may call: a token bucket
each, `rate` calls a second on average and up to `burst` at once. A caller over their rate
is answered `429` with `Retry-After`, the seconds until their next call would pass.

The buckets live in the process: with several replicas behind a load balancer a caller may
make up to `replicas * rate` calls a second in all. That bounds abuse without a shared store
on every request; set the rate per replica accordingly."""

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from sidewalk.kernel.errors import SidewalkError


class RateLimited(SidewalkError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, retry_after_s: float) -> None:
        seconds = max(1, math.ceil(retry_after_s))
        super().__init__(
            f"Too many requests; try again in {seconds} s", extra={"retry_after_s": seconds}
        )
        self.headers = {"Retry-After": str(seconds)}


class RateLimiter:
    """Token buckets by caller. A rate of 0 lets every call through."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = 100_000,
    ) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._clock = clock
        self._max = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when
        self._lock = threading.Lock()

    def take(self, caller: str) -> None:
        """One call by `caller`, or `RateLimited` when they have none left."""
        if self.rate <= 0:
            return
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(caller, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens < 1:
                self._buckets[caller] = (tokens, now)
                raise RateLimited((1 - tokens) / self.rate)
            self._buckets[caller] = (tokens - 1, now)
            if len(self._buckets) > self._max:  # forget the longest idle (a full bucket)
                self._buckets.popitem(last=False)
