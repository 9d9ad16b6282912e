"""A token-bucket rate limiter, one bucket per (app, endpoint path)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable


class RateLimiter:
    """Allow ``rate`` requests per second per key, with bursts of up to ``rate``.

    Each key has a bucket holding at most ``rate`` tokens that refills at ``rate`` tokens per
    second; a request takes one token or is refused. ``rate=None`` allows everything.
    """

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def allow(self, key: Hashable) -> bool:
        """Take a token from ``key``'s bucket; ``False`` when it is empty."""
        rate = self.rate
        if rate is None:
            return True
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (rate, now))
            tokens = min(rate, tokens + (now - last) * rate)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
            return allowed

    def reset(self) -> None:
        """Refill every bucket."""
        with self._lock:
            self._buckets.clear()
