"""Waiting in tests for something another thread or process does: polled, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def first_true(condition: Callable[[], T], timeout: float, every: float = 0.2) -> T | None:
    """Return ``condition()``'s first true result, polled every ``every`` s; ``None`` if none within ``timeout`` s.

    Callers fail their own way, naming what did not happen: ``first_true(...) or pytest.fail("...")``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(every)
    return None
