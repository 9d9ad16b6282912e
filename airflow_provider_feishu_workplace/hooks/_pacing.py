"""Keep each endpoint under its documented request rate, across every hook in the process."""

from __future__ import annotations

import threading
import time


class RequestPacer:
    """Spaces calls to ``wait()`` at least ``1 / rate`` seconds apart (thread-safe)."""

    def __init__(self, requests_per_second: float) -> None:
        self._interval = 1.0 / requests_per_second
        self._next_slot = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until this caller's slot comes."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


_pacers: dict[tuple, RequestPacer] = {}
_pacers_lock = threading.Lock()


def shared_pacer(key: tuple, requests_per_second: float) -> RequestPacer:
    """Return the process-wide pacer for ``key`` (for example origin, app id and path).

    The platform limits each endpoint per app, so hooks of the same app share one pacer.
    """
    with _pacers_lock:
        full_key = (*key, requests_per_second)
        pacer = _pacers.get(full_key)
        if pacer is None:
            pacer = _pacers[full_key] = RequestPacer(requests_per_second)
        return pacer
