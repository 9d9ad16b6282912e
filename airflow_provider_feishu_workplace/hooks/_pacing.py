"""Keep each rate-limit group under its request rate, across every hook in the process, and, with a
shared rate limit (``redis://`` or ``file://``, see :mod:`._shared_limit`), across every process of the app."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

# How the Open Platform names the fixed parts of its paths: the open-apis prefix, versions (v1, v3) and
# lower-case words joined by underscores (users, find_by_department). Ids have digits, capitals or dashes.
_PATH_WORD = re.compile(r"open-apis|v\d+|[a-z]+(?:_[a-z]+)*")


def rate_limit_group(method: str, path: str) -> str:
    """Name the rate-limit group of a request when its caller names none: the API it calls.

    The platform limits each API (a method on a path template) per app, whatever ids the path carries,
    so every segment that is not a path word (``v3``, ``users``, ``find_by_department``) counts as an id
    and becomes ``:id``: ``GET /open-apis/contact/v3/users/ou_1`` and ``.../users/ou_2`` are both
    ``GET /open-apis/contact/v3/users/:id``. An id of lower-case letters only is taken for a word, which
    gives that id a group (and a pace) of its own; name the group to share it.
    """
    segments = (segment if not segment or _PATH_WORD.fullmatch(segment) else ":id" for segment in path.split("/"))
    return f"{method.upper()} {'/'.join(segments)}"


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
    """Return the pacer for ``key`` (origin, app id and rate-limit group): an object with ``wait()``.

    The platform limits each API per app, so hooks of the same app share one pacer: in the process,
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
