"""Keep each endpoint under its documented request rate, across every hook in the process, and, with a
shared rate limit (``redis://`` or ``file://``, see :mod:`._shared_limit`), across every process of the app."""

from __future__ import annotations

import threading
import time
from typing import Any


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


_pacers: dict[tuple, Any] = {}
_pacers_lock = threading.Lock()


def shared_pacer(
    key: tuple, requests_per_second: float, shared_url: str | None = None, password: str | None = None
) -> Any:
    """Return the pacer for ``key`` (for example origin, app id and path): an object with ``wait()``.

    The platform limits each endpoint per app, so hooks of the same app share one pacer: in the process,
    and with ``shared_url`` in every process that names the same backend (``password``: Redis's).
    """
    with _pacers_lock:
        full_key = (*key, requests_per_second)
        local = _pacers.get(full_key)
        if local is None:
            local = _pacers[full_key] = RequestPacer(requests_per_second)
        if not shared_url:
            return local
        shared_key = (*full_key, shared_url, password)
        pacer = _pacers.get(shared_key)
        if pacer is None:
            from airflow_provider_feishu_workplace.hooks._shared_limit import make_shared_pacer

            pacer = _pacers[shared_key] = make_shared_pacer(shared_url, full_key, requests_per_second, local, password)
        return pacer
