"""Event ids this process has handled, bounded: the platform's redeliveries are answered without work."""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["SeenIds"]


class SeenIds:
    """The last ``limit`` event ids handled, oldest forgotten first; safe to share between threads.

    Memory holds only this process's ids: another replica handles a redelivery again, which is harmless
    because what an event writes (ticket, tenant status) is newer-wins and so idempotent.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, event_id: str) -> bool:
        with self._lock:
            return event_id in self._ids

    def add(self, event_id: str) -> None:
        """Remember ``event_id``, forgetting the oldest id when over the limit."""
        with self._lock:
            self._ids[event_id] = None
            self._ids.move_to_end(event_id)
            while len(self._ids) > self._limit:
                self._ids.popitem(last=False)
