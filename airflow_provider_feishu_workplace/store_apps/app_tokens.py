"""Store apps' app access tokens, one per app in each process, shared by every tenant's hook.

A store app's tenant tokens all come from its one app access token; fetching it costs a ticket-checked
request, so every hook of the app in the process reuses it until 3 minutes before it expires (what the
official SDKs do). A token the platform rejects is dropped for everyone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["REFRESH_EARLY_SECONDS", "AppTokenCache", "app_tokens"]

REFRESH_EARLY_SECONDS = 180


class AppTokenCache:
    """App access tokens by (base URL, app id), each with the time to stop handing it out."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, base_url: str, app_id: str) -> str | None:
        """The app's token while it has more than :data:`REFRESH_EARLY_SECONDS` left, else ``None``."""
        with self._lock:
            cached = self._tokens.get((base_url, app_id))
        return cached[0] if cached and self._clock() < cached[1] else None

    def put(self, base_url: str, app_id: str, token: str, expires_in: float) -> None:
        """Keep ``token`` for the app, handed out until ``REFRESH_EARLY_SECONDS`` before it expires."""
        refresh_at = self._clock() + max(0.0, expires_in - min(REFRESH_EARLY_SECONDS, expires_in / 2))
        with self._lock:
            self._tokens[(base_url, app_id)] = (token, refresh_at)

    def drop(self, base_url: str, app_id: str, token: str) -> None:
        """Forget the app's token if it is still ``token`` (another hook may have replaced it already)."""
        with self._lock:
            if self._tokens.get((base_url, app_id), ("",))[0] == token:
                del self._tokens[(base_url, app_id)]


#: This process's app tokens.
app_tokens = AppTokenCache()
